"""
Shared fixtures for the client's wire tests.

A hub under test talks to an `httpx.MockTransport` whose handler records every
request and plays back scripted replies; retries sleep through a recorder that
waits for nothing; time comes from a clock the test moves. The connection string's
key is a canary that the secret tests hunt for.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio.lowlevel
import httpx
import pytest
import pytest_asyncio

from notifhub_async import AsyncNotificationHub
from tests._samples import RECORDED
from tests._sas_verifier import verify_sas_token

NAMESPACE = "contoso-test.servicebus.windows.net"
HUB_NAME = "myhub"
KEY_NAME = "DefaultFullSharedAccessSignature"
# A unique, base64-looking key with `+`, `/` and `=`, so that its raw and
# percent-encoded forms differ and both can be searched for.
CANARY_KEY = "cAnArY+9f3c7d1e/2b4a6058kEy0Zq7XwVb4u1s2N8m=="
CONNECTION_STRING = (
    f"Endpoint=sb://{NAMESPACE}/;SharedAccessKeyName={KEY_NAME};"
    f"SharedAccessKey={CANARY_KEY}"
)
HUB_URL = f"https://{NAMESPACE}/{HUB_NAME}"
MESSAGES_URL = f"{HUB_URL}/messages/"
# 2023-11-14T22:13:20Z: a fixed "now" for the injected clock.
EPOCH = 1_700_000_000.0

Reply = Callable[[httpx.Request], httpx.Response]
# What httpx.MockTransport accepts: a plain or an async handler.
Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


def reply(
    status_code: int = 201,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Reply:
    """A scripted reply that builds a fresh response each time it is played."""

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status_code, headers=headers, content=body)

    return respond


def fail(error_type: type[httpx.RequestError], message: str) -> Reply:
    """A scripted reply that raises an httpx transport error for the request."""

    def respond(request: httpx.Request) -> httpx.Response:
        raise error_type(message, request=request)

    return respond


def error_body(status_code: int, detail: str) -> bytes:
    """The service's error document (wire spec §9.2)."""
    return (
        f"<Error><Code>{status_code}</Code><Detail>{detail}</Detail></Error>"
    ).encode()


def recorded_calls(scenario: str) -> list[dict[str, Any]]:
    """
    The recorded HTTP calls of one scenario.

    Skips the test without them on a developer's machine; in CI (CI set), where
    shared/ always sits beside the checkout, a missing folder fails instead, so
    that CI never goes green on a suite that quietly ran less.
    """
    if not RECORDED.is_dir():
        message = f"the reference recordings are not at {RECORDED}"
        if os.environ.get("CI"):
            pytest.fail(message)

        pytest.skip(message)

    document = json.loads((RECORDED / f"{scenario}.json").read_text("utf-8"))
    calls: list[dict[str, Any]] = document["HttpCalls"]
    return calls


def recorded_reply(call: dict[str, Any]) -> Reply:
    """Replay one recorded response: status, headers and body."""
    headers = {**call["Headers"], **call["ContentHeaders"]}
    # The recording kept the chunked framing header, but not the chunks.
    headers.pop("Transfer-Encoding", None)
    content = call["Content"]
    body = content.encode("utf-8") if content is not None else b""
    return reply(call["StatusCode"], headers, body)


class RecordingHandler:
    """
    A MockTransport handler that records each request and plays scripted replies.

    Replies are played in order; the last one repeats for any further request.
    Each request is stored with the clock's reading when it arrived.
    """

    def __init__(self, *replies: Reply, clock: FakeClock | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.arrival_times: list[float] = []
        self._replies = list(replies) or [reply(201)]
        self._clock = clock

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.arrival_times.append(self._clock.now if self._clock else EPOCH)
        index = min(len(self.requests), len(self._replies)) - 1
        return self._replies[index](request)

    @property
    def request(self) -> httpx.Request:
        """The only request; fails the test when there was not exactly one."""
        assert len(self.requests) == 1, f"{len(self.requests)} requests recorded"
        return self.requests[0]


class FakeClock:
    """A clock that stands still unless moved (or that moves `step` per reading)."""

    def __init__(self, now: float = EPOCH, step: float = 0.0) -> None:
        self.now = now
        self.step = step
        self.readings = 0

    def __call__(self) -> float:
        current = self.now
        self.now += self.step
        self.readings += 1
        return current

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """A retry sleep that waits for nothing, records each delay and moves the clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.delays: list[float] = []
        self._clock = clock

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self._clock.advance(seconds)
        await anyio.lowlevel.checkpoint()


HubFactory = Callable[..., AsyncNotificationHub]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeper(clock: FakeClock) -> RecordingSleep:
    return RecordingSleep(clock)


@pytest_asyncio.fixture
async def make_hub(
    clock: FakeClock, sleeper: RecordingSleep
) -> AsyncIterator[HubFactory]:
    """
    Build hubs on a MockTransport: `make_hub(handler, debug=False, **options)`.

    The hubs use the test's clock and recording sleep unless told otherwise; the
    hubs and their HTTP clients are closed when the test ends.
    """
    clients: list[httpx.AsyncClient] = []
    hubs: list[AsyncNotificationHub] = []

    def factory(
        handler: Handler, debug: bool = False, **options: Any
    ) -> AsyncNotificationHub:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clients.append(client)
        options.setdefault("clock", clock)
        options.setdefault("sleep", sleeper)
        hub = AsyncNotificationHub(
            CONNECTION_STRING, HUB_NAME, debug, http_client=client, **options
        )
        hubs.append(hub)
        return hub

    yield factory

    for hub in hubs:
        await hub.aclose()

    for client in clients:
        await client.aclose()


def assert_signed(request: httpx.Request, now: float = EPOCH) -> None:
    """
    The request's Authorization is valid for its own URL under the canary key.

    Checked by the independent verifier, which imports nothing from the library.
    """
    verify_sas_token(
        request.headers["Authorization"],
        key_name=KEY_NAME,
        key=CANARY_KEY,
        request_url=str(request.url),
        now=now,
    )
