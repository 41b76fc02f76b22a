"""Conformance over every registered notifier kind that has an implementation.

For each kind: no secret (token, webhook URL path, signing secret) in any log record or
exception text, the status → retry table, and an idempotent close. Kinds whose module
has not landed yet are skipped.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import pytest

from alertbot.errors import DeliveryError
from alertbot.notifiers import NOTIFIERS
from alertbot.notifiers.base import Notifier
from alertbot.notifiers.http import NotifierContext
from tests.fakes.http_receiver import HttpReceiver, Reply, Request

from .samples import make_notification

TOKEN = "123456789:AAHsecretTOKENvalue_xyz"
SLACK_PATH = "/services/TSECRET01/BSECRET02/slackSECRETpath"
SIGNING = "whsec_c2lnbmluZy1zZWNyZXQtdmFsdWUtMTIzNDU="
SECRETS = (TOKEN, "AAHsecretTOKENvalue_xyz", SLACK_PATH, "slackSECRETpath", SIGNING,
           "c2lnbmluZy1zZWNyZXQtdmFsdWUtMTIzNDU=", "querySECRETtoken", "hdrSECRETvalue")

# kind → (settings for a receiver at base URL, whether it speaks HTTP)
SAMPLES: dict[str, tuple[Callable[[str], dict[str, Any]], bool]] = {
    "webhook": (lambda base: {"kind": "webhook", "url": base + "/in?key=querySECRETtoken",
                              "secret": SIGNING, "timeout": 0.2,
                              "headers": {"Authorization": "Bearer hdrSECRETvalue"}}, True),
    "slack": (lambda base: {"kind": "slack", "webhook_url": base + SLACK_PATH,
                            "timeout": 0.2}, True),
    "telegram": (lambda base: {"kind": "telegram", "token": TOKEN, "chat_id": "-100123",
                               "api_url": base + "/bot", "timeout": 0.2}, True),
    "console": (lambda base: {"kind": "console"}, False),
}
RETRY_TABLE = {400: False, 403: False, 404: False, 429: True, 500: True, 503: True}


def implemented() -> list[str]:
    kinds = []
    for kind, entry in sorted(NOTIFIERS.items()):
        module = entry.factory.partition(":")[0]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        kinds.append(kind)
    return kinds


KINDS = implemented()
HTTP_KINDS = [k for k in KINDS if k in SAMPLES and SAMPLES[k][1]]


def telegram_aware(status: int) -> Callable[[Request], Reply | None]:
    """Answer getMe like Telegram; everything else gets `status` in Bot API shape."""
    def route(request: Request) -> Reply:
        if request.path.endswith("/getMe"):
            return Reply(200, '{"ok":true,"result":{"id":1,"is_bot":true,'
                              '"first_name":"t","username":"t_bot"}}',
                         {"Content-Type": "application/json"})
        if status == 200:
            return Reply(200, '{"ok":true,"result":{"message_id":1,"date":0,'
                              '"chat":{"id":-100123,"type":"supergroup"}}}')
        params = ',"parameters":{"retry_after":1}' if status == 429 else ""
        return Reply(status, f'{{"ok":false,"error_code":{status},"description":'
                             f'"Error {status}"{params}}}',
                     {"Retry-After": "1"} if status == 429 else {})
    return route


def echo_path(status: int) -> Callable[[Request], Reply | None]:
    """Answer `status` with a body echoing the request path, as many servers do."""
    def route(request: Request) -> Reply:
        return Reply(status, f"error: no route for {request.path}",
                     {"Retry-After": "1"} if status == 429 else {})
    return route


def build(kind: str, base: str) -> Notifier:
    entry = NOTIFIERS[kind]
    settings = entry.settings.model_validate(SAMPLES[kind][0](base))
    return entry.build("conf_" + kind, settings, NotifierContext())


def assert_no_secret(text: str) -> None:
    for s in SECRETS:
        assert s not in text, f"secret fragment {s[:6]}… leaked"


def test_every_kind_has_a_sample() -> None:
    """Every registered kind with an implementation is covered by this test's samples."""
    assert set(KINDS) <= set(SAMPLES)


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize(("status", "retry"), sorted(RETRY_TABLE.items()))
async def test_status_table_and_no_secret_leaks(kind: str, status: int, retry: bool,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Each error status maps to the retry table; no secret in logs or the error."""
    caplog.set_level(logging.DEBUG)
    async with HttpReceiver(route=telegram_aware(status) if kind == "telegram"
                            else echo_path(status)) as rx:
        notifier = build(kind, rx.url)
        with pytest.raises(DeliveryError) as info:
            await notifier.send(make_notification(notifier.name))
        await notifier.aclose()
    assert info.value.retry is retry
    if status == 429:
        assert info.value.retry_after == 1.0
    assert_no_secret(str(info.value) + repr(info.value.args))
    assert_no_secret(caplog.text)


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_timeout_and_refused_are_retryable_without_secrets(
        kind: str, caplog: pytest.LogCaptureFixture) -> None:
    """A held request (timeout) and a closed port both retry; no secret leaks."""
    caplog.set_level(logging.DEBUG)
    errors: list[DeliveryError] = []
    async with HttpReceiver(default=Reply(hold=True)) as rx:
        notifier = build(kind, rx.url)
        try:
            await notifier.send(make_notification(notifier.name))
        except DeliveryError as exc:
            errors.append(exc)
        await notifier.aclose()
    notifier = build(kind, rx.url)  # the receiver is closed now: connection refused
    try:
        await notifier.send(make_notification(notifier.name))
    except DeliveryError as exc:
        errors.append(exc)
    await notifier.aclose()
    assert len(errors) == 2 and all(e.retry for e in errors)
    for e in errors:
        assert_no_secret(str(e))
    assert_no_secret(caplog.text)


@pytest.mark.parametrize("kind", KINDS)
async def test_close_is_idempotent(kind: str) -> None:
    """aclose() twice is fine, whether or not anything was sent."""
    async with HttpReceiver() as rx:
        notifier = build(kind, rx.url)
        await notifier.aclose()
        await notifier.aclose()
    assert notifier.name == "conf_" + kind
