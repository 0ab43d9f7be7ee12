"""The console and the API give the same answer for an email address (one rule, in the
services): any syntactically valid address, reserved and single-label domains too."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api
from tests.web.console.conftest import Console

PASSWORD = "a long enough passphrase 42"


@pytest.mark.parametrize(
    ("email", "accepted"),
    [
        ("bob@intranet", True),
        ("ops@mail.local", True),
        ("dev@localhost", True),
        ("bob@", False),
        ("two@@signs.example", False),
    ],
)
def test_every_face_answers_the_same_for_an_address(
    api: Api, console: Console, owner: Any, email: str, accepted: bool
) -> None:
    by_api = api.call(
        "POST", "/users", owner, json={"name": "viaapi", "password": PASSWORD, "email": email}
    )
    console.login(owner.login, owner.password)
    by_console = console.post(
        "/users", {"name": "viaconsole", "password": PASSWORD, "email": email}
    )
    assert (by_api.status_code == 201) is accepted, by_api.text
    assert (by_console.status_code == 303) is accepted, by_console.text[:300]
    if not accepted:
        assert by_api.status_code == 400 and by_console.status_code == 400
