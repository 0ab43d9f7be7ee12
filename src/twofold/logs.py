"""The one logging configuration: our loggers, uvicorn's and everything else's, in one format.

`TWOFOLD_LOG_FORMAT=text` (default): one readable line per record. `json`: one JSON object per
line with `timestamp`, `level`, `logger`, `event` and `request_id`, plus the record's fields
(requests: `method`, `route`, `status`, `duration_ms`, `client`; security events: `login`,
`result`, …). Both go to standard error.

The request id lives in a context variable set by the web middleware for each request; the
worker threads of a request see it, so a line logged by a service carries it too."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("twofold_request_id", default=None)

ACCESS = logging.getLogger("twofold.access")
SECURITY = logging.getLogger("twofold.security")

# Attributes every LogRecord has; anything else on a record came through `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "request_id", "color_message", "taskName"}
)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def _timestamp(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was logged in (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2026-11-26T21:00:00.123Z INFO twofold.security [request id] event key=value …`"""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        parts = [_timestamp(record), record.levelname, record.name]
        if rid:
            parts.append(f"[{rid}]")
        parts.append(record.getMessage())
        parts += [f"{k}={v}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def logging_config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for `fmt` ("text" or "json"): uvicorn's loggers, ours, and the root (for
    every library's warnings) all through one handler and one formatter."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    handler = ["twofold"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"twofold": {"()": formatter}},
        "handlers": {
            "twofold": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "twofold",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "twofold": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn": {"handlers": handler, "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Off: its lines hold the raw path (a reset link's token); ours name the route.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "gunicorn.error": {"handlers": handler, "level": level, "propagate": False},
        },
        "root": {"handlers": handler, "level": "WARNING"},
    }


def configure(fmt: str, level: str = "INFO") -> None:
    """Apply the configuration to this process (the serve command, each worker)."""
    logging.config.dictConfig(logging_config(fmt, level))
    logging.captureWarnings(True)  # warnings.warn(...) lines are records too


class SecurityLog:
    """The security log: one line per audit event, once its transaction committed.

    The login (never a typed name that matched nobody: people type passwords there), the
    result and the client address; never a password, code, token, secret or link."""

    def audited(self, event: Mapping[str, Any]) -> None:
        fields: dict[str, Any] = {
            # Who acted, or whom it was about when nobody signed in acted (a reset request).
            "login": event.get("actor") or event.get("target"),
            "result": event.get("result"),
            "client": event.get("client_addr"),
        }
        target = event.get("target")
        if target and target != fields["login"]:
            fields["target"] = target
        detail = event.get("detail")
        if detail:
            fields["detail"] = detail
        failed = str(event.get("result")) not in ("success", "ok")
        level = logging.WARNING if failed else logging.INFO
        SECURITY.log(level, str(event.get("action")), extra=fields)
