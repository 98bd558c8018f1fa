"""
Everything an emulator holds: hubs, recorded notifications, invalid handles, faults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from ._config import EmulatorConfig
from ._faults import FaultInjector
from ._records import RecordedNotification
from ._store import HubStore, IdGenerator

__all__ = ["EmulatorState"]


class EmulatorState:
    """The emulator's state; every method is safe to call from any thread."""

    def __init__(
        self, config: EmulatorConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.clock = clock
        self.ids = IdGenerator(config.seed)
        self.faults = FaultInjector(config.seed, config.faults)
        self._hubs = {hub.name.lower(): HubStore(hub, self.ids) for hub in config.hubs}
        self._lock = threading.Lock()
        self._records: list[RecordedNotification] = []
        self._invalid_handles: set[str] = set()

    def now(self) -> datetime:
        """The emulator's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def hub(self, name: str) -> HubStore | None:
        """The hub called `name` (any case), or None."""
        return self._hubs.get(name.lower())

    def record(self, notification: RecordedNotification) -> None:
        """Remember an accepted notification."""
        # TODO: records grow without bound until cleared: fine for tests, not soaks
        with self._lock:
            self._records.append(notification)

    def records(self, hub: str | None = None) -> list[RecordedNotification]:
        """The accepted notifications in order, optionally of one hub only."""
        with self._lock:
            records = list(self._records)

        if hub is None:
            return records

        return [record for record in records if record.hub.lower() == hub.lower()]

    def find_record(
        self, hub: str, notification_id: str
    ) -> RecordedNotification | None:
        """The notification with this id on this hub, or None."""
        for record in self.records(hub):
            if record.notification_id == notification_id:
                return record

        return None

    def clear_records(self) -> None:
        """Forget every recorded notification."""
        with self._lock:
            self._records.clear()

    def mark_handle_invalid(self, handle: str) -> None:
        """Make sends to `handle` fail as the service reports a dead handle."""
        with self._lock:
            self._invalid_handles.add(handle)

    def clear_invalid_handles(self) -> None:
        """Make every handle valid again."""
        with self._lock:
            self._invalid_handles.clear()

    def invalid_handles(self) -> frozenset[str]:
        """The handles marked invalid."""
        with self._lock:
            return frozenset(self._invalid_handles)
