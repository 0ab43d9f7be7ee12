"""Forward authentication for reverse proxies: is this credential's principal allowed into
this application? On every proxied request, so: one read-only transaction, reads by key
(the application, the session with its principal, and the device only when the application
requires MFA), no write on the common path."""

from __future__ import annotations

from sqlalchemy import select

from twofold.domain import apps, errors
from twofold.services.applications import Client, client_reads, find_client
from twofold.services.codes import FACTOR_KINDS, SecondFactor, kinds_of
from twofold.services.context import Context
from twofold.services.sessions import Sessions, SignedIn
from twofold.services.views import Identity
from twofold.storage.db import begin_read_only
from twofold.storage.hot import HotDatabase, read_by_key
from twofold.storage.models import Application, Principal
from twofold.storage.prebuilt import Reads


def allowed_into(ctx: Context, who: SignedIn, client: Client) -> None:
    """Raise Forbidden unless the signed-in principal may sign in to the application: of its
    account, not restricted to MFA setup, with MFA when the application requires it. The
    caller's transaction must be open (SecondFactor reads in it)."""
    admitted(who, client)
    if client.require_mfa:
        factor_required(SecondFactor(ctx).has_factor(who.principal_id))


def admitted(who: SignedIn, client: Client) -> None:
    """The rules that need no read: of the application's account, not held at the forced
    password change, not restricted to MFA setup."""
    if who.account_id != client.account_id:
        raise errors.Forbidden("This application belongs to another account.")
    if who.must_change_password:  # the forced change first (issue 13)
        raise errors.PasswordChangeRequired()
    if who.restricted:
        raise errors.MFASetupRequired()


def factor_required(has_factor: bool) -> None:
    """An application that requires MFA, and whether the principal has a second factor."""
    if not has_factor:
        raise errors.MFASetupRequired("This application requires MFA: bind a device first.")


def identity_of(who: SignedIn) -> Identity:
    return Identity(
        login=who.login,
        email=who.email,
        name=who.name,
        account=who.login.rpartition("@")[2],
    )


class ForwardAuth:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def check(self, token: str | None, client_id: str | None, *, writes: bool = True) -> Identity:
        """The identity to pass on, or Unauthenticated (no or dead credential, unknown
        application) or Forbidden (another account, MFA missing). With `writes=False` it
        writes nothing: a session due a write raises WriteNeeded (see Sessions.identify)."""
        db = self.ctx.db
        begin_read_only(db)
        try:
            client = find_client(self.ctx, client_id)
            if client is None:
                raise errors.Unauthenticated("Unknown application.")
            if client.disabled:
                raise errors.ApplicationDisabled()
            # The session lookup reads in this transaction and ends it.
            who = Sessions(self.ctx).identify(token, writes=writes)
            if client.require_mfa and not db.in_transaction():
                begin_read_only(db)  # one more read by key, for the device
            allowed_into(self.ctx, who, client)
            return identity_of(who)
        finally:
            if db.in_transaction():
                db.commit()

    async def check_hot(
        self, db: HotDatabase, token: str | None, client_id: str | None
    ) -> Identity:
        """`check(token, client_id, writes=False)` on the hot paths' connections
        (storage/hot.py): the same reads by key, each a read of its own."""
        return await read_by_key(db, self._check_reads(token, client_id))

    def _check_reads(self, token: str | None, client_id: str | None) -> Reads[Identity]:
        client = yield from client_reads(client_id)
        if client is None:
            raise errors.Unauthenticated("Unknown application.")
        if client.disabled:
            raise errors.ApplicationDisabled()
        who = yield from Sessions(self.ctx).identify_reads(token)
        admitted(who, client)
        if client.require_mfa:
            factor_required(bool(kinds_of((yield FACTOR_KINDS, {"pid": who.principal_id}))))
        return identity_of(who)

    def return_origins(self, principal: Principal) -> set[str]:
        """The origins a signed-in principal may be sent back to after sign-in (`rd=`): those
        of its account's applications' redirect URIs."""
        with self.ctx.reading() as db:
            rows = db.scalars(
                select(Application.redirect_uris).where(
                    Application.account_id == principal.account_id
                )
            )
            return {o for uris in rows for o in map(apps.origin_of, uris or []) if o}
