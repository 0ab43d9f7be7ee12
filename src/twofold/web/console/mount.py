"""Putting the console on the app: its pages, static files, headers, and its error pages."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from twofold.web.console import security as sec
from twofold.web.console.errors import console_error
from twofold.web.console.pages import (
    applications,
    audit,
    email,
    keys,
    lifecycle,
    mfa,
    overview,
    password,
    phone,
    preferences,
    recovery,
    sessions,
    signin,
    users,
    verify,
)
from twofold.web.console.render import HERE

PAGES: tuple[ModuleType, ...] = (
    signin,
    overview,
    mfa,
    keys,
    password,
    phone,
    verify,
    users,
    lifecycle,
    recovery,
    email,
    preferences,
    sessions,
    audit,
    applications,
)


def _gathered(name: str) -> dict[str, str]:
    """Every page module's `NOTICES` or `PURPOSES` in one table; a key declared twice is a
    mistake caught at start-up."""
    table: dict[str, str] = {}
    for module in PAGES:
        own: Mapping[str, str] = getattr(module, name, {})
        clash = table.keys() & own.keys()
        if clash:
            raise RuntimeError(f"{name} declared twice: {sorted(clash)}")
        table.update(own)
    return table


def install(app: FastAPI) -> None:
    for module in PAGES:
        app.include_router(module.router)
    app.state.console_notices = _gathered("NOTICES")
    app.state.console_purposes = _gathered("PURPOSES")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.console_error = console_error
    app.add_middleware(sec.ConsoleHeaders)
