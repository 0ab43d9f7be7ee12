"""Helpers for API tests that need the app built with other settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import Api, FakeClock
from twofold.config import Settings
from twofold.web.app import build_runtime, create_app


@pytest.fixture
def api_with(settings: Settings, clock: FakeClock) -> Iterator[Callable[..., Api]]:
    """Build an Api on the same database with some settings changed."""
    made: list[Any] = []

    def make(**changes: Any) -> Api:
        s = settings.model_copy(update=changes)
        rt = build_runtime(s, clock=clock)
        client = TestClient(create_app(s, runtime=rt), base_url="http://testserver")
        client.__enter__()
        made.append((rt, client))
        return Api(client, clock)

    yield make
    for rt, client in made:
        client.__exit__(None, None, None)
        rt.engine.dispose()


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    """Assert the error body of API.md and return its inner object."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])
