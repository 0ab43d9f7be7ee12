"""SMS providers: which one a setting builds, and what production refuses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import Api
from tests.web.api.conftest import error
from twofold.config import ConfigError, Settings
from twofold.services.sms import LogSms, WebhookSms, build_sms


def test_the_log_provider_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="TWOFOLD_SMS_PROVIDER=log"):
        build_sms(Settings(env="production", sms_provider="log"))


def test_a_webhook_needs_its_url_and_a_real_secret() -> None:
    with pytest.raises(ConfigError, match="TWOFOLD_SMS_WEBHOOK_URL"):
        build_sms(Settings(sms_provider="webhook", sms_webhook_secret="x" * 32))
    with pytest.raises(ConfigError, match="at least 16"):
        build_sms(
            Settings(
                sms_provider="webhook", sms_webhook_url="http://h/", sms_webhook_secret="short"
            )
        )
    with pytest.raises(ConfigError, match="http"):
        build_sms(
            Settings(
                sms_provider="webhook", sms_webhook_url="ftp://h/", sms_webhook_secret="x" * 32
            )
        )
    built = build_sms(
        Settings(
            sms_provider="webhook", sms_webhook_url="https://relay/", sms_webhook_secret="x" * 32
        )
    )
    assert isinstance(built, WebhookSms)


def test_development_logs_messages(caplog: pytest.LogCaptureFixture) -> None:
    sender = build_sms(Settings(env="development"))
    assert isinstance(sender, LogSms)
    with caplog.at_level(logging.WARNING, logger="twofold.sms"):
        sender.send("+8613800138000", "code 123456")
    assert "123456" in caplog.text


def test_production_without_a_provider_answers_sms_unavailable(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(env="production", sms_provider=None)
    owner = api.signup()
    r = api.call("PUT", "/me/phone", owner, json={"phone": "+8613800138000"})
    body: dict[str, Any] = error(r, 503, "SMSUnavailable")
    assert "configured" in body["message"]
