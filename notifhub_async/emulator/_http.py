"""
What every Notification Hubs API request goes through: find the hub, authenticate,
check the right and the api-version; and how answers and errors are written.

Rights (the service documents no table; these are the emulator's choices):

* sends of every kind and reading a notification's details need Send;
* writing, reading and deleting one installation or registration, and creating a
  registration id, need Listen, because devices do that with the Listen key;
* listing registrations needs Manage, except a list filtered by device handle,
  which the device SDKs issue with the Listen key.

Manage implies Send and Listen. A rule without the right gets 403 with an empty
body, as the service answered a Listen-only key sending.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from ._config import AccessRule, Right
from ._sas import RequestTarget, SasError, authenticate
from ._state import EmulatorState
from ._store import HubStore
from ._xmlutil import text

__all__ = [
    "XML_CONTENT_TYPE",
    "ApiError",
    "Call",
    "error_response",
    "error_xml",
    "open_call",
    "read_body",
    "tracking_id",
    "xml_response",
]

XML_CONTENT_TYPE = "application/xml; charset=utf-8"
# No API request is anywhere near this (a batch of 1000 handles and a 64 KB payload
# is about 300 KB); it keeps a runaway client from filling the emulator's memory.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


class ApiError(Exception):
    """
    An error answer: `status` with the service's `<Error>` body.

    `detail` None means an empty body (the service's 403 for a missing right).
    """

    def __init__(
        self,
        status: int,
        detail: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class Call:
    """An authenticated request to one hub."""

    request: Request
    store: HubStore
    rule: AccessRule
    api_version: str

    @property
    def endpoint(self) -> str:
        """`https://host[:port]/`, as the client addressed the emulator."""
        url = self.request.url
        return f"{url.scheme}://{url.netloc}/"

    @property
    def hub_url(self) -> str:
        """The hub's URL, `https://host/hub`."""
        return f"{self.endpoint}{self.store.config.name}"

    @property
    def query(self) -> str:
        """The request's query string as sent."""
        query: bytes = self.request.scope.get("query_string", b"")
        return query.decode("latin-1")


async def read_body(request: Request) -> bytes:
    """
    The request body, read up to MAX_REQUEST_BYTES.

    Raises:
        ApiError: 413 when the body (or its declared Content-Length) is larger.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise _too_large()

    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise _too_large()

        chunks.append(chunk)

    return b"".join(chunks)


def _too_large() -> ApiError:
    return ApiError(413, f"The request body is over {MAX_REQUEST_BYTES} bytes.")


def tracking_id(request: Request) -> str:
    """The TrackingId of this request (set by the emulator before routing)."""
    value = getattr(request.state, "tracking_id", None)
    return value if isinstance(value, str) else str(uuid.uuid4())


async def open_call(request: Request, state: EmulatorState, right: Right) -> Call:
    """
    Run the checks every API request goes through, in the service's order.

    Raises:
        ApiError: 404 unknown hub, 401 refused token, 403 missing right, 400 no
            api-version.
    """
    hub_name = request.path_params["hub"]
    store = state.hub(hub_name)
    if store is None:
        raise ApiError(404, f"The notification hub '{hub_name}' does not exist.")

    try:
        rule = authenticate(
            request.headers.get("authorization"),
            store.config.rule,
            _request_target(request),
            state.clock(),
        )
    except SasError as exc:
        raise ApiError(401, exc.detail) from exc

    if not rule.grants(right):
        raise ApiError(403, None)

    api_version = request.query_params.get("api-version", "").strip()
    if not api_version:
        raise ApiError(
            400,
            "The api-version query parameter is required, for example "
            "api-version=2020-06.",
        )

    return Call(request=request, store=store, rule=rule, api_version=api_version)


def _request_target(request: Request) -> RequestTarget:
    scope = request.scope
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    return RequestTarget(
        host=request.headers.get("host", request.url.netloc),
        path=path,
        query=scope.get("query_string", b"").decode("latin-1"),
    )


def xml_response(
    body: str = "",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = XML_CONTENT_TYPE,
) -> Response:
    """An answer with the given body; the service labels even empty ones as XML."""
    return Response(
        body.encode("utf-8"),
        status_code=status,
        headers={"Content-Type": content_type, **(headers or {})},
    )


def error_response(request: Request, error: ApiError, now: datetime) -> Response:
    """The service's error answer: `<Error><Code/><Detail/></Error>` or empty."""
    if error.detail is None:
        return Response(b"", status_code=error.status, headers=error.headers)

    body = error_xml(error.status, error.detail, tracking_id(request), now)
    return xml_response(body, error.status, error.headers)


def error_xml(status: int, detail: str, tracking: str, now: datetime) -> str:
    """`<Error>`, with the tracking id and time appended to the Detail."""
    message = detail.rstrip(".")
    hour = now.hour % 12 or 12
    meridiem = "AM" if now.hour < 12 else "PM"
    stamp = f"{now.month}/{now.day}/{now.year} {hour}:{now:%M:%S} {meridiem}"
    full = f"{message}.TrackingId:{tracking}_G1,TimeStamp:{stamp}"
    return f"<Error><Code>{status}</Code><Detail>{text(full)}</Detail></Error>"
