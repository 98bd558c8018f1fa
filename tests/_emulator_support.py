"""Shared helpers for the emulator's in-process tests (not a test module)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from notifhub_async import AsyncNotificationHub, RetryPolicy, generate_sas_token
from notifhub_async.emulator import Emulator, EmulatorConfig

ENDPOINT = "https://emulator.test/"
HUB = "myhub"
API = "api-version=2020-06"
FULL = "DefaultFullSharedAccessSignature"
LISTEN = "DefaultListenSharedAccessSignature"
# A fixed "now" for tokens, far from any real clock, so that expiry is explicit.
NOW = 1_900_000_000.0
NH_NAMESPACE = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"


@dataclass
class SleepRecorder:
    """An injected sleep that records each delay instead of waiting."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@dataclass
class Harness:
    """An emulator, an httpx client wired to it in-process, and signing helpers."""

    emulator: Emulator
    client: httpx.AsyncClient
    # The client's waits between retries, and the emulator's injected latency.
    sleep: SleepRecorder
    emulator_sleep: SleepRecorder
    attempts: list[httpx.Request]

    def key(self, rule: str = FULL, hub: str = HUB) -> str:
        hub_config = self.emulator.config.hub(hub)
        assert hub_config is not None
        access = hub_config.rule(rule)
        assert access is not None
        return access.key

    def hub(
        self,
        rule: str = FULL,
        *,
        retry: RetryPolicy | None = None,
        clock_offset: float = 0.0,
    ) -> AsyncNotificationHub:
        """Our real client, pointed at the emulator through the ASGI transport."""
        return AsyncNotificationHub(
            self.emulator.connection_string(ENDPOINT, rule=rule),
            HUB,
            http_client=self.client,
            retry=retry,
            clock=lambda: NOW + clock_offset,
            sleep=self.sleep,
        )

    def token(
        self,
        rule: str = FULL,
        audience: str = f"{ENDPOINT}{HUB}",
        expires_at: int = int(NOW) + 3600,
    ) -> str:
        return generate_sas_token(audience, rule, self.key(rule), expires_at)

    async def call(
        self,
        method: str,
        path: str,
        *,
        rule: str = FULL,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        authorization: str | None = None,
    ) -> httpx.Response:
        """A raw request to `ENDPOINT + path` signed with `rule` unless overridden."""
        all_headers = {"Authorization": authorization or self.token(rule)}
        all_headers.update(headers or {})
        return await self.client.request(
            method, f"{ENDPOINT}{path}", headers=all_headers, content=content, json=json
        )


def make_harness(config: EmulatorConfig | None = None) -> Harness:
    emulator_sleep = SleepRecorder()
    emulator = Emulator(config, clock=lambda: NOW, sleep=emulator_sleep)
    attempts: list[httpx.Request] = []

    async def remember(request: httpx.Request) -> None:
        attempts.append(request)

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator),
        event_hooks={"request": [remember]},
    )
    return Harness(emulator, client, SleepRecorder(), emulator_sleep, attempts)


def installation(
    installation_id: str,
    platform: str = "apns",
    push_channel: str | None = None,
    tags: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "installationId": installation_id,
        "platform": platform,
        "pushChannel": push_channel or f"handle-{installation_id}",
    }
    if tags is not None:
        document["tags"] = tags

    document.update(extra)
    return document


async def put_installation(harness: Harness, document: dict[str, Any]) -> None:
    response = await harness.call(
        "PUT",
        f"{HUB}/installations/{document['installationId']}?{API}",
        json=document,
    )
    assert response.status_code == 200, response.text
