"""The console driver for the in-process single sign-on tests (the person's browser)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import FakeClock
from tests.web.console.conftest import Console


@pytest.fixture
def console(client: TestClient, clock: FakeClock) -> Console:
    return Console(client, clock)
