"""
The emulator's own endpoints under `/_emulator/`, for test harnesses (JSON).

They are not part of Notification Hubs and need no SAS token: anyone who can reach
the emulator can read what it recorded and inject faults, which is why it listens on
loopback only. Faults never apply to these paths.

    GET    /_emulator/health            {"status": "ok", "hubs": [...]}
    POST   /_emulator/reset             back to the state at start (Emulator.reset)
    GET    /_emulator/records[?hub=]    recorded notifications, oldest first
    DELETE /_emulator/records           forget them
    GET    /_emulator/faults            the fault rules that may still fire
    POST   /_emulator/faults            add one (a FaultRule as JSON)
    DELETE /_emulator/faults            remove them all
    POST   /_emulator/invalid-handles   {"handle": "..."}: test sends report it dead
    DELETE /_emulator/invalid-handles   make every handle valid again
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ._faults import fault_rule_from_json, fault_rule_to_json
from ._state import EmulatorState

__all__ = ["ADMIN_PREFIX", "AdminRoutes"]

ADMIN_PREFIX = "/_emulator/"


class AdminRoutes:
    """The `/_emulator/` endpoints."""

    def __init__(self, state: EmulatorState, reset: Callable[[], None]) -> None:
        self._state = state
        self._reset = reset

    def routes(self) -> list[BaseRoute]:
        """Starlette routes."""
        return [
            Route("/_emulator/health", self.health, methods=["GET"]),
            Route("/_emulator/reset", self.reset, methods=["POST"]),
            Route("/_emulator/records", self.records, methods=["GET"]),
            Route("/_emulator/records", self.clear_records, methods=["DELETE"]),
            Route("/_emulator/faults", self.faults, methods=["GET"]),
            Route("/_emulator/faults", self.add_fault, methods=["POST"]),
            Route("/_emulator/faults", self.clear_faults, methods=["DELETE"]),
            Route(
                "/_emulator/invalid-handles", self.add_invalid_handle, methods=["POST"]
            ),
            Route(
                "/_emulator/invalid-handles",
                self.clear_invalid_handles,
                methods=["DELETE"],
            ),
        ]

    async def health(self, request: Request) -> Response:
        """Liveness, and the hubs served."""
        hubs = [hub.name for hub in self._state.config.hubs]
        return JSONResponse({"status": "ok", "hubs": hubs})

    async def reset(self, request: Request) -> Response:
        """Back to the state at start: for a test harness in another process."""
        self._reset()
        return Response(status_code=204)

    async def records(self, request: Request) -> Response:
        """Recorded notifications as JSON (bodies as text, or base64 if binary)."""
        records = self._state.records(request.query_params.get("hub"))
        return JSONResponse([record.to_json() for record in records])

    async def clear_records(self, request: Request) -> Response:
        """Forget every recorded notification."""
        self._state.clear_records()
        return Response(status_code=204)

    async def faults(self, request: Request) -> Response:
        """The active fault rules."""
        rules = self._state.faults.rules
        return JSONResponse([fault_rule_to_json(rule) for rule in rules])

    async def add_fault(self, request: Request) -> Response:
        """Activate a fault rule posted as JSON."""
        document = await _json_object(request)
        if isinstance(document, Response):
            return document

        try:
            rule = fault_rule_from_json(document)
        except ValueError as exc:
            return _bad_request(str(exc))

        self._state.faults.add(rule)
        return JSONResponse(fault_rule_to_json(rule), status_code=201)

    async def clear_faults(self, request: Request) -> Response:
        """Deactivate every fault rule."""
        self._state.faults.clear()
        return Response(status_code=204)

    async def add_invalid_handle(self, request: Request) -> Response:
        """Mark a device handle invalid."""
        document = await _json_object(request)
        if isinstance(document, Response):
            return document

        handle = document.get("handle")
        if not isinstance(handle, str) or not handle:
            return _bad_request('post {"handle": "<device handle>"}')

        self._state.mark_handle_invalid(handle)
        return Response(status_code=204)

    async def clear_invalid_handles(self, request: Request) -> Response:
        """Make every handle valid again."""
        self._state.clear_invalid_handles()
        return Response(status_code=204)


async def _json_object(request: Request) -> dict[str, object] | Response:
    try:
        document = json.loads(await request.body())
    except ValueError:
        return _bad_request("the body must be a JSON object")

    if not isinstance(document, dict):
        return _bad_request("the body must be a JSON object")

    return document


def _bad_request(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)
