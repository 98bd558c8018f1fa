"""
Run one workload in this (fresh) process and print its measurement as JSON.

Usage: `python -m benchmarks._worker '<workload JSON>'` (run_workers does this).
The warm-up opens the connections and warms every code path; only the timed part
after it is measured, with this process's own CPU time.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from dataclasses import asdict

from ._harness import Measurement, Workload, drive, drive_sync, peak_rss_mb
from ._senders import ASYNC_CLIENTS, SYNC_CLIENTS


async def _run_async(workload: Workload) -> Measurement:
    factory = ASYNC_CLIENTS[workload.client]
    async with factory(workload) as send:
        await drive(
            send,
            in_flight=workload.in_flight,
            sends=max(workload.warmup_sends, workload.in_flight),
            budget_seconds=workload.warmup_seconds,
        )
        gc.collect()
        rss_before = peak_rss_mb()
        cpu_started = time.process_time()
        sends, seconds = await drive(
            send,
            in_flight=workload.in_flight,
            sends=workload.sends,
            budget_seconds=workload.budget_seconds,
        )
        cpu_seconds = time.process_time() - cpu_started

    return Measurement(
        sends=sends,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        peak_rss_mb=peak_rss_mb(),
        rss_before_run_mb=rss_before,
    )


def _run_sync(workload: Workload) -> Measurement:
    send = SYNC_CLIENTS[workload.client](workload)
    drive_sync(send, sends=3, budget_seconds=workload.warmup_seconds)
    gc.collect()
    rss_before = peak_rss_mb()
    cpu_started = time.process_time()
    sends, seconds = drive_sync(
        send, sends=workload.sends, budget_seconds=workload.budget_seconds
    )
    cpu_seconds = time.process_time() - cpu_started
    return Measurement(
        sends=sends,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        peak_rss_mb=peak_rss_mb(),
        rss_before_run_mb=rss_before,
    )


def main() -> None:
    """Run the workload given as the only argument."""
    workload = Workload.from_json(sys.argv[1])
    if workload.client in SYNC_CLIENTS:
        measurement = _run_sync(workload)
    else:
        measurement = asyncio.run(_run_async(workload))

    print(json.dumps(asdict(measurement)))


if __name__ == "__main__":
    main()
