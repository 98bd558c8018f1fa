"""
In-memory storage of one hub's installations and registrations, and id generation.

The emulator may run in a server thread while a test reads its state from another,
so every access takes the store's lock; stored objects are replaced, never mutated,
so a snapshot stays valid after the lock is released.
"""

from __future__ import annotations

import copy
import random
import threading
from datetime import datetime
from typing import Any

from ._atom import Description, Registration
from ._config import HubConfig
from ._devices import (
    InstallationDevice,
    Target,
    installation_device,
    registration_target,
)

__all__ = [
    "HubStore",
    "IdGenerator",
    "PreconditionFailed",
    "RegistrationNotFound",
    "etag_matches",
]


class PreconditionFailed(Exception):
    """An If-Match header names an ETag the registration no longer has."""


class RegistrationNotFound(Exception):
    """No registration has the requested id."""


class IdGenerator:
    """Ids shaped like the service's, drawn from a generator seeded by the config."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(f"ids:{seed}")
        self._lock = threading.Lock()
        self._counter = 0

    def registration_id(self) -> str:
        """Like `4497227228776861650-7267172778370643468-3`."""
        with self._lock:
            first = self._random.getrandbits(62)
            second = self._random.getrandbits(62)
            return f"{first}-{second}-{self._random.randint(1, 3)}"

    def notification_id(self, now: datetime) -> str:
        """Like `73622a22797441e4b434e8c2c14112ce-20181107001834-33331921-18`."""
        with self._lock:
            self._counter += 1
            unique = self._random.getrandbits(128)
            return f"{unique:032x}-{now:%Y%m%d%H%M%S}-{self._counter + 33331920}-1"


def etag_matches(if_match: str, etag: int) -> bool:
    """Whether an If-Match value (`*`, `"3"`, `W/"3"`, `3`, or a list) allows `etag`."""
    for candidate in if_match.split(","):
        value = candidate.strip()
        if value == "*":
            return True

        value = value.removeprefix("W/").strip().strip('"')
        if value == str(etag):
            return True

    return False


class HubStore:
    """One hub: its configuration, installations and registrations."""

    def __init__(self, config: HubConfig, ids: IdGenerator) -> None:
        self.config = config
        self._ids = ids
        self._lock = threading.Lock()
        self._installations: dict[str, dict[str, Any]] = {}
        self._devices: dict[str, InstallationDevice] = {}
        self._registration_targets: dict[str, Target] = {}
        self._registrations: dict[str, Registration] = {}

    # -- installations ------------------------------------------------------------

    def put_installation(self, installation: dict[str, Any]) -> None:
        """Create or overwrite an installation (already validated)."""
        device = installation_device(installation)
        with self._lock:
            self._installations[installation["installationId"]] = installation
            self._devices[installation["installationId"]] = device

    def get_installation(self, installation_id: str) -> dict[str, Any] | None:
        """A copy of the installation, or None."""
        with self._lock:
            installation = self._installations.get(installation_id)
            return copy.deepcopy(installation) if installation is not None else None

    def delete_installation(self, installation_id: str) -> bool:
        """Delete an installation; False if there was none."""
        with self._lock:
            self._devices.pop(installation_id, None)
            return self._installations.pop(installation_id, None) is not None

    def devices(self) -> list[InstallationDevice]:
        """The installations as sends see them, oldest first."""
        with self._lock:
            return list(self._devices.values())

    def installations(self) -> dict[str, dict[str, Any]]:
        """A deep copy of every installation, by id."""
        with self._lock:
            return copy.deepcopy(self._installations)

    # -- registrations ------------------------------------------------------------

    def new_registration_id(self) -> str:
        """A fresh id, as POST /registrationids hands out."""
        return self._ids.registration_id()

    def create_registration(
        self, description: Description, now: datetime
    ) -> Registration:
        """Store a new registration under a fresh id, ETag 1."""
        registration = Registration(
            registration_id=self._ids.registration_id(),
            description=description,
            etag=1,
            updated=now,
            published=now,
        )
        with self._lock:
            self._keep(registration)

        return registration

    def put_registration(
        self,
        registration_id: str,
        description: Description,
        if_match: str | None,
        now: datetime,
    ) -> Registration:
        """
        Create or replace a registration, its ETag one higher than before.

        Raises:
            PreconditionFailed: `if_match` was given and does not match (or there is
                no registration to match).
        """
        with self._lock:
            current = self._registrations.get(registration_id)
            if if_match is not None and (
                current is None or not etag_matches(if_match, current.etag)
            ):
                raise PreconditionFailed

            registration = Registration(
                registration_id=registration_id,
                description=description,
                etag=current.etag + 1 if current is not None else 1,
                updated=now,
                published=current.published if current is not None else now,
            )
            self._keep(registration)
            return registration

    def get_registration(self, registration_id: str) -> Registration | None:
        """The registration, or None."""
        with self._lock:
            return self._registrations.get(registration_id)

    def delete_registration(self, registration_id: str, if_match: str | None) -> None:
        """
        Delete a registration.

        Raises:
            RegistrationNotFound: there is none with that id.
            PreconditionFailed: `if_match` was given and does not match.
        """
        with self._lock:
            current = self._registrations.get(registration_id)
            if current is None:
                raise RegistrationNotFound

            if if_match is not None and not etag_matches(if_match, current.etag):
                raise PreconditionFailed

            del self._registrations[registration_id]
            del self._registration_targets[registration_id]

    def registrations(self) -> list[Registration]:
        """Every registration, oldest first."""
        with self._lock:
            return list(self._registrations.values())

    def registration_targets(self) -> list[tuple[Registration, Target]]:
        """Every registration with its ready-made target, oldest first."""
        with self._lock:
            return [
                (registration, self._registration_targets[registration_id])
                for registration_id, registration in self._registrations.items()
            ]

    def _keep(self, registration: Registration) -> None:
        # Called with the lock held.
        self._registrations[registration.registration_id] = registration
        self._registration_targets[registration.registration_id] = registration_target(
            registration
        )
