"""
A local Azure Notification Hubs emulator, for tests and demos.

    from notifhub_async import AsyncNotificationHub
    from notifhub_async.emulator import Emulator

    emulator = Emulator()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator))
    hub = AsyncNotificationHub(
        emulator.connection_string("https://emulator.test/"), "myhub",
        http_client=client,
    )
    await hub.send_apple_notification({"aps": {"alert": "Hi"}}, "news")
    assert emulator.records[0].tags == "news"

`Emulator` is an ASGI application (Starlette) holding hubs, installations and
registrations in memory; `EmulatorServer` serves it over loopback HTTPS. It needs the
`notifhub-async[emulator]` extra. It authenticates SAS tokens, validates sends,
stores installations (JSON) and registrations (Atom XML), resolves tag expressions
and templates, records every accepted notification and injects faults on demand;
`/_emulator/` endpoints (no authentication) expose the same controls over HTTP.
"""

from ._app import Emulator
from ._atom import Registration
from ._config import AccessRule, EmulatorConfig, FaultKind, FaultRule, HubConfig
from ._faults import ConnectionReset
from ._records import RecordedNotification, RecordedTarget
from ._server import EmulatorServer

__all__ = [
    "AccessRule",
    "ConnectionReset",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "FaultKind",
    "FaultRule",
    "HubConfig",
    "RecordedNotification",
    "RecordedTarget",
    "Registration",
]
