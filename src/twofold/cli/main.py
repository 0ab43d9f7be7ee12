"""The `twofold` command: serve, migrate, and operator tasks on the same services."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy import select

from twofold.config import ConfigError, Settings, load_settings
from twofold.domain import errors
from twofold.services.accounts import Accounts, mfa_view
from twofold.services.codes import SecondFactor
from twofold.services.context import Context
from twofold.services.mfa import Devices
from twofold.storage.models import Principal
from twofold.web.runtime import Runtime

app = typer.Typer(help="Twofold: accounts, sub-users and virtual MFA.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts.", no_args_is_help=True)
mfa_app = typer.Typer(help="Virtual MFA devices.", no_args_is_help=True)
keys_app = typer.Typer(help="Sealing keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(mfa_app, name="mfa")
app.add_typer(keys_app, name="keys")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _die(str(exc))
        raise


def _die(message: str, code: int = 2) -> None:
    typer.echo(f"twofold: {message}", err=True)
    raise typer.Exit(code)


def _runtime(settings: Settings) -> Runtime:
    from twofold.web.app import build_runtime

    try:
        return build_runtime(settings)
    except ConfigError as exc:
        _die(str(exc))
        raise


@contextmanager
def _context() -> Iterator[Context]:
    rt = _runtime(_settings())
    db = rt.sessions()
    try:
        yield rt.context(db, "cli", "twofold-cli")
    except errors.TwofoldError as exc:
        _die(f"{exc.code}: {exc.message}", 1)
    finally:
        db.close()
        rt.engine.dispose()


def _upgrade(settings: Settings) -> None:
    from twofold.storage.migrate import upgrade

    rt = _runtime(settings)
    try:
        upgrade(settings.database_url, rt.engine)
    finally:
        rt.engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    _upgrade(_settings())
    typer.echo("database is up to date")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
) -> None:
    """Serve the API and console with uvicorn (uvloop, httptools)."""
    import uvicorn

    settings = _settings()
    if settings.is_sqlite:
        _upgrade(settings)
    else:
        from twofold.storage.migrate import is_current

        rt = _runtime(settings)
        current = is_current(rt.engine)
        rt.engine.dispose()
        if not current:
            _die("migrations are pending: run `twofold db upgrade` first")
    uvicorn.run(
        "twofold.web.asgi:app",
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


@account_app.command("create")
def account_create(
    name: str,
    email: Annotated[str, typer.Option("--email", help="The account's email address.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Create an account (its primary principal logs in as NAME)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    from twofold.domain.emails import valid_email

    try:
        email = valid_email(email)
    except ValueError as exc:
        _die(f"ValidationError: {exc}")
    with _context() as ctx:
        account = Accounts(ctx).create(name, email, password, via="cli")
        typer.echo(f"created account {account.name}")


def _principal(ctx: Context, login: str) -> Principal:
    principal = ctx.db.scalar(select(Principal).where(Principal.login == login))
    if principal is None:
        raise errors.NotFound(f"no principal logs in as {login!r}")
    return principal


@mfa_app.command("status")
def mfa_status(login: str) -> None:
    """Show whether LOGIN has a virtual MFA device bound."""
    with _context() as ctx:
        principal = _principal(ctx, login)
        factor = SecondFactor(ctx)
        device = factor.active_device(principal.id)
        view = mfa_view(device, factor.recovery_codes_left(principal.id))
        state = "enabled" if view["enabled"] else "not enabled"
        typer.echo(f"{login}: MFA {state}")
        if device:
            typer.echo(f"  serial: {view['serial']}\n  bound at: {view['bound_at']}")
            typer.echo(f"  recovery codes left: {view['recovery_codes_left']}")
        typer.echo(f"  MFA must be enabled: {'yes' if principal.mfa_required else 'no'}")


@mfa_app.command("reset")
def mfa_reset(login: str) -> None:
    """Operator recovery for a lost device: remove it and end LOGIN's sessions."""
    with _context() as ctx:
        principal = _principal(ctx, login)
        removed = Devices(ctx).operator_reset(principal)
        typer.echo(f"{login}: {'device removed' if removed else 'had no device'}; sessions ended")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new sealing key and re-seal every secret under it, in one transaction."""
    from twofold.services.keys import reseal_all
    from twofold.storage import keyfile

    settings = _settings()
    with _context() as ctx:
        old = ctx.keys
        new = keyfile.add_key(settings.key_file, old)
        count = reseal_all(ctx, old, new)
        typer.echo(f"new key {new.current}; re-sealed {count} secrets")


def main() -> None:
    app()
