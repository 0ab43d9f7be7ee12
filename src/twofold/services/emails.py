"""Email addresses: one rule for every face.

API.md: any syntactically valid address is accepted, reserved domains too. So `bob@intranet`
(a single-label domain, as intranet mail servers use) and `bob@mail.local` are accepted;
`bob@`, `bob@-x` or `two@@signs` are not."""

from __future__ import annotations

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from twofold.domain import errors


def _reserved_suffix(domain: str) -> str | None:
    lowered = domain.lower()
    for name in SPECIAL_USE_DOMAIN_NAMES:
        if lowered == name or lowered.endswith("." + name):
            return name
    return None


def valid_email(value: str) -> str:
    """The normalised address, or ValueError (EmailNotValidError) when it is not one.

    email-validator refuses special-use domains (.local, .test, localhost…) even with
    deliverability checks off. Rather than empty its module-wide list (which would change
    the library for every caller in the process), the reserved suffix is checked as an
    ordinary label of the same length and put back afterwards."""
    local, at, domain = value.rpartition("@")
    suffix = _reserved_suffix(domain) if at else None
    probe = value if suffix is None else f"{local}@{domain[: -len(suffix)]}{'x' * len(suffix)}"
    result = validate_email(probe, check_deliverability=False, globally_deliverable=False)
    if suffix is None:
        return str(result.normalized)
    return f"{result.local_part}@{result.domain[: -len(suffix)]}{suffix}"


def checked_email(value: str, field: str = "email") -> str:
    """valid_email for the services: a typed ValidationFailed naming the field."""
    try:
        return valid_email(value)
    except EmailNotValidError as exc:
        raise errors.ValidationFailed(
            "That email address is not valid.", fields={field: str(exc)}
        ) from exc
