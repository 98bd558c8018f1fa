"""
The main job, end to end, on one machine and no Azure account: `make demo`.

Starts the local Notification Hubs emulator on loopback HTTPS, then, through the
public client API only: registers a few hundred installations across platforms and
tags, sends a broadcast, a tag send, a tag-expression send, a template send and a
test send (whose per-device outcome it prints), and finally fans out a few thousand
sends concurrently while the emulator injects faults, printing throughput and a
summary per status.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter

import anyio

from notifhub_async import (
    AsyncNotificationHub,
    Installation,
    InstallationTemplate,
    ItemStatus,
    Notification,
    NotificationOutcome,
    RetryPolicy,
    SendItem,
)
from notifhub_async.emulator import EmulatorServer, FaultRule

PLATFORMS = ("apns", "fcmv1", "wns", "browser")
TOPICS = ("sports", "news", "weather", "music")
CITIES = ("paris", "tokyo", "lagos", "lima")


def installation_for(number: int, rng: random.Random) -> Installation:
    """A fake device: a platform, a handle, two topics, a city and a user."""
    platform = PLATFORMS[number % len(PLATFORMS)]
    topics = rng.sample(TOPICS, 2)
    if platform == "browser":
        channel: str | dict[str, str] = {
            "endpoint": f"https://push.example.test/{number:06d}",
            "p256dh": f"key{number:06d}",
            "auth": f"auth{number:06d}",
        }
    else:
        channel = f"{platform}-handle-{number:06d}"

    return Installation(
        installation_id=f"device-{number:04d}",
        platform=platform,
        push_channel=channel,
        # Cities cycle more slowly than platforms, so every city has every platform.
        tags=(*topics, f"city_{CITIES[(number // len(PLATFORMS)) % len(CITIES)]}"),
        user_id=f"user{number % 50}",
        templates={
            "greeting": InstallationTemplate(
                body='{"aps":{"alert":"$(message)"}}'
                if platform == "apns"
                else '{"message":{"notification":{"body":"$(message)"}}}',
                headers={"X-WNS-Type": "wns/raw"} if platform == "wns" else {},
            )
        },
    )


def print_outcome(outcome: NotificationOutcome | None) -> None:
    """Print a test send's per-device outcome as a table."""
    if outcome is None:
        print("  (the service returned no outcome)")
        return

    print(f"  success={outcome.success} failure={outcome.failure}")
    print(f"  {'platform':<10} {'registration':<34} outcome")
    for result in outcome.results:
        print(f"  {result.platform:<10} {result.registration_id:<34} {result.outcome}")


async def register_devices(hub: AsyncNotificationHub, count: int) -> None:
    """Create `count` installations, a bounded number at a time."""
    rng = random.Random(7)
    limiter = anyio.CapacityLimiter(hub.max_concurrency)

    async def register(number: int) -> None:
        async with limiter:
            await hub.create_or_update_installation(installation_for(number, rng))

    started = time.perf_counter()
    async with anyio.create_task_group() as task_group:
        for number in range(count):
            task_group.start_soon(register, number)

    elapsed = time.perf_counter() - started
    print(f"registered {count} installations in {elapsed:.2f}s")


async def single_sends(hub: AsyncNotificationHub, server: EmulatorServer) -> None:
    """One send of each kind, printing what the emulator resolved."""
    alert = {"aps": {"alert": "Hello from notifhub-async"}}
    before = len(server.emulator.records)
    await hub.send_apple_notification(alert)
    await hub.send_apple_notification(alert, "sports")
    await hub.send_apple_notification(alert, "(sports || news) && city_paris")
    await hub.send_template_notification({"message": "Bonjour"}, {"music"})
    for record in server.emulator.records[before:]:
        audience = record.tags or "everyone (broadcast)"
        print(
            f"  {record.format:<9} to {audience:<34} reached "
            f"{len(record.targets)} devices"
        )

    server.emulator.mark_handle_invalid("apns-handle-000004")
    result = await hub.send_apple_notification(
        alert, "$InstallationId:{device-0004} || city_tokyo", test_send=True
    )
    print("test send to device-0004 and Tokyo (at most 10 devices listed):")
    print_outcome(result.outcome)


async def fan_out(
    hub: AsyncNotificationHub, server: EmulatorServer, count: int
) -> None:
    """Send `count` personalised notifications concurrently, with faults injected."""
    server.emulator.add_fault(FaultRule(kind="unavailable", probability=0.03))
    server.emulator.add_fault(
        FaultRule(kind="throttle", probability=0.01, retry_after=0.2, count=3)
    )
    server.emulator.add_fault(FaultRule(kind="server-error", probability=0.005))

    def items() -> list[SendItem]:
        return [
            SendItem(
                Notification("apple", {"aps": {"alert": f"Your order {number} ships"}}),
                f"$UserId:{{user{number % 50}}}",
            )
            for number in range(count)
        ]

    started = time.perf_counter()
    report = await hub.send_many(items())
    elapsed = time.perf_counter() - started
    server.emulator.clear_faults()
    print(
        f"sent {report.total} notifications in {elapsed:.2f}s "
        f"({report.total / elapsed:,.0f}/s) with {hub.max_concurrency} in flight"
    )
    print(
        "  (the emulator and this client share one process and both ends of TLS; "
        "docs/performance.md has real figures)"
    )
    counts = Counter({status: n for status, n in report.counts.items() if n})
    for status in ItemStatus:
        if counts[status]:
            print(f"  {status.value:<14} {counts[status]:>6}")


async def main(devices: int, sends: int) -> int:
    """Run the whole demo; returns the exit status."""
    async with EmulatorServer() as server:
        print(f"emulator listening on {server.endpoint} (CA: {server.ca_path})")
        hub_name = server.emulator.config.hubs[0].name
        hub = AsyncNotificationHub(
            server.connection_string(),
            hub_name,
            verify=server.ssl_context(),
            # Quick retries so that the demo's injected 503s and 429s resolve fast.
            retry=RetryPolicy(base_delay=0.05, max_delay=1.0),
        )
        async with hub:
            await register_devices(hub, devices)
            print("single sends:")
            await single_sends(hub, server)
            await fan_out(hub, server, sends)

    return 0


def cli() -> int:
    """Parse the command line and run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--sends", type=int, default=3000)
    arguments = parser.parse_args()
    return anyio.run(main, arguments.devices, arguments.sends)


if __name__ == "__main__":
    sys.exit(cli())
