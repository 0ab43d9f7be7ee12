"""The `twofold` command: serve, migrate, and operator tasks on the same services."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from twofold.bootstrap import Runtime, build_runtime
from twofold.config import ConfigError, Settings, load_settings
from twofold.domain import errors
from twofold.services.accounts import Accounts, Principals
from twofold.services.context import Context
from twofold.services.mfa import Devices
from twofold.services.views import SecurityPreferences, iso

if TYPE_CHECKING:
    from twofold.services.keys import SealingKeys

app = typer.Typer(help="Twofold: accounts, sub-users and virtual MFA.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts.", no_args_is_help=True)
mfa_app = typer.Typer(help="Virtual MFA devices.", no_args_is_help=True)
keys_app = typer.Typer(help="Sealing keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(mfa_app, name="mfa")
app.add_typer(keys_app, name="keys")
security_app = typer.Typer(help="An account's security preferences.", no_args_is_help=True)
sessions_app = typer.Typer(help="Signed-in sessions.", no_args_is_help=True)
account_app.add_typer(security_app, name="security")
app.add_typer(sessions_app, name="sessions")
user_app = typer.Typer(help="Sub-users and principals (account life-cycle).", no_args_is_help=True)
app.add_typer(user_app, name="user")
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


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
    # Commands count nothing: with PROMETHEUS_MULTIPROC_DIR set, metrics objects would leave
    # files of this short-lived process for the servers to add up.
    settings = settings.model_copy(update={"metrics": False})
    try:
        return build_runtime(settings)
    except ConfigError as exc:
        _die(str(exc))
        raise


def _maintenance(settings: Settings) -> Settings:
    """Operator tasks (migrations, re-sealing every secret) may run long statements: the
    request-sized statement timeout does not apply to them."""
    return settings.model_copy(update={"db_statement_timeout": MAINTENANCE_STATEMENT_TIMEOUT})


MAINTENANCE_STATEMENT_TIMEOUT = 3600.0


@contextmanager
def _context(settings: Settings | None = None) -> Iterator[Context]:
    from sqlalchemy.exc import SQLAlchemyError

    rt = _runtime(settings or _settings())
    try:
        with rt.open_context("cli", "twofold-cli") as ctx:
            yield ctx
    except errors.TwofoldError as exc:
        problems = "".join(f"; {k}: {v}" for k, v in (exc.fields or {}).items())
        _die(f"{exc.code}: {exc.message}{problems}", 1)
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = str(orig).splitlines()[0][:200] if orig is not None else type(exc).__name__
        _die(f"Unavailable: the database failed, nothing was changed: {reason}", 1)
    finally:
        rt.close()


def _schema_current(settings: Settings) -> bool:
    from twofold.storage.schema_version import current_revision, head_revision

    rt = _runtime(settings)
    try:
        with rt.engine.connect() as conn:
            return current_revision(conn) == head_revision()
    finally:
        rt.engine.dispose()


def _upgrade(settings: Settings) -> None:
    from twofold.storage.migrate import upgrade

    rt = _runtime(_maintenance(settings))
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
    from twofold.logs import configure as configure_logging

    configure_logging(settings.log_format)  # before the migrations: every line in one format
    if not _schema_current(settings):
        if not settings.is_sqlite:
            _die("migrations are pending: run `twofold db upgrade` first")
        # SQLite migrates itself, in a child process: Alembic (with Mako and Pygments, some
        # 25 MiB) never loads into the process that goes on to serve.
        # Its output goes through this process's logging, so a JSON log stays all JSON.
        done = subprocess.run(
            [sys.executable, "-m", "twofold", "db", "upgrade"], capture_output=True, text=True
        )
        log = logging.getLogger("twofold.migrate")
        if done.returncode:
            log.error("migration failed: %s", (done.stderr or done.stdout).strip()[-2000:])
            raise typer.Exit(2)
        log.info("database migrated: %s", done.stdout.strip())
    options = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        # Scheme and client address from X-Forwarded-Proto/-For, believed only from the
        # trusted proxies (the load balancer terminating TLS); from anyone else ignored.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "timeout_graceful_shutdown": 10,
        # Logging is ours (twofold.logs): uvicorn's lines in the same format as the app's.
        "log_config": None,
    }
    from twofold.cli.workers import metrics_directory, run_workers, serves_multiprocess

    with metrics_directory(serves_multiprocess(settings.metrics, workers)) as path:
        if workers == 1:
            uvicorn.run("twofold.web.asgi:app", **options)  # type: ignore[arg-type]
        else:
            config = uvicorn.Config("twofold.web.asgi:app", workers=workers, **options)  # type: ignore[arg-type]
            run_workers(config, path)


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
    from twofold.services.emails import valid_email

    try:
        email = valid_email(email)
    except ValueError as exc:
        _die(f"ValidationError: {exc}")
    with _context() as ctx:
        account = Accounts(ctx).create(name, email, password, via="cli")
        typer.echo(f"created account {account.name}")


@account_app.command("disable")
def account_disable(name: str) -> None:
    """Disable the account NAME: its primary and every user; all their sessions end."""
    from twofold.services.lifecycle import Lifecycle

    with _context() as ctx:
        count = Lifecycle(ctx).operator_set_account_disabled(name, True)
        typer.echo(f"{name}: disabled ({count} principals); sessions ended")


@account_app.command("enable")
def account_enable(name: str) -> None:
    """Enable the account NAME again: its primary and every user."""
    from twofold.services.lifecycle import Lifecycle

    with _context() as ctx:
        count = Lifecycle(ctx).operator_set_account_disabled(name, False)
        typer.echo(f"{name}: enabled ({count} principals)")


@user_app.command("disable")
def user_disable(login: str) -> None:
    """Disable the sub-user LOGIN (name@account): its sessions end, it cannot sign in."""
    from twofold.services.lifecycle import Lifecycle

    with _context() as ctx:
        changed = Lifecycle(ctx).operator_set_disabled(login, True)
        typer.echo(f"{login}: {'disabled; sessions ended' if changed else 'was disabled already'}")


@user_app.command("enable")
def user_enable(login: str) -> None:
    """Enable the sub-user LOGIN again (nothing of its ended sessions comes back)."""
    from twofold.services.lifecycle import Lifecycle

    with _context() as ctx:
        changed = Lifecycle(ctx).operator_set_disabled(login, False)
        typer.echo(f"{login}: {'enabled' if changed else 'was enabled already'}")


@user_app.command("set-password")
def user_set_password(
    login: str,
    must_change: Annotated[
        bool, typer.Option("--must-change", help="It must choose a new one at next sign-in.")
    ] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set the password of LOGIN; every session of it ends."""
    from twofold.services.lifecycle import Lifecycle

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _context() as ctx:
        Lifecycle(ctx).operator_set_password(login, password, must_change)
        suffix = "; it must change it at next sign-in" if must_change else ""
        typer.echo(f"{login}: password set; sessions ended{suffix}")


@user_app.command("phone")
def user_phone(login: str) -> None:
    """Show LOGIN's verified phone number, masked (`twofold mfa reset` leaves it alone)."""
    with _context() as ctx:
        phone = Principals(ctx).status(login).phone
        typer.echo(f"{login}: phone {phone} (verified)" if phone else f"{login}: no phone number")


@mfa_app.command("status")
def mfa_status(login: str) -> None:
    """Show whether LOGIN has a virtual MFA device bound."""
    with _context() as ctx:
        status = Principals(ctx).status(login)
        mfa = status.mfa
        typer.echo(f"{login}: MFA {'enabled' if mfa.enabled else 'not enabled'}")
        if mfa.totp:
            typer.echo(f"  serial: {mfa.serial}\n  bound at: {iso(mfa.bound_at)}")
        if mfa.security_keys:
            typer.echo(f"  security keys: {mfa.security_keys}")
        if mfa.enabled:
            typer.echo(f"  recovery codes left: {mfa.recovery_codes_left}")
        typer.echo(f"  MFA must be enabled: {'yes' if status.mfa_required else 'no'}")


@mfa_app.command("reset")
def mfa_reset(login: str) -> None:
    """Operator recovery for a lost device: remove it and end LOGIN's sessions."""
    with _context() as ctx:
        removed = Devices(ctx).operator_reset(login)
        typer.echo(f"{login}: {'device removed' if removed else 'had no device'}; sessions ended")


def _needed_key_ids(settings: Settings) -> set[str]:
    from sqlalchemy.exc import SQLAlchemyError

    from twofold.storage.db import make_engine
    from twofold.storage.sealed import sealed_key_ids

    try:
        engine = make_engine(settings.database_url, pool_size=1)
    except ConfigError as exc:
        _die(str(exc))
        raise
    try:
        return sealed_key_ids(engine)
    except SQLAlchemyError as exc:
        _die(f"the database cannot be read: {type(exc).__name__}")
        raise
    finally:
        engine.dispose()


def _require_key_file(settings: Settings) -> None:
    from twofold.storage import keyfile

    if keyfile.exists(settings.key_file):
        return
    needed = _needed_key_ids(settings)
    if needed:
        _die(keyfile.missing_message(settings.key_file, needed))
    _die(f"the key file {settings.key_file} is missing: `twofold keys init` creates one")


@contextmanager
def _sealing_keys() -> Iterator[SealingKeys]:
    """The key use cases, with their refusals as one line and exit status 2."""
    from twofold.services.keys import SealingKeys

    settings = _maintenance(_settings())
    _require_key_file(settings)
    with _context(settings) as ctx:
        try:
            yield SealingKeys(ctx, settings.key_file)
        except errors.TwofoldError as exc:
            _die(f"{exc.code}: {exc.message}")


@keys_app.command("init")
def keys_init(
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Create a key file even over secrets sealed under other keys (they are lost: "
            "their devices must be reset).",
        ),
    ] = False,
) -> None:
    """Create the key file (the first start over an empty database does it too)."""
    from twofold.storage import keyfile

    settings = _settings()
    if keyfile.exists(settings.key_file):
        _die(f"the key file {settings.key_file} already exists: nothing written")
    needed = _needed_key_ids(settings)
    if needed and not force:
        _die(keyfile.missing_message(settings.key_file, needed) + "; or give --force")
    try:
        ring = keyfile.create(settings.key_file)
    except ConfigError as exc:
        _die(str(exc))
        raise
    typer.echo(f"created the key file {settings.key_file} with key {ring.current}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new sealing key and re-seal every secret under it, in one transaction.

    Refused, with the key file unchanged, unless every sealed secret opens first. Running
    servers seal under the new key from their next seal on."""
    with _sealing_keys() as keys:
        kid, count = keys.rotate()
        typer.echo(f"new key {kid}; re-sealed {count} secrets")


@keys_app.command("retire")
def keys_retire(key_id: str) -> None:
    """Remove KEY_ID from the key file; refused while it is current or any secret uses it."""
    with _sealing_keys() as keys:
        keys.retire(key_id)
        typer.echo(f"retired key {key_id}")


def _show_preferences(view: SecurityPreferences) -> None:
    for name, value in view.as_dict().items():
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value) or "(any)"
        else:
            shown = str(value)
        typer.echo(f"  {name}: {shown}")


@security_app.command("show")
def security_show(account: str) -> None:
    """Show the security preferences of ACCOUNT."""
    from twofold.services.security import AccountSecurity

    with _context() as ctx:
        view = AccountSecurity(ctx).show_account(account)
        typer.echo(f"{account}:")
        _show_preferences(view)


@security_app.command("set")
def security_set(
    account: str,
    mfa_for_login: Annotated[
        str | None, typer.Option(help="per_user or all_users (every sub-user needs MFA).")
    ] = None,
    allow_users_to_manage_mfa: Annotated[
        bool | None,
        typer.Option(
            "--allow-users-to-manage-mfa/--no-allow-users-to-manage-mfa",
            help="Whether sub-users bind and disable their own devices.",
        ),
    ] = None,
    remember_mfa_days: Annotated[
        int | None, typer.Option(help="0 (off) to 30: days a browser may skip the code.")
    ] = None,
    session_hours: Annotated[int | None, typer.Option(help="1 to 24.")] = None,
    login_network: Annotated[
        list[str] | None,
        typer.Option(help="A CIDR range sub-users may sign in from; repeat for more."),
    ] = None,
    any_network: Annotated[
        bool, typer.Option("--any-network", help="Clear the list: sub-users sign in from anywhere.")
    ] = False,
    password_min_length: Annotated[int | None, typer.Option(help="12 to 128.")] = None,
    password_max_age_days: Annotated[
        int | None, typer.Option(help="0 (never) to 1095: a user's password expires.")
    ] = None,
    password_reuse_prevention: Annotated[
        int | None, typer.Option(help="0 to 24: how many last passwords may not come back.")
    ] = None,
) -> None:
    """Change some security preferences of ACCOUNT (the rest stay); each change is audited."""
    from twofold.services.security import AccountSecurity

    changes: dict[str, object] = {
        name: value
        for name, value in {
            "mfa_for_login": mfa_for_login,
            "allow_users_to_manage_mfa": allow_users_to_manage_mfa,
            "remember_mfa_days": remember_mfa_days,
            "session_hours": session_hours,
            "password_min_length": password_min_length,
            "password_max_age_days": password_max_age_days,
            "password_reuse_prevention": password_reuse_prevention,
        }.items()
        if value is not None
    }
    if login_network and any_network:
        _die("ValidationError: give --login-network or --any-network, not both")
    if login_network:
        changes["login_networks"] = list(login_network)
    elif any_network:
        changes["login_networks"] = []
    if not changes:
        _die("nothing to change; see --help")
    with _context() as ctx:
        view = AccountSecurity(ctx).update_account(account, changes)
        typer.echo(f"{account}: updated")
        _show_preferences(view)


@sessions_app.command("list")
def sessions_list(login: str) -> None:
    """List LOGIN's live sessions, newest first."""
    from twofold.services.security import SessionManagement

    with _context() as ctx:
        rows = SessionManagement(ctx).operator_list(login)
        if not rows:
            typer.echo(f"{login}: no live sessions")
        for row in rows:
            flags = " setup-only" if row.restricted else ""
            typer.echo(
                f"{row.id}  from {row.client_addr or '-'}  "
                f"created {row.created_at.isoformat(timespec='seconds')}  "
                f"last seen {row.last_seen_at.isoformat(timespec='seconds')}  "
                f"expires {row.expires_at.isoformat(timespec='seconds')}{flags}  "
                f"{row.user_agent or ''}".rstrip()
            )


@sessions_app.command("revoke")
def sessions_revoke(
    login: str,
    session_id: Annotated[str | None, typer.Argument(help="One session's id.")] = None,
    all_sessions: Annotated[bool, typer.Option("--all", help="End every session.")] = False,
) -> None:
    """End one of LOGIN's sessions, or all of them; its remembered browsers are forgotten."""
    from twofold.services.security import SessionManagement

    if (session_id is None) == (not all_sessions):
        _die("give a SESSION_ID or --all")
    with _context() as ctx:
        manage = SessionManagement(ctx)
        if session_id is not None:
            manage.operator_revoke(login, session_id)
            typer.echo(f"{login}: session {session_id} ended")
        else:
            count = manage.operator_revoke_all(login)
            typer.echo(f"{login}: {count} sessions ended")


@audit_app.command("prune")
def audit_prune(
    before: Annotated[str, typer.Option(help="ISO date (YYYY-MM-DD): delete events before it.")],
) -> None:
    """Delete audit events older than --before (00:00 UTC that day); the pruning is audited."""
    from datetime import date

    from twofold.services.audit import Audit

    try:
        day = date.fromisoformat(before)
    except ValueError:
        _die(f"ValidationError: --before {before!r} is not a date (YYYY-MM-DD)")
        raise
    with _context() as ctx:
        try:
            deleted = Audit(ctx).prune(day)
        except errors.ValidationFailed as exc:
            _die(f"{exc.code}: {exc.message}")
            raise
        typer.echo(f"deleted {deleted} audit events from before {day.isoformat()}")


def _register_apps() -> None:
    from twofold.cli.apps import build

    app.add_typer(build(_context), name="app")


_register_apps()


def main() -> None:
    app()
