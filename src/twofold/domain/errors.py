"""Every error a use case can raise, each with its stable code and HTTP status.

The faces translate these in one place each (JSON body for the API, a page for the console,
a one-line message for the CLI). The wording is English; `localized()` gives it in another
language through a gettext translator (docs/i18n.md), the code never changes.
"""

from __future__ import annotations

from typing import Any, Protocol, Self


class Translator(Protocol):
    """What `gettext.NullTranslations` (and Babel's catalogues) offer."""

    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


class _English:
    def gettext(self, message: str, /) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int, /) -> str:
        return singular if n == 1 else plural


ENGLISH: Translator = _English()


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Marks a string for the catalogue (`make messages`) without translating it here."""
    return message


def wait_wording(seconds: int | None, tr: Translator = ENGLISH) -> str:
    """How long to wait, for people: "N seconds" under a minute and a half, else whole minutes
    rounded up ("try again in 5 minutes")."""
    s = seconds or 60
    if s < 90:
        return tr.ngettext("{n} second", "{n} seconds", s).format(n=s)
    n = (s + 59) // 60
    return tr.ngettext("{n} minute", "{n} minutes", n).format(n=n)


class Problem(str):
    """What is wrong with one field (an error's `fields`), with a value in it: the English
    text, as the API shows it, that still knows its msgid and values for `localized()`."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Problem:
        problem = super().__new__(cls, template.format(**params))
        problem.template, problem.params = template, params
        return problem

    def localized(self, tr: Translator) -> str:
        return tr.gettext(self.template).format(**self.params)


def field_problem(value: str, tr: Translator) -> str:
    """A field's problem in the language of `tr`."""
    return value.localized(tr) if isinstance(value, Problem) else tr.gettext(value)


class TwofoldError(Exception):
    code: str = "Error"
    status: int = 400
    default_message: str = N_("The request failed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        fields: dict[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        # `message` is the catalogue's msgid; `params` fill its {placeholders}, so the
        # sentence can be translated whole (the values are never translated).
        self.template = message or self.default_message
        self.params = params or {}
        self.translated_params: tuple[str, ...] = ()
        self.wait: int | None = None
        self.fields = fields
        self.retry_after = retry_after
        self.message = self.localized(ENGLISH)
        super().__init__(self.message)

    def localized(self, tr: Translator) -> str:
        """The message in the language of `tr`."""
        params = {
            k: tr.gettext(v) if k in self.translated_params else v for k, v in self.params.items()
        }
        text = tr.gettext(self.template)
        if params:
            text = text.format(**params)
        if self.wait is not None:
            text = tr.gettext("{reason}; try again in {wait}.").format(
                reason=text, wait=wait_wording(self.wait, tr)
            )
        return text

    @classmethod
    def after(cls, reason: str, seconds: int, *, params: dict[str, Any] | None = None) -> Self:
        """`reason`, and when to try again: the one wording of every wait."""
        exc = cls(reason, params=params, retry_after=seconds)
        exc.wait = seconds
        exc.message = exc.localized(ENGLISH)
        exc.args = (exc.message,)
        return exc


class ValidationFailed(TwofoldError):
    code, status, default_message = "ValidationError", 400, "The request is not valid."


class Unauthenticated(TwofoldError):
    code, status, default_message = "Unauthenticated", 401, "Sign in first."


class InvalidCredentials(TwofoldError):
    code, status, default_message = "InvalidCredentials", 401, "Wrong login or password."


class InvalidMFACode(TwofoldError):
    code, status, default_message = (
        "InvalidMFACode",
        401,
        "The code is wrong or was already used. Enter the code your app shows now.",
    )


class ReplayedMFACode(InvalidMFACode):
    """A code of a step that was already accepted: answered like a wrong code, audited apart."""


class OutOfSyncMFACode(InvalidMFACode):
    default_message = (
        "The code belongs to another time: the device's clock is off. "
        "Set its time automatically, or resynchronise the device."
    )


class InvalidBindCode(TwofoldError):
    code, status = "InvalidMFACode", 400
    default_message = (
        "The codes were not accepted: enter two consecutive codes from the app, the earlier "
        "one first, each as soon as it appears."
    )


class ChallengeExpired(TwofoldError):
    code, status, default_message = (
        "ChallengeExpired",
        401,
        "The sign-in attempt has expired; sign in again.",
    )


class Forbidden(TwofoldError):
    code, status, default_message = "Forbidden", 403, "You may not do this."


class ApplicationDisabled(Forbidden):
    default_message = "This application is disabled: its account's primary turned it off."


class NetworkNotAllowed(TwofoldError):
    code, status, default_message = (
        "NetworkNotAllowed",
        403,
        "Sign-in from this network is not allowed for this account.",
    )


class VerificationRequired(TwofoldError):
    code, status, default_message = (
        "VerificationRequired",
        403,
        "Verify your identity again before this operation.",
    )


class MFASetupRequired(TwofoldError):
    code, status, default_message = (
        "MFASetupRequired",
        403,
        "Bind a virtual MFA device before doing anything else.",
    )


class PasswordChangeRequired(TwofoldError):
    code, status, default_message = (
        "PasswordChangeRequired",
        403,
        "Choose a new password before doing anything else.",
    )


class AccountDisabled(TwofoldError):
    """The right password of a disabled principal (a wrong one is InvalidCredentials)."""

    code, status, default_message = (
        "AccountDisabled",
        403,
        "This user is disabled; ask the account's primary to enable it.",
    )


class NotFound(TwofoldError):
    code, status, default_message = "NotFound", 404, "Not found."


class AlreadyExists(TwofoldError):
    code, status, default_message = "AlreadyExists", 409, "That name is taken."


class MFAAlreadyEnabled(TwofoldError):
    code, status, default_message = "MFAAlreadyEnabled", 409, "This device is already bound."


class NoPendingDevice(TwofoldError):
    code, status, default_message = (
        "NoPendingDevice",
        409,
        "This key has expired or was replaced (no pending device with that serial). "
        "Get a new key and scan it again.",
    )


class MFANotEnabled(TwofoldError):
    code, status, default_message = "MFANotEnabled", 409, "No virtual MFA device is bound."


class EmailAlreadyVerified(TwofoldError):
    code, status, default_message = (
        "EmailAlreadyVerified",
        409,
        "This email address is confirmed already.",
    )


class PayloadTooLarge(TwofoldError):
    code, status, default_message = "PayloadTooLarge", 413, "The request body is too large."


class TooManyAttempts(TwofoldError):
    code, status, default_message = (
        "TooManyAttempts",
        429,
        "Too many failed attempts; try again later.",
    )

    @classmethod
    def locked(cls, what: str, seconds: int) -> TooManyAttempts:
        """The one wording of a lock: which checks failed, and how long until the next try."""
        exc = cls.after(
            N_("Too many failed {what}: locked for now"), seconds, params={"what": what}
        )
        exc.translated_params = ("what",)
        exc.message = exc.localized(ENGLISH)
        exc.args = (exc.message,)
        return exc


class Overloaded(TooManyAttempts):
    """Load shed: the password-hashing queue is full. Same code and status as a throttle."""

    default_message = "The server is busy; try again in a moment."


class RateLimited(TooManyAttempts):
    """A flood limit per client address (TWOFOLD_RATE_LIMITS) was reached."""

    default_message = "Too many requests from this address; try again later."


class Unavailable(TwofoldError):
    code, status, default_message = (
        "Unavailable",
        503,
        "The service is briefly unavailable; nothing was changed. Try again.",
    )


class SecretUnavailable(TwofoldError):
    """A stored secret cannot be opened: its key is not in the key file. Retrying will not
    help; an operator must put the right key file back."""

    code, status, default_message = (
        "SecretUnavailable",
        503,
        "A stored secret cannot be opened: the key it was sealed under is missing from the "
        "server's key file. Nothing was changed; an operator must restore the key file.",
    )


class SMSUnavailable(TwofoldError):
    """The SMS gateway did not take the message (refused, failed or did not answer in time),
    or no gateway is configured. Nothing was changed; the send did not count."""

    code, status, default_message = (
        "SMSUnavailable",
        503,
        "The text message could not be sent: the SMS gateway is unavailable. Nothing was "
        "changed; try again in a moment.",
    )


class KeyFileMismatch(TwofoldError):
    """The key file does not open every stored secret: a rotation would lose them."""

    code, status, default_message = (
        "KeyFileMismatch",
        409,
        "The key file does not open every stored secret; nothing was changed.",
    )


class KeyInUse(TwofoldError):
    code, status, default_message = (
        "KeyInUse",
        409,
        "Secrets are still sealed under that key; rotate first.",
    )
