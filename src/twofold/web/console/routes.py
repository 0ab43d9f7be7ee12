"""The server-rendered console (pages under /)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    app.include_router(router)
