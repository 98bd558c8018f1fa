"""
Installation endpoints (wire spec §8): PUT, GET, PATCH and DELETE, answered with the
statuses and headers of the recordings.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._http import ApiError, Call, open_call, read_body, xml_response
from ._installations import InstallationInvalid, apply_patch, validate_installation
from ._state import EmulatorState

__all__ = ["InstallationRoutes"]


class InstallationRoutes:
    """The installation endpoints of every hub."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    def routes(self) -> list[BaseRoute]:
        """Starlette routes."""
        path = "/{hub}/installations/{installation_id}"
        return [
            Route(path, self.put, methods=["PUT"]),
            Route(path, self.get, methods=["GET"]),
            Route(path, self.patch, methods=["PATCH"]),
            Route(path, self.delete, methods=["DELETE"]),
        ]

    async def put(self, request: Request) -> Response:
        """Create or overwrite: 200 with an empty body."""
        call = await open_call(request, self._state, "Listen")
        installation_id = request.path_params["installation_id"]
        document = await _json_body(request)
        try:
            installation = validate_installation(document, installation_id)
        except InstallationInvalid as exc:
            raise ApiError(400, str(exc)) from exc

        call.store.put_installation(installation)
        return xml_response(headers={"Content-Location": _url(call, installation_id)})

    async def get(self, request: Request) -> Response:
        """The installation as JSON, or 404."""
        call = await open_call(request, self._state, "Listen")
        installation = call.store.get_installation(
            request.path_params["installation_id"]
        )
        if installation is None:
            raise ApiError(404, "Installation not found.")

        # The service labels this JSON body application/xml (recorded); clients
        # must not trust the Content-Type, and the emulator keeps them honest.
        return xml_response(json.dumps(installation, separators=(",", ":")))

    async def patch(self, request: Request) -> Response:
        """Apply JSON Patch operations: 200 with an empty body, 404 when absent."""
        call = await open_call(request, self._state, "Listen")
        installation_id = request.path_params["installation_id"]
        operations = await _json_body(request)
        installation = call.store.get_installation(installation_id)
        if installation is None:
            raise ApiError(404, "Installation not found.")

        try:
            patched = apply_patch(installation, operations)
        except InstallationInvalid as exc:
            raise ApiError(400, str(exc)) from exc

        call.store.put_installation(patched)
        return xml_response()

    async def delete(self, request: Request) -> Response:
        """
        Delete: 204, also when there was nothing to delete.

        The service queues installation writes and answers before they run, so it
        cannot know; the recordings show 204 followed by a 404 on GET.
        """
        call = await open_call(request, self._state, "Listen")
        call.store.delete_installation(request.path_params["installation_id"])
        return xml_response(status=204)


async def _json_body(request: Request) -> object:
    body = await read_body(request)
    try:
        document: object = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, "The request body is not valid JSON.") from exc

    return document


def _url(call: Call, installation_id: str) -> str:
    return f"{call.hub_url}/installations/{installation_id}?{call.query}"
