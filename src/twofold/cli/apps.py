"""`twofold app …`: an operator manages an account's applications in its primary's name,
through the same service (and the same audit) as the API and the console."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated

import typer

from twofold.services.applications import Applications, primary_of
from twofold.services.context import Context
from twofold.services.views import ApplicationView, iso

Account = Annotated[str, typer.Option("--account", help="The owning account's name.")]
ContextFactory = Callable[[], AbstractContextManager[Context]]


def _show(view: ApplicationView) -> None:
    typer.echo(f"client_id: {view.client_id}")
    typer.echo(f"  name: {view.name}\n  type: {view.type}")
    typer.echo(f"  redirect_uris: {' '.join(view.redirect_uris) or '-'}")
    typer.echo(f"  post_logout_redirect_uris: {' '.join(view.post_logout_redirect_uris) or '-'}")
    typer.echo(f"  require_mfa: {'yes' if view.require_mfa else 'no'}")
    typer.echo(f"  disabled: {'yes' if view.disabled else 'no'}")
    typer.echo(f"  created: {iso(view.created_at)}  updated: {iso(view.updated_at)}")


def build(context: ContextFactory) -> typer.Typer:
    """The `app` command group over the CLI's context factory."""
    group = typer.Typer(help="Applications (single sign-on clients).", no_args_is_help=True)

    @group.command("create")
    def create(
        name: str,
        account: Account,
        redirect_uri: Annotated[list[str], typer.Option("--redirect-uri")],
        post_logout_redirect_uri: Annotated[
            list[str] | None, typer.Option("--post-logout-redirect-uri")
        ] = None,
        public: Annotated[bool, typer.Option("--public", help="No secret; PKCE.")] = False,
        require_mfa: Annotated[bool, typer.Option("--require-mfa")] = False,
    ) -> None:
        """Register an application; prints its client id and (once) its secret."""
        with context() as ctx:
            made = Applications(ctx).create(
                primary_of(ctx, account),
                name=name,
                redirect_uris=redirect_uri,
                post_logout_redirect_uris=post_logout_redirect_uri or [],
                type="public" if public else "confidential",
                require_mfa=require_mfa,
                via="cli",
            )
            _show(made.application)
            if made.client_secret:
                typer.echo(f"client_secret: {made.client_secret}  (shown once)")

    @group.command("list")
    def list_(account: Account) -> None:
        """The account's applications."""
        with context() as ctx:
            for view in Applications(ctx).list(primary_of(ctx, account)):
                typer.echo(f"{view.client_id}\t{view.type}\t{view.name}")

    @group.command("show")
    def show(client_id: str, account: Account) -> None:
        """One application."""
        with context() as ctx:
            _show(Applications(ctx).show(primary_of(ctx, account), client_id))

    @group.command("rotate-secret")
    def rotate_secret(client_id: str, account: Account) -> None:
        """A new client secret (shown once); the old one stops working at once."""
        with context() as ctx:
            made = Applications(ctx).rotate_secret(primary_of(ctx, account), client_id, via="cli")
            typer.echo(f"client_secret: {made.client_secret}  (shown once)")

    def set_disabled(client_id: str, account: str, disabled: bool) -> None:
        with context() as ctx:
            changes = {"disabled": disabled}
            Applications(ctx).update(primary_of(ctx, account), client_id, changes, via="cli")
            typer.echo(f"{'disabled' if disabled else 'enabled'} {client_id}")

    @group.command("disable")
    def disable(client_id: str, account: Account) -> None:
        """Refuse the application's sign-ins, tokens and forward-auth (kept: enable again)."""
        set_disabled(client_id, account, True)

    @group.command("enable")
    def enable(client_id: str, account: Account) -> None:
        """Let a disabled application sign people in again."""
        set_disabled(client_id, account, False)

    @group.command("delete")
    def delete(client_id: str, account: Account) -> None:
        """Delete an application."""
        with context() as ctx:
            Applications(ctx).delete(primary_of(ctx, account), client_id, via="cli")
            typer.echo(f"deleted {client_id}")

    return group
