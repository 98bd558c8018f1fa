"""
The `debug=True` dump: visible on stderr with no logging configured, token redacted.

Unlike the original sample, debug mode changes no control flow: errors are raised.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

import pytest

from notifhub_async import AuthenticationError, Notification
from tests.conftest import (
    CANARY_KEY,
    MESSAGES_URL,
    HubFactory,
    RecordingHandler,
    error_body,
    reply,
)

pytestmark = pytest.mark.asyncio

OUTCOME = (
    b'<NotificationOutcome xmlns="http://schemas.microsoft.com/netservices/2010/10/'
    b'servicebus/connect"><Success>0</Success><Failure>0</Failure>'
    b"<Results/></NotificationOutcome>"
)
LOCATION = "https://contoso-test.servicebus.windows.net/myhub/messages/n-1"
LOGGER_NAMES = ("", "notifhub_async", "notifhub_async.dump")


@contextlib.contextmanager
def no_logging_configured() -> Iterator[None]:
    """
    Strip every handler from the root and library loggers, as in an application
    that never configured logging; restore them (and the levels) afterwards.

    Used inside the test body: pytest adds its own capturing handlers to the root
    logger after fixtures are set up.
    """
    loggers = [logging.getLogger(name) for name in LOGGER_NAMES]
    saved = [(logger, logger.handlers[:], logger.level) for logger in loggers]
    for logger in loggers:
        logger.handlers.clear()

    try:
        yield
    finally:
        for logger, handlers, level in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)


def token_of(handler: RecordingHandler) -> str:
    return handler.requests[-1].headers["Authorization"]


def signature_of(token: str) -> str:
    fields = dict(part.split("=", 1) for part in token.split(" ", 1)[1].split("&"))
    return fields["sig"]


async def test_dump_on_stderr_without_logging(
    make_hub: HubFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    handler = RecordingHandler(
        reply(
            201,
            {"Location": LOCATION, "TrackingId": "track-1", "Content-Type": "x/y"},
            OUTCOME,
        )
    )
    with no_logging_configured():
        hub = make_hub(handler, debug=True)
        await hub.send_apple_notification({"aps": {"alert": "dumped"}}, "sports")

    err = capfd.readouterr().err
    # Header names may be shown in any case (httpx normalises them).
    lines = err.lower().splitlines()
    assert f"POST {MESSAGES_URL}?api-version=2020-06&test" in err
    assert "servicebusnotification-format: apple" in lines
    assert "servicebusnotification-tags: sports" in lines
    assert "authorization: [redacted]" in lines
    assert '{"aps":{"alert":"dumped"}}' in err
    assert any(line.startswith("<-- 201") for line in lines)
    assert "trackingid: track-1" in lines
    assert "<Success>0</Success>" in err
    token = token_of(handler)
    assert token not in err
    assert signature_of(token) not in err
    assert CANARY_KEY not in err


async def test_debug_mode_still_raises(
    make_hub: HubFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    body = error_body(401, "ExpiredToken: the token has expired")
    handler = RecordingHandler(reply(401, {"TrackingId": "t-401"}, body))
    with no_logging_configured(), pytest.raises(AuthenticationError) as caught:
        hub = make_hub(handler, debug=True)
        await hub.send_notification(Notification("gcm", {"data": {}}))

    assert caught.value.status_code == 401
    err = capfd.readouterr().err
    assert any(line.startswith("<-- 401") for line in err.splitlines())
    assert "ExpiredToken: the token has expired" in err
    assert token_of(handler) not in err


async def test_dump_follows_stderr_replaced_after_hub_creation(
    make_hub: HubFactory,
) -> None:
    replacement = io.StringIO()
    with no_logging_configured():
        hub = make_hub(RecordingHandler(), debug=True)
        with contextlib.redirect_stderr(replacement):
            await hub.send_gcm_notification({"data": {"late": "stderr"}})

    assert '{"data":{"late":"stderr"}}' in replacement.getvalue()


async def test_dump_is_not_printed_twice_once_logging_is_configured(
    make_hub: HubFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    # The hub is created before the application configures logging; afterwards
    # the dump goes to the application's handler only.
    application_output = io.StringIO()
    with no_logging_configured():
        hub = make_hub(RecordingHandler(), debug=True)
        logging.getLogger().addHandler(logging.StreamHandler(application_output))
        await hub.send_gcm_notification({"data": {"once": "only"}})

    assert application_output.getvalue().count('{"data":{"once":"only"}}') == 1
    assert '{"data":{"once":"only"}}' not in capfd.readouterr().err


async def test_dump_reaches_stderr_when_the_application_logs_at_info(
    make_hub: HubFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    # The application's handler drops DEBUG records: the dump must not vanish.
    application_output = io.StringIO()
    with no_logging_configured():
        application_handler = logging.StreamHandler(application_output)
        application_handler.setLevel(logging.INFO)
        logging.getLogger().addHandler(application_handler)
        hub = make_hub(RecordingHandler(), debug=True)
        await hub.send_gcm_notification({"data": {"seen": "anyway"}})

    assert '{"data":{"seen":"anyway"}}' in capfd.readouterr().err
    assert "anyway" not in application_output.getvalue()


async def test_dump_propagates_to_configured_logging(
    make_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="notifhub_async")
    handler = RecordingHandler()
    hub = make_hub(handler, debug=True)

    await hub.send_gcm_notification({"data": {"via": "logging"}})

    dumps = [r for r in caplog.records if r.name == "notifhub_async.dump"]
    assert len(dumps) == 1
    text = dumps[0].getMessage()
    assert '{"data":{"via":"logging"}}' in text
    assert "[redacted]" in text
    assert token_of(handler) not in text


async def test_no_dump_without_debug(
    make_hub: HubFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    with no_logging_configured():
        hub = make_hub(RecordingHandler())
        await hub.send_gcm_notification({"data": {"quiet": "please"}})

    assert '"quiet"' not in capfd.readouterr().err
