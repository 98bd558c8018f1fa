"""
Registrations (wire spec §7): ids, create, create-or-update, read, delete with ETags,
and lists with paging and filters, answered in the recordings' Atom shapes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from urllib.parse import quote, unquote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._atom import (
    Description,
    DescriptionInvalid,
    Registration,
    entry_xml,
    feed_xml,
    parse_entry,
)
from ._config import Right
from ._http import ApiError, Call, open_call, read_body, xml_response
from ._state import EmulatorState
from ._store import PreconditionFailed, RegistrationNotFound

__all__ = ["RegistrationRoutes"]

ENTRY_CONTENT_TYPE = "application/atom+xml; type=entry; charset=utf-8"
FEED_CONTENT_TYPE = "application/atom+xml; type=feed; charset=utf-8"
# Recorded SDKs page with $top=100; the service's own default is unconfirmed.
DEFAULT_PAGE_SIZE = 100

# `$filter` fields: ChannelUri means any platform's handle (the .NET SDK filters
# Apple registrations by it); the others name one description element each.
_FILTER_FIELDS = {
    name.lower(): name
    for name in (
        "ChannelUri",
        "DeviceToken",
        "GcmRegistrationId",
        "FcmRegistrationId",
        "FcmV1RegistrationId",
        "AdmRegistrationId",
        "BaiduUserId",
        "BaiduChannelId",
        "Endpoint",
        "P256DH",
        "Auth",
        "XiaomiRegistrationId",
    )
}
_CLAUSE = re.compile(r"\s*(?P<field>\w+)\s+eq\s+'(?P<value>(?:[^']|'')*)'\s*", re.I)
_AND = re.compile(r"and\b", re.I)

Predicate = Callable[[Registration], bool]


class RegistrationRoutes:
    """The registration endpoints of every hub."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    def routes(self) -> list[BaseRoute]:
        """Starlette routes, with the spellings and slashes the SDKs use."""
        collection = ["/{hub}/registrations", "/{hub}/registrations/"]
        ids = [
            "/{hub}/registrationids",
            "/{hub}/registrationids/",
            "/{hub}/registrationIDs",
            "/{hub}/registrationIDs/",
        ]
        by_tag = ["/{hub}/tags/{tag}/registrations", "/{hub}/tags/{tag}/registrations/"]
        one = "/{hub}/registrations/{registration_id}"
        return [
            *(Route(path, self.create_id, methods=["POST"]) for path in ids),
            *(Route(path, self.create, methods=["POST"]) for path in collection),
            *(Route(path, self.list_all, methods=["GET"]) for path in collection),
            *(Route(path, self.list_by_tag, methods=["GET"]) for path in by_tag),
            Route(one, self.upsert, methods=["PUT"]),
            Route(one, self.get, methods=["GET"]),
            Route(one, self.delete, methods=["DELETE"]),
        ]

    async def create_id(self, request: Request) -> Response:
        """POST registrationids: 201 with the new id in Location."""
        call = await open_call(request, self._state, "Listen")
        registration_id = call.store.new_registration_id()
        location = f"{call.hub_url}/registrationids/{registration_id}?{call.query}"
        return Response(b"", status_code=201, headers={"Location": location})

    async def create(self, request: Request) -> Response:
        """POST registrations: a new registration under a fresh id."""
        call = await open_call(request, self._state, "Listen")
        description = await _description(request)
        registration = call.store.create_registration(description, self._state.now())
        url = _entry_url(call, registration.registration_id)
        # The recordings answer creation with 200 (the documentation says 201).
        return _entry_response(registration, url, {"Content-Location": url})

    async def upsert(self, request: Request) -> Response:
        """PUT registrations/{id}: create or replace, If-Match checked."""
        call = await open_call(request, self._state, "Listen")
        description = await _description(request)
        registration_id = request.path_params["registration_id"]
        try:
            registration = call.store.put_registration(
                registration_id,
                description,
                request.headers.get("if-match"),
                self._state.now(),
            )
        except PreconditionFailed as exc:
            raise _precondition_failed() from exc

        return _entry_response(registration, _entry_url(call, registration_id))

    async def get(self, request: Request) -> Response:
        """GET registrations/{id}."""
        call = await open_call(request, self._state, "Listen")
        registration_id = request.path_params["registration_id"]
        registration = call.store.get_registration(registration_id)
        if registration is None:
            raise _not_found()

        return _entry_response(registration, _entry_url(call, registration_id))

    async def delete(self, request: Request) -> Response:
        """DELETE registrations/{id}, If-Match checked: 200 with an empty body."""
        call = await open_call(request, self._state, "Listen")
        try:
            call.store.delete_registration(
                request.path_params["registration_id"], request.headers.get("if-match")
            )
        except RegistrationNotFound as exc:
            raise _not_found() from exc
        except PreconditionFailed as exc:
            raise _precondition_failed() from exc

        return Response(b"", status_code=200)

    async def list_all(self, request: Request) -> Response:
        """GET registrations, optionally filtered by device handle."""
        filtered = _query_value(request, "$filter") is not None
        # Devices look themselves up by handle with the Listen key.
        right: Right = "Listen" if filtered else "Manage"
        call = await open_call(request, self._state, right)
        predicate = _filter(_query_value(request, "$filter"))
        base_url = f"{call.hub_url}/registrations"
        return self._feed(call, predicate, base_url)

    async def list_by_tag(self, request: Request) -> Response:
        """GET tags/{tag}/registrations."""
        call = await open_call(request, self._state, "Manage")
        tag = request.path_params["tag"]
        folded = tag.casefold()

        def has_tag(registration: Registration) -> bool:
            return any(own.casefold() == folded for own in registration.tags)

        base_url = f"{call.hub_url}/tags/{quote(tag, safe='')}/registrations"
        return self._feed(call, has_tag, base_url)

    def _feed(self, call: Call, predicate: Predicate, base_url: str) -> Response:
        request = call.request
        matching = [
            registration
            for registration in call.store.registrations()
            if predicate(registration)
        ]
        top = _page_size(_query_value(request, "$top"))
        offset = _offset(_query_value(request, "continuationtoken"))
        page = matching[offset : offset + top]
        headers: dict[str, str] = {}
        next_url = None
        if offset + top < len(matching):
            token = quote(_token(offset + top), safe="")
            headers["x-ms-continuationtoken"] = token
            next_url = _next_url(request, base_url, token)

        body = feed_xml(
            page,
            feed_url=f"{base_url}?{call.query}",
            entry_url=lambda registration_id: (
                f"{base_url}/{registration_id}?{call.query}"
            ),
            next_url=next_url,
            now=self._state.now(),
        )
        return xml_response(body, 200, headers, FEED_CONTENT_TYPE)


async def _description(request: Request) -> Description:
    try:
        return parse_entry(await read_body(request))
    except DescriptionInvalid as exc:
        raise ApiError(400, str(exc)) from exc


def _entry_url(call: Call, registration_id: str) -> str:
    return f"{call.hub_url}/registrations/{registration_id}?{call.query}"


def _entry_response(
    registration: Registration, url: str, headers: dict[str, str] | None = None
) -> Response:
    return xml_response(
        entry_xml(registration, url),
        200,
        {"ETag": f'W/"{registration.etag}"', **(headers or {})},
        ENTRY_CONTENT_TYPE,
    )


def _not_found() -> ApiError:
    # The recorded 404 for a registration has no message before the tracking id.
    return ApiError(404, "")


def _precondition_failed() -> ApiError:
    return ApiError(
        412, "The If-Match ETag does not match the registration's current ETag."
    )


def _query_value(request: Request, name: str) -> str | None:
    # Java sends ContinuationToken, the others continuationtoken.
    for key, value in request.query_params.multi_items():
        if key.lower() == name.lower():
            return value

    return None


def _page_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE

    if not value.strip().isdigit() or int(value) < 1:
        raise ApiError(400, f"The $top value '{value}' must be a positive integer.")

    return int(value)


def _token(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode("ascii")


def _offset(token: str | None) -> int:
    if token is None:
        return 0

    # Clients pass the header back as received, already percent-encoded once.
    value = token
    for _ in range(2):
        value = unquote(value) if "%" in value else value

    try:
        offset = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = ""

    if not offset.isdigit():
        raise ApiError(400, "The continuation token is not valid.")

    return int(offset)


def _next_url(request: Request, base_url: str, token: str) -> str:
    parameters = [
        (key, value)
        for key, value in request.query_params.multi_items()
        if key.lower() != "continuationtoken"
    ]
    parameters.append(("continuationtoken", token))
    return f"{base_url}?{urlencode(parameters)}"


def _filter(expression: str | None) -> Predicate:
    if expression is None:
        return lambda registration: True

    clauses = _filter_clauses(expression)

    def matches(registration: Registration) -> bool:
        return all(
            _clause_matches(registration, name, value) for name, value in clauses
        )

    return matches


def _filter_clauses(expression: str) -> list[tuple[str, str]]:
    clauses: list[tuple[str, str]] = []
    position = 0
    while True:
        clause = _CLAUSE.match(expression, position)
        field = _FILTER_FIELDS.get(clause.group("field").lower()) if clause else None
        if clause is None or field is None:
            raise ApiError(
                400,
                f"The $filter '{expression}' is not supported; use \"Field eq "
                f"'value'\" clauses joined by 'and', with Field one of "
                f"{', '.join(sorted(_FILTER_FIELDS.values()))}.",
            )

        clauses.append((field, clause.group("value").replace("''", "'")))
        position = clause.end()
        joined = _AND.match(expression, position)
        if joined is None:
            break

        position = joined.end()

    if expression[position:].strip():
        raise ApiError(400, f"The $filter '{expression}' has trailing text.")

    return clauses


def _clause_matches(registration: Registration, field: str, value: str) -> bool:
    # The JS SDK percent-encodes channel URIs inside the filter value.
    candidates = {value, unquote(value)}
    if field == "ChannelUri":
        actual: str | None = registration.handle
    else:
        actual = registration.description.values.get(field)

    if actual is None:
        return False

    if field == "DeviceToken":
        # APNs tokens are hex; the JS SDK upper-cases them.
        return actual.lower() in {candidate.lower() for candidate in candidates}

    return actual in candidates
