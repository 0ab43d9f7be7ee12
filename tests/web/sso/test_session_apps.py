"""The sessions page (and GET /me/sessions) shows which applications each session signed in
to."""

from __future__ import annotations

import re

from tests.support import Api, bearer
from tests.web.console.conftest import Console
from tests.web.sso.inproc import register, sign_in_flow
from twofold.web.console.security import SESSION


def test_each_session_lists_the_applications_it_signed_in_to(
    api: Api, console: Console
) -> None:
    owner = api.signup()
    wiki = register(api, owner, name="Wiki")
    chat = register(api, owner, name="Chat")
    alice = api.add_user(owner)
    api.login(alice)
    other_token = alice.token or ""
    api.login(alice)  # a second session, signed in to nothing
    console.client.cookies.set(SESSION, other_token)
    sign_in_flow(console, wiki)
    sign_in_flow(console, chat)
    sign_in_flow(console, wiki)

    listed = api.call("GET", "/me/sessions", headers=bearer(other_token)).json()["sessions"]
    by_current = {s["current"]: s["applications"] for s in listed}
    assert by_current == {True: ["Chat", "Wiki"], False: []}

    page = console.get("/sessions").text
    cells = re.findall(r'<td class="session-apps">([^<]*)</td>', page)
    assert sorted(cells) == ["Chat, Wiki", "—"]
