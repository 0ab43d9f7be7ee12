"""The ASGI app for uvicorn and gunicorn workers: settings from the environment."""

from twofold.config import ConfigError, load_settings
from twofold.web.app import create_app

try:
    app = create_app(load_settings())
except ConfigError as exc:
    raise SystemExit(f"twofold: {exc}") from None
