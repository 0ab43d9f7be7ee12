"""Fixtures of the web tests that need an app with other settings and another peer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from twofold.bootstrap import build_runtime
from twofold.config import Settings
from twofold.web.app import create_app


@pytest.fixture
def app_with(settings: Settings, clock: Any) -> Iterator[Callable[..., TestClient]]:
    """A TestClient of an app with some settings changed, seen from the peer `client`."""
    made: list[Any] = []

    def make(client: tuple[str, int] = ("203.0.113.9", 50000), **changes: Any) -> TestClient:
        s = settings.model_copy(update=changes)
        rt = build_runtime(s, clock=clock)
        c = TestClient(create_app(s, runtime=rt), base_url="http://testserver", client=client)
        c.__enter__()
        made.append((rt, c))
        return c

    yield make
    for rt, c in made:
        c.__exit__(None, None, None)
        rt.close()
