"""Phone numbers: E.164 parsing and validation (Google's libphonenumber rules, through the
`phonenumbers` package) and the masked form people are shown (`+86 138****8000`)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from twofold.domain import errors

# Numbers an SMS can reach; a known landline, toll-free or premium number is refused.
_TEXTABLE = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PERSONAL_NUMBER,
}
MAX_INPUT = 40


def normalized_phone(value: object, field: str = "phone") -> str:
    """The E.164 form (`+8613800138000`) of a number given with its country code, in any
    usual spelling (`+86 138 0013 8000`, `+86-138-0013-8000`), or ValidationFailed."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_INPUT:
        raise errors.ValidationFailed(
            "Give a phone number with its country code, e.g. +8613800138000.",
            fields={field: "required, with its country code"},
        )
    text = value.strip()
    if not text.startswith("+"):
        raise errors.ValidationFailed(
            "Give the number with its country code, starting with +, e.g. +8613800138000.",
            fields={field: "must start with + and the country code"},
        )
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException as exc:
        raise errors.ValidationFailed(
            "That is not a phone number.", fields={field: "not a phone number"}
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise errors.ValidationFailed(
            "That phone number does not exist in its country's numbering plan.",
            fields={field: "not a valid number"},
        )
    if phonenumbers.number_type(number) not in _TEXTABLE:
        raise errors.ValidationFailed(
            "That number cannot receive text messages: give a mobile number.",
            fields={field: "not a mobile number"},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked_phone(e164: str) -> str:
    """`+86 138****8000`: the country code, the first and last few digits of the national
    number, the middle hidden (as Alibaba Cloud RAM shows it)."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "+" + "*" * max(len(e164) - 5, 1) + e164[-4:]
    national = phonenumbers.national_significant_number(number)
    n = len(national)
    tail = 4 if n >= 7 else 2
    head = 3 if n - tail >= 6 else (n - tail) // 3
    hidden = n - head - tail
    return f"+{number.country_code} {national[:head]}{'*' * hidden}{national[n - tail :]}"
