"""Phone numbers: E.164 normalisation and the masked form (`+86 138****8000`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofold.domain import errors
from twofold.domain.phones import masked_phone, normalized_phone


@pytest.mark.parametrize(
    "typed",
    ["+8613800138000", "+86 138 0013 8000", "+86-138-0013-8000", " +86 (138) 0013 8000 "],
)
def test_usual_spellings_normalise_to_e164(typed: str) -> None:
    assert normalized_phone(typed) == "+8613800138000"


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("13800138000", "must start with + and the country code"),
        ("+86 12", "not a valid number"),
        ("+86 abc", "not a phone number"),
        ("+861012345678", "not a mobile number"),  # a Beijing landline
        ("+18005550100", "not a mobile number"),  # toll-free
        ("", "required, with its country code"),
        ("+" + "1" * 60, "required, with its country code"),
    ],
)
def test_bad_numbers_are_refused_naming_the_field(typed: str, problem: str) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        normalized_phone(typed)
    assert caught.value.fields == {"phone": problem}


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+8613800138000", "+86 138****8000"),
        ("+12025550123", "+1 202***0123"),
        ("+447911123456", "+44 791***3456"),
        ("+4930123456", "+49 3***3456"),
    ],
)
def test_masked_form_hides_the_middle(e164: str, shown: str) -> None:
    assert masked_phone(e164) == shown


@given(st.text(max_size=45))
def test_any_text_is_a_number_or_a_validation_error(raw: str) -> None:
    try:
        phone = normalized_phone(raw)
    except errors.ValidationFailed:
        return
    assert phone.startswith("+") and phone[1:].isdigit() and len(phone) <= 16
    assert normalized_phone(phone) == phone
    assert masked_phone(phone).startswith("+")
