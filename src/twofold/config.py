"""Settings from `TWOFOLD_*` environment variables; built by create_app() or the CLI."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from twofold.domain.rates import DEFAULT as DEFAULT_RATE_LIMITS
from twofold.domain.rates import parse_rate_limits


class ConfigError(Exception):
    """A setting that makes the service unable to start; the message is one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWOFOLD_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///./twofold.db"
    key_file: str = "./twofold.key"
    issuer: str = "Twofold"
    signup_open: bool = True
    session_idle_minutes: int = Field(60, ge=1)
    session_absolute_hours: int = Field(12, ge=1, le=24 * 30)
    fresh_verification_minutes: int = Field(5, ge=1)
    smtp_url: str | None = None
    mail_from: str = "twofold@localhost"
    # SMS (phone verification): "log" writes messages to the server log (development only),
    # "webhook" POSTs them, signed, to the operator's gateway. Unset: "log" outside
    # production; in production phone verification answers SMSUnavailable until one is set.
    sms_provider: Literal["log", "webhook"] | None = None
    sms_webhook_url: str | None = None
    sms_webhook_secret: str | None = None
    sms_webhook_timeout: float = Field(5.0, gt=0, le=60)  # seconds per attempt
    sms_webhook_retries: int = Field(2, ge=0, le=5)  # further attempts after a failure
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    argon2_memory_kib: int = Field(19 * 1024, ge=8)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    db_pool_size: int = Field(10, ge=1)
    # A hung database must not hang requests: seconds to open a connection, to run one
    # statement (PostgreSQL: also cut client-side, a frozen server answers nothing), and to
    # wait for a pooled connection. Past them a request answers 503 Unavailable.
    db_connect_timeout: float = Field(2.0, gt=0, le=300)
    db_statement_timeout: float = Field(5.0, gt=0, le=3600)
    db_pool_timeout: float = Field(5.0, gt=0, le=300)
    # PostgreSQL: seconds a pooled connection may sit idle and still be used without a ping
    # first (a connection the server dropped within them fails one request with a 503).
    db_ping_idle: float = Field(0.5, ge=0, le=3600)
    readyz_timeout: float = Field(0.5, gt=0, le=30)  # /readyz answers within this, whatever
    threads: int = Field(8, ge=1, le=256)  # worker threads per process for blocking work
    # A served worker moves what it built at start-up out of the cyclic collector's way
    # (gc.freeze, web/asgi.py): its full collections under load took ~100 ms, not ~1 ms.
    gc_freeze: bool = True
    secure_cookies: bool | None = None  # None: Secure when the request came over https
    # Flood limits per client address (per process); "off" turns them off.
    rate_limits: str = DEFAULT_RATE_LIMITS
    # Load shedding: password hashes waiting for a core, and how long one may wait.
    argon2_max_queue: int = Field(8, ge=0)
    argon2_max_wait_ms: int = Field(2000, ge=1)

    @field_validator("rate_limits")
    @classmethod
    def _check_rates(cls, value: str) -> str:
        parse_rate_limits(value)
        return value
    # Single sign-on: the issuer of ID tokens and the base of the console's absolute URLs.
    public_url: str = "http://127.0.0.1:8000"
    # The session cookie's Domain (e.g. "example.com"): one sign-in covers the applications
    # on its sub-domains (forward-auth). Unset: a host-only cookie.
    cookie_domain: str | None = None
    # Applications' redirect URIs may use http on non-loopback hosts (development only).
    allow_http_redirects: bool = False
    api_docs: bool = True  # serve /api/docs (Swagger UI, local files); the schema stays
    # Prometheus text at /metrics; who may read it (CIDRs, the client address as the
    # trusted proxies tell it); empty: anyone who reaches the server.
    metrics: bool = True
    # Every line the server writes: readable text, or one JSON object per line.
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True  # one line per request (about 30-50 µs of CPU each)
    metrics_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("trusted_proxies", "metrics_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("trusted_proxies", "metrics_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
            raise ValueError("must be an http(s) URL without query or fragment")
        return value.rstrip("/")

    @property
    def forwarded_allow_ips(self) -> str:
        """TWOFOLD_TRUSTED_PROXIES as uvicorn's (and gunicorn's) forwarded_allow_ips."""
        return ",".join(str(ipaddress.ip_network(n, strict=False)) for n in self.trusted_proxies)

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def session_absolute(self) -> timedelta:
        return timedelta(hours=self.session_absolute_hours)

    @property
    def fresh_window(self) -> timedelta:
        return timedelta(minutes=self.fresh_verification_minutes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings() -> Settings:
    """Settings from the environment, or a ConfigError naming the bad variable in one line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "TWOFOLD_" + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"{name}: {first['msg']}") from None
