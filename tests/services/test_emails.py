"""One email rule for every face (API.md: any syntactically valid address, reserved too)."""

from __future__ import annotations

import email_validator
import pytest

from twofold.domain import errors
from twofold.services.emails import checked_email, valid_email


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("bob@intranet", "bob@intranet"),  # a single-label intranet domain
        ("bob@Mail.LOCAL", "bob@mail.local"),
        ("ops@localhost", "ops@localhost"),
        ("a@b.test", "a@b.test"),
        ("a@example.com", "a@example.com"),
        ("a@xn--bcher-kva.local", "a@bücher.local"),
    ],
)
def test_any_syntactically_valid_address_is_accepted(given: str, kept: str) -> None:
    assert valid_email(given) == kept


@pytest.mark.parametrize("given", ["bob@", "@intranet", "a b@c.d", "a@-x.local", "a@.local", "x"])
def test_what_is_not_an_address_is_refused_with_the_field_named(given: str) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        checked_email(given)
    assert caught.value.fields is not None and "email" in caught.value.fields


def test_the_library_is_left_as_it_was_for_everyone_else() -> None:
    assert "local" in email_validator.SPECIAL_USE_DOMAIN_NAMES
    with pytest.raises(email_validator.EmailNotValidError):
        email_validator.validate_email("a@b.local", check_deliverability=False)
