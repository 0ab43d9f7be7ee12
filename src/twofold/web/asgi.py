"""The ASGI app for uvicorn and gunicorn workers: settings from the environment."""

from twofold.config import ConfigError
from twofold.web.app import create_app

try:
    app = create_app()
except ConfigError as exc:
    raise SystemExit(f"twofold: {exc}") from None
