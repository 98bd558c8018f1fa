"""
`Emulator`: the ASGI application and its in-memory state.

Every Notification Hubs API request (any path outside `/_emulator/`) first meets the
fault injector, then Starlette's router; its answer carries fresh `TrackingId` and
`x-ms-correlation-request-id` headers, as the service's do.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ._admin import ADMIN_PREFIX, AdminRoutes
from ._atom import Registration
from ._config import FULL_RULE_NAME, EmulatorConfig, FaultRule
from ._faults import DEFAULT_THROTTLE_RETRY_AFTER, ConnectionReset
from ._http import ApiError, error_response, error_xml, xml_response
from ._installation_routes import InstallationRoutes
from ._records import RecordedNotification
from ._registrations import RegistrationRoutes
from ._sends import SendRoutes
from ._state import EmulatorState
from ._store import HubStore

__all__ = ["Emulator"]

# Status and Detail of each answering fault kind.
_FAULT_ANSWERS = {
    "throttle": (429, "The request rate is too high; slow down and retry later"),
    "throttle-403": (403, "Quota exceeded or the request rate is too high"),
    "unavailable": (503, "The service is temporarily unavailable"),
    "server-error": (500, "The service failed to process the request"),
    "server-error-after": (500, "The service failed to process the request"),
}


class Emulator:
    """
    An in-memory Notification Hubs namespace, as an ASGI application.

    Use it in-process with `httpx.ASGITransport(app=emulator)`, or serve it with
    `EmulatorServer`. It authenticates, validates, stores and answers like the
    service (see the package documentation), records every accepted notification
    and injects the faults it is told to.

    Args:
        config: hubs, access rules, faults and limits (default: one hub "myhub").
        clock: the time source for token expiry checks and timestamps.
        sleep: how "latency" faults wait (for tests that must not wait).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self._state = EmulatorState(self.config, clock)
        self._sleep = sleep
        self._app = self._build_app()

    def __repr__(self) -> str:
        hubs = [hub.name for hub in self.config.hubs]
        return f"Emulator(hubs={hubs!r})"

    # -- for tests -------------------------------------------------------------------

    def connection_string(
        self,
        endpoint: str,
        hub: str | None = None,
        rule: str = FULL_RULE_NAME,
    ) -> str:
        """
        A connection string for one of the hub's rules.

        Args:
            endpoint: where clients reach the emulator, such as
                `https://127.0.0.1:8443/` or, through `httpx.ASGITransport`, any
                URL such as `https://emulator.test/`.
            hub: the hub whose rule to use (default: the first hub).
            rule: the rule's name (default: the full-rights rule).

        Raises:
            ValueError: no such hub or rule.
        """
        hub_config = self.config.hubs[0] if hub is None else self.config.hub(hub)
        if hub_config is None:
            raise ValueError(f"the emulator has no hub {hub!r}")

        access = hub_config.rule(rule)
        if access is None:
            raise ValueError(f"hub {hub_config.name!r} has no rule {rule!r}")

        endpoint = endpoint if endpoint.endswith("/") else f"{endpoint}/"
        return (
            f"Endpoint={endpoint};SharedAccessKeyName={access.name};"
            f"SharedAccessKey={access.key}"
        )

    @property
    def records(self) -> list[RecordedNotification]:
        """Every accepted notification, oldest first (a snapshot)."""
        return self._state.records()

    def records_for(self, hub: str) -> list[RecordedNotification]:
        """The accepted notifications of one hub, oldest first."""
        return self._state.records(hub)

    def clear_records(self) -> None:
        """Forget every recorded notification."""
        self._state.clear_records()

    @property
    def faults(self) -> tuple[FaultRule, ...]:
        """The fault rules that may still fire."""
        return self._state.faults.rules

    def add_fault(self, rule: FaultRule) -> None:
        """Activate a fault rule after the existing ones."""
        self._state.faults.add(rule)

    def clear_faults(self) -> None:
        """Deactivate every fault rule, including those from the configuration."""
        self._state.faults.clear()

    def mark_handle_invalid(self, pns_handle: str) -> None:
        """Make test sends report `pns_handle` as an invalid handle."""
        self._state.mark_handle_invalid(pns_handle)

    def installations(self, hub: str) -> dict[str, dict[str, Any]]:
        """A copy of a hub's installations, by id, as GET returns them."""
        return self._store(hub).installations()

    def registrations(self, hub: str) -> dict[str, Registration]:
        """A hub's registrations, by id, oldest first."""
        return {
            registration.registration_id: registration
            for registration in self._store(hub).registrations()
        }

    def reset(self) -> None:
        """
        Return to the state at construction: no installations, registrations,
        records or invalid handles, the configured faults re-armed and the seeded
        generators restarted.
        """
        self._state = EmulatorState(self.config, self._state.clock)
        self._app = self._build_app()

    def _store(self, hub: str) -> HubStore:
        store = self._state.hub(hub)
        if store is None:
            raise ValueError(f"the emulator has no hub {hub!r}")

        return store

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self._app(scope, receive, send)
            return

        try:
            await self._serve_api(scope, receive, send)
        except ClientDisconnect:
            # The client left (for example during injected latency): there is nobody
            # to answer, and it is no error of the emulator's.
            return

    async def _serve_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracking = str(uuid.uuid4())
        scope = {**scope, "state": {**scope.get("state", {}), "tracking_id": tracking}}
        send = _with_tracking_headers(send, tracking)
        decision = self._state.faults.decide(scope["path"])
        if decision.latency > 0:
            await self._sleep(decision.latency)

        fault = decision.fault
        if fault is None:
            await self._app(scope, receive, send)
        elif fault.kind == "reset-before":
            raise ConnectionReset(before_read=True)
        elif fault.kind == "reset-after":
            await self._app(scope, receive, _discard)
            raise ConnectionReset(before_read=False)
        elif fault.kind == "server-error-after":
            # The request is acted on (a send is recorded); only the answer fails.
            await self._app(scope, receive, _discard)
            response = self._fault_response(fault, tracking)
            await response(scope, receive, send)
        else:
            await _drain(receive)
            response = self._fault_response(fault, tracking)
            await response(scope, receive, send)

    def _fault_response(self, fault: FaultRule, tracking: str) -> Response:
        status, detail = _FAULT_ANSWERS[fault.kind]
        retry_after = fault.retry_after
        if retry_after is None and fault.kind in ("throttle", "throttle-403"):
            retry_after = DEFAULT_THROTTLE_RETRY_AFTER

        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"

        body = error_xml(status, detail, tracking, self._state.now())
        return xml_response(body, status, headers)

    def _build_app(self) -> Starlette:
        state = self._state
        routes = [
            *AdminRoutes(state, reset=self.reset).routes(),
            *SendRoutes(state).routes(),
            *RegistrationRoutes(state).routes(),
            *InstallationRoutes(state).routes(),
        ]

        async def api_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ApiError)
            return error_response(request, exc, state.now())

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            detail = f"No operation {request.method} {request.url.path} exists"
            return error_response(
                request, ApiError(exc.status_code, detail), state.now()
            )

        app = Starlette(
            routes=routes,
            exception_handlers={ApiError: api_error, HTTPException: http_error},
        )
        # The SDKs' paths with and without a trailing slash are routed explicitly;
        # a redirect would be an answer the service never gives.
        app.router.redirect_slashes = False
        return app


def _with_tracking_headers(send: Send, tracking: str) -> Send:
    correlation = str(uuid.uuid4())

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                *message.get("headers", []),
                (b"trackingid", tracking.encode("ascii")),
                (b"x-ms-correlation-request-id", correlation.encode("ascii")),
            ]
            message = {**message, "headers": headers}

        await send(message)

    return send_with_headers


async def _discard(message: Message) -> None:
    # The answer of a request whose connection is about to be reset.
    return None


async def _drain(receive: Receive) -> None:
    # Read the body a fault answer ignores, so the connection stays usable.
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
