"""
Sends (wire spec §4): validate like the service, resolve the devices reached, record,
answer 201 (with the outcome for test sends); and a notification's details.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._devices import Target
from ._http import ApiError, Call, open_call, read_body, xml_response
from ._multipart import MultipartInvalid, parse_batch_body
from ._outcomes import notification_details_xml, notification_outcome_xml
from ._records import (
    OUTCOME_INVALID_HANDLE,
    OUTCOME_SUCCESS,
    RecordedNotification,
    RecordedTarget,
)
from ._render import render_template, template_properties
from ._state import EmulatorState
from ._tagexpr import TagExpression, TagExpressionInvalid, parse_tag_expression
from ._targets import resolve_targets

__all__ = ["FORMATS", "SendRoutes"]

# ServiceBusNotification-Format values (wire spec §4.2), compared lower-cased.
FORMATS = (
    "windows",
    "apple",
    "gcm",
    "fcmv1",
    "template",
    "adm",
    "windowsphone",
    "baidu",
    "browser",
    "xiaomi",
    "nokiax",
)
# "The message size cannot be over 64 Kb" (wire spec §6).
MAX_BODY_BYTES = 64 * 1024
# At most 1000 devices per batch direct send (wire spec §4.7).
MAX_BATCH_DEVICES = 1000

_JSON_TYPES = frozenset({"application/json"})
_XML_TYPES = frozenset({"application/xml", "text/xml"})
_WNS_TYPES = frozenset({"wns/toast", "wns/tile", "wns/badge", "wns/raw"})
# The .NET SDK sends Baidu payloads as a form.
_BAIDU_TYPES = _JSON_TYPES | {"application/x-www-form-urlencoded"}


@dataclass(frozen=True, slots=True)
class _Send:
    """A validated send, before its devices are resolved."""

    format: str
    body: bytes
    content_type: str
    expression: TagExpression | None
    direct_handles: tuple[str, ...] | None
    test: bool


class SendRoutes:
    """The send endpoints of every hub."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    # TODO: scheduled sends, the feedback container and jobs are not emulated: 404
    def routes(self) -> list[BaseRoute]:
        """Starlette routes; the trailing-slash forms are what SDKs send."""
        return [
            Route("/{hub}/messages", self.send, methods=["POST"]),
            Route("/{hub}/messages/", self.send, methods=["POST"]),
            Route("/{hub}/messages/$batch", self.batch_send, methods=["POST"]),
            Route("/{hub}/messages/{notification_id}", self.details, methods=["GET"]),
        ]

    async def send(self, request: Request) -> Response:
        """Broadcast, tag, tag-expression, test and direct sends."""
        call = await open_call(request, self._state, "Send")
        notification_format = _format(request.headers)
        body = await read_body(request)
        content_type = request.headers.get("content-type", "")
        _check_content_type(notification_format, content_type, request.headers)
        _check_size(body)

        direct = "direct" in request.query_params
        handles = (
            (_direct_handle(request.headers, notification_format),) if direct else None
        )
        send = _Send(
            format=notification_format,
            body=body,
            content_type=content_type,
            expression=None if direct else _expression(request.headers),
            direct_handles=handles,
            test=_is_test(request),
        )
        return self._accept(call, send, batch=False)

    async def batch_send(self, request: Request) -> Response:
        """A batch direct send: one payload, up to 1000 device handles."""
        call = await open_call(request, self._state, "Send")
        notification_format = _format(request.headers)
        try:
            batch = parse_batch_body(
                request.headers.get("content-type", ""), await read_body(request)
            )
        except MultipartInvalid as exc:
            raise ApiError(400, str(exc)) from exc

        _check_content_type(notification_format, batch.content_type, request.headers)
        _check_size(batch.notification)
        if notification_format == "template":
            raise ApiError(400, "Template notifications cannot be sent directly.")

        if not batch.devices or len(batch.devices) > MAX_BATCH_DEVICES:
            raise ApiError(
                400,
                f"A batch direct send needs 1 to {MAX_BATCH_DEVICES} device handles; "
                f"{len(batch.devices)} were given.",
            )

        send = _Send(
            format=notification_format,
            body=batch.notification,
            content_type=batch.content_type,
            expression=None,
            direct_handles=batch.devices,
            test=_is_test(request),
        )
        return self._accept(call, send, batch=True)

    async def details(self, request: Request) -> Response:
        """`NotificationDetails` of an accepted notification; 404 for others."""
        call = await open_call(request, self._state, "Send")
        notification_id = request.path_params["notification_id"]
        record = self._state.find_record(call.store.config.name, notification_id)
        if record is None:
            raise ApiError(404, "The notification was not found")

        location = _location(call, notification_id, batch=False, direct=False)
        return xml_response(notification_details_xml(record, location))

    def _accept(self, call: Call, send: _Send, *, batch: bool) -> Response:
        targets = self._targets(call, send)
        now = self._state.now()
        notification_id = self._state.ids.notification_id(now)
        record = RecordedNotification(
            notification_id=notification_id,
            hub=call.store.config.name,
            format=send.format,
            tags=send.expression.text if send.expression is not None else None,
            direct_handles=send.direct_handles,
            targets=targets,
            body=send.body,
            content_type=send.content_type,
            headers=_recorded_headers(call.request.headers),
            test_send=send.test,
            received_at=now,
        )
        self._state.record(record)
        direct = send.direct_handles is not None
        location = _location(call, notification_id, batch=batch, direct=direct)
        body = notification_outcome_xml(targets) if send.test else ""
        return xml_response(body, 201, {"Location": location})

    def _targets(self, call: Call, send: _Send) -> tuple[RecordedTarget, ...]:
        if send.direct_handles is not None:
            found = [
                Target(kind="direct", id=None, platform=send.format, handle=handle)
                for handle in send.direct_handles
            ]
        else:
            found = resolve_targets(call.store, send.format, send.expression)

        if send.test:
            # "Debug notifications are sent to only 10 devices" (wire spec §4.6).
            found = found[: self._state.config.max_outcome_results]

        properties = _template_properties(send) if send.format == "template" else {}
        invalid = self._state.invalid_handles()
        return tuple(_recorded(target, send, properties, invalid) for target in found)


def _recorded(
    target: Target,
    send: _Send,
    properties: Mapping[str, str],
    invalid_handles: frozenset[str],
) -> RecordedTarget:
    payload = send.body
    if target.template_body is not None:
        # UNCONFIRMED how the service ranks the two: we let the send's own
        # properties win, and the device's push variables fill in the rest.
        if target.push_variables:
            properties = {**target.push_variables, **properties}

        payload = render_template(target.template_body, properties).encode()

    invalid = target.handle in invalid_handles
    return RecordedTarget(
        kind=target.kind,
        id=target.id,
        platform=target.platform,
        pns_handle=target.handle,
        template_name=target.template_name,
        payload=payload,
        outcome=OUTCOME_INVALID_HANDLE if invalid else OUTCOME_SUCCESS,
    )


def _format(headers: Headers) -> str:
    value = headers.get("servicebusnotification-format")
    if value is None or not value.strip():
        raise ApiError(
            400, "The HTTP header 'ServiceBusNotification-Format' is missing."
        )

    notification_format = value.strip().lower()
    if notification_format not in FORMATS:
        allowed = ", ".join(f"'{name}'" for name in FORMATS[:-1])
        raise ApiError(
            400,
            f"The HTTP header 'ServiceBusNotification-Format' has an invalid value: "
            f"'{value}'. Allowed values are {allowed}, or '{FORMATS[-1]}'.",
        )

    return notification_format


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _check_content_type(
    notification_format: str, content_type: str, headers: Headers
) -> None:
    media_type = _media_type(content_type)
    if notification_format == "windows":
        wns_type = headers.get("x-wns-type", "").strip().lower()
        if wns_type not in _WNS_TYPES:
            raise ApiError(
                400,
                "The X-WNS-Type header must be one of wns/toast, wns/tile, wns/badge "
                f"or wns/raw for windows notifications; got '{wns_type}'.",
            )

        raw = wns_type == "wns/raw"
        allowed = frozenset({"application/octet-stream"}) if raw else _XML_TYPES
    elif notification_format == "windowsphone":
        allowed = _XML_TYPES
    elif notification_format == "baidu":
        allowed = _BAIDU_TYPES
    else:
        allowed = _JSON_TYPES

    if media_type not in allowed:
        expected = " or ".join(sorted(allowed))
        raise ApiError(
            400,
            f"The content type '{content_type}' is not supported for "
            f"'{notification_format}' notifications; use {expected}.",
        )


def _check_size(body: bytes) -> None:
    # TODO: APNs 4 KB limit unchecked: the service's answer to it is undocumented
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "The message size cannot be over 64 Kb.")


def _expression(headers: Headers) -> TagExpression | None:
    value = headers.get("servicebusnotification-tags")
    if value is None or not value.strip():
        return None

    try:
        return parse_tag_expression(value)
    except TagExpressionInvalid as exc:
        raise ApiError(400, str(exc)) from exc


def _direct_handle(headers: Headers, notification_format: str) -> str:
    if notification_format == "template":
        raise ApiError(400, "Template notifications cannot be sent directly.")

    handle = headers.get("servicebusnotification-devicehandle", "").strip()
    if not handle:
        raise ApiError(
            400,
            "The HTTP header 'ServiceBusNotification-DeviceHandle' is required for "
            "direct sends.",
        )

    return handle


def _is_test(request: Request) -> bool:
    # `&test` (.NET) and `&test=true` (JS) both ask for the outcome.
    value = request.query_params.get("test")
    return value is not None and value.strip().lower() != "false"


def _template_properties(send: _Send) -> dict[str, str]:
    try:
        document = json.loads(send.body)
    except ValueError:
        document = None

    if not isinstance(document, dict):
        raise ApiError(
            400, "The body of a template notification must be a JSON object."
        )

    return template_properties(document)


def _recorded_headers(headers: Headers) -> dict[str, str]:
    recorded: dict[str, str] = {}
    for name, value in headers.items():
        if name == "authorization":
            continue

        recorded[name] = f"{recorded[name]}, {value}" if name in recorded else value

    return recorded


def _location(call: Call, notification_id: str, *, batch: bool, direct: bool) -> str:
    # Shapes from the recordings: messages/$batch/{id} for batches, &direct kept.
    segment = f"$batch/{notification_id}" if batch else notification_id
    suffix = "&direct" if direct else ""
    return f"{call.hub_url}/messages/{segment}?api-version={call.api_version}{suffix}"
