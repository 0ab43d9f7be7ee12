"""Helpers for API tests."""

from __future__ import annotations

from typing import Any


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    """Assert the error body of API.md and return its inner object."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])
