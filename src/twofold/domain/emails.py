"""Email addresses: any syntactically valid one is accepted, reserved domains too (API.md)."""

from __future__ import annotations

import email_validator
from email_validator import validate_email

# email-validator refuses special-use domains (.test, .local, .invalid, localhost) even with
# deliverability checks off; the library documents this list as the way to allow them.
email_validator.SPECIAL_USE_DOMAIN_NAMES = []


def valid_email(value: str) -> str:
    """The normalised address, or ValueError (EmailNotValidError) when it is not one."""
    result = validate_email(value, check_deliverability=False, globally_deliverable=False)
    return str(result.normalized)
