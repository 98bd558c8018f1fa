"""
Our own CPU per send, with the HTTP library taken out of the picture.

The hub's exchange (the one object that talks to httpx or aiohttp) is replaced by
a stub that answers 201 at once, so what is timed is everything notifhub-async
does per send: tag check, header merge, limiter, token, retry loop and result
parsing. One process, one send at a time, the best of five rounds.

    .venv/bin/python -m benchmarks.own_overhead [--sends 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import Any

from notifhub_async import AsyncNotificationHub, Notification

from ._senders import PAYLOAD, TAGS

_CONNECTION_STRING = (
    "Endpoint=sb://overhead.servicebus.windows.net/;"
    "SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=a2V5"
)
_HEADERS = {
    "Location": "https://overhead.servicebus.windows.net/hub/messages/1?api-version=1",
    "TrackingId": "tracking",
    "x-ms-correlation-request-id": "correlation",
}


class _Reply:
    status_code = 201
    reason_phrase = "Created"
    headers: Mapping[str, str] = _HEADERS
    content = b""


class _StubExchange:
    """Answers every request with the same 201, doing no I/O."""

    def prepare_url(self, url: str) -> Any:
        return url

    async def send(
        self,
        method: str,
        url: Any,
        headers: dict[str, str],
        content: bytes | None,
        operation: str,
    ) -> _Reply:
        return _Reply()

    async def aclose(self) -> None:
        return None


async def _microseconds_per_send(sends: int) -> float:
    hub = AsyncNotificationHub(_CONNECTION_STRING, "hub")
    # The one private hook used: the exchange is the seam between us and httpx.
    hub._exchange = _StubExchange()
    notification = Notification("apple", PAYLOAD)
    best = float("inf")
    async with hub:
        for _ in range(1000):
            await hub.send_notification(notification, TAGS)

        for _ in range(5):
            started = time.process_time()
            for _ in range(sends):
                await hub.send_notification(notification, TAGS)

            best = min(best, (time.process_time() - started) / sends * 1e6)

    return best


def main(argv: list[str] | None = None) -> int:
    """Print our own CPU per send."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.own_overhead")
    parser.add_argument("--sends", type=int, default=200_000)
    arguments = parser.parse_args(argv)
    microseconds = asyncio.run(_microseconds_per_send(arguments.sends))
    print(
        f"notifhub-async's own CPU per send: {microseconds:.2f} µs (exchange stubbed)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
