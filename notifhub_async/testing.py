"""
A pytest plugin: the local Notification Hubs emulator as fixtures.

Installed with notifhub-async (entry point `pytest11`); the fixtures need the
`notifhub-async[emulator]` extra, and `nh_hub` needs pytest-asyncio.

- `nh_emulator_config` (session): the `EmulatorConfig` the emulator starts with;
  override it in a conftest.py for other hubs, a seed or start-up faults.
- `nh_emulator_server` (session): the `EmulatorServer`, started on first use on
  loopback HTTPS and stopped when the session ends.
- `nh_emulator` (per test): the same server, its emulator reset before and after
  each test (records, installations, registrations, invalid handles, faults).
- `nh_hub` (per test, async): an `AsyncNotificationHub` on the first hub with the
  Full rule, trusting the emulator's CA; closed after the test.

See docs/testing.md.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from ._client import AsyncNotificationHub

if TYPE_CHECKING:
    from .emulator import EmulatorConfig, EmulatorServer

__all__ = [
    "nh_emulator",
    "nh_emulator_config",
    "nh_emulator_server",
    "nh_hub",
]

_EXTRA_MISSING = (
    "the nh_emulator fixtures need the emulator extra: "
    "pip install 'notifhub-async[emulator]'"
)


@pytest.fixture(scope="session")
def nh_emulator_config() -> EmulatorConfig | None:
    """The emulator's configuration; None means the default (one hub, `myhub`)."""
    return None


@pytest.fixture(scope="session")
def nh_emulator_server(
    nh_emulator_config: EmulatorConfig | None,
) -> Iterator[EmulatorServer]:
    """The emulator on loopback HTTPS, shared by the whole session."""
    # Imported here: the plugin loads in every pytest run of an environment with
    # notifhub-async installed, with or without the extra.
    try:
        from .emulator import Emulator, EmulatorServer
    except ImportError as exc:
        pytest.fail(f"{_EXTRA_MISSING} ({exc})", pytrace=False)

    with EmulatorServer(Emulator(nh_emulator_config)) as server:
        yield server


@pytest.fixture
def nh_emulator(nh_emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The running emulator, with the state it started with, for one test."""
    nh_emulator_server.emulator.reset()
    yield nh_emulator_server
    # Also afterwards, so that faults a test added never reach code that uses
    # nh_emulator_server directly.
    nh_emulator_server.emulator.reset()


if TYPE_CHECKING or importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def nh_hub(
        nh_emulator: EmulatorServer,
    ) -> AsyncIterator[AsyncNotificationHub]:
        """A client for the emulator's first hub, closed after the test."""
        hub_name = nh_emulator.emulator.config.hubs[0].name
        async with AsyncNotificationHub(
            nh_emulator.connection_string(hub_name),
            hub_name,
            verify=nh_emulator.ssl_context(),
        ) as hub:
            yield hub

else:

    @pytest.fixture
    def nh_hub() -> None:
        """Stands in for the real fixture to say what it needs."""
        pytest.fail(
            "the nh_hub fixture needs pytest-asyncio; without it, build the hub in "
            "the test from nh_emulator (see docs/testing.md)",
            pytrace=False,
        )
