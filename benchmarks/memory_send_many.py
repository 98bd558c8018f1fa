"""
Peak memory of send_many streaming a lazy generator of a million items.

The hub talks to an in-process transport that answers 201 at once, so the run
measures our own memory, not a network's. The baseline is peak RSS after a warm-up
fan-out of 10,000 items in the same process; the figure reported is how much the
million-item run grows the peak beyond it. Target: under 50 MB.

    .venv/bin/python benchmarks/memory_send_many.py [--items 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx

from notifhub_async import (
    AsyncNotificationHub,
    ItemResult,
    ItemStatus,
    Notification,
    SendItem,
)

TARGET_MB = 50.0
RESULTS = Path(__file__).parent / "results"
CONNECTION_STRING = (
    "Endpoint=sb://memory.servicebus.windows.net/;"
    "SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=bWVtb3J5"
)


class InstantTransport(httpx.AsyncBaseTransport):
    """Answers every request with the service's 201, without any I/O."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return httpx.Response(
            201,
            headers={
                "Location": "https://memory.servicebus.windows.net/hub/messages/1",
                "TrackingId": "00000000-0000-0000-0000-000000000000",
            },
        )


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux: ru_maxrss KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def personalised(count: int) -> Iterator[SendItem]:
    """A lazy stream of distinct notifications, as a backend would generate them."""
    for number in range(count):
        yield SendItem(
            Notification("apple", {"aps": {"alert": f"Order {number} has shipped"}}),
            f"$UserId:{{user{number}}}",
        )


async def fan_out(hub: AsyncNotificationHub, count: int) -> tuple[int, float]:
    """Stream `count` items through send_many; returns (sent, seconds)."""
    sent = 0

    def on_result(result: ItemResult) -> None:
        nonlocal sent
        sent += result.status is ItemStatus.SENT

    started = time.perf_counter()
    report = await hub.send_many(
        personalised(count), keep_results=False, on_result=on_result
    )
    elapsed = time.perf_counter() - started
    assert report.total == count and report.results == ()
    return sent, elapsed


async def main(items: int) -> int:
    client = httpx.AsyncClient(transport=InstantTransport())
    async with AsyncNotificationHub(
        CONNECTION_STRING, "hub", http_client=client, max_concurrency=64
    ) as hub:
        await fan_out(hub, 10_000)
        baseline = peak_rss_mb()
        sent, elapsed = await fan_out(hub, items)
        growth = peak_rss_mb() - baseline

    await client.aclose()
    verdict = "PASS" if growth < TARGET_MB and sent == items else "FAIL"
    print(f"items streamed      {items:>12,}")
    print(f"sent                {sent:>12,}")
    print(f"time                {elapsed:>11.1f}s ({items / elapsed:,.0f} items/s)")
    print(f"peak RSS baseline   {baseline:>10.1f} MB (after a 10,000-item warm-up)")
    print(f"peak RSS growth     {growth:>10.1f} MB (target < {TARGET_MB:.0f} MB)")
    print(f"verdict             {verdict:>12}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(
        json.dumps(
            {
                "items": items,
                "sent": sent,
                "seconds": round(elapsed, 2),
                "baseline_mb": round(baseline, 1),
                "growth_mb": round(growth, 1),
                "target_mb": TARGET_MB,
                "verdict": verdict,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    sys.exit(anyio.run(main, parser.parse_args().items))
