"""The exception tree and the one function that maps statuses onto it."""

from __future__ import annotations

import httpx
import pytest

from notifhub_async import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    ConnectionStringError,
    ForbiddenError,
    HubClosedError,
    InvalidNotificationError,
    NotFoundError,
    NotificationHubError,
    PayloadTooLargeError,
    RequestTimeoutError,
    ResponseParseError,
    ServerError,
    ServiceError,
    TagExpressionError,
    ThrottledError,
    TransportError,
)
from notifhub_async._errors import error_from_response

TRACKING_ID = "c0f4869e-2d1f-4b44-a3ea-3a5d2b3cbe8d_G1"
CORRELATION_ID = "297c956c-6f7d-4a53-9d3b-71d0f1b0bf4b"
HEADERS = httpx.Headers(
    {"TrackingId": TRACKING_ID, "x-ms-correlation-request-id": CORRELATION_ID}
)


@pytest.mark.parametrize(
    ("status_code", "retry_after", "error_class"),
    [
        pytest.param(400, None, BadRequestError, id="400-bad-request"),
        pytest.param(401, None, AuthenticationError, id="401-authentication"),
        pytest.param(403, None, ForbiddenError, id="403-forbidden"),
        pytest.param(403, 7.0, ThrottledError, id="403-retry-after-throttled"),
        pytest.param(404, None, NotFoundError, id="404-not-found"),
        pytest.param(408, None, ServerError, id="408-server"),
        pytest.param(409, None, ConflictError, id="409-conflict"),
        pytest.param(410, None, ConflictError, id="410-conflict"),
        pytest.param(412, None, ConflictError, id="412-conflict"),
        pytest.param(413, None, PayloadTooLargeError, id="413-too-large"),
        pytest.param(429, None, ThrottledError, id="429-throttled"),
        pytest.param(429, 2.5, ThrottledError, id="429-retry-after-throttled"),
        pytest.param(500, None, ServerError, id="500-server"),
        pytest.param(502, None, ServerError, id="502-server"),
        pytest.param(503, 10.0, ServerError, id="503-server"),
        pytest.param(504, None, ServerError, id="504-server"),
        pytest.param(501, None, ServerError, id="501-server-not-implemented"),
        pytest.param(505, None, ServerError, id="505-server-version"),
        pytest.param(418, None, ServiceError, id="418-unmapped-service-error"),
        pytest.param(422, None, ServiceError, id="422-unmapped-service-error"),
    ],
)
def test_each_status_maps_to_its_class(
    status_code: int, retry_after: float | None, error_class: type[ServiceError]
) -> None:
    error = error_from_response(
        status_code,
        HEADERS,
        "the detail",
        retry_after=retry_after,
        operation="send",
    )

    assert type(error) is error_class
    assert isinstance(error, ServiceError)
    assert isinstance(error, NotificationHubError)
    assert error.status_code == status_code
    assert error.tracking_id == TRACKING_ID
    assert error.correlation_id == CORRELATION_ID
    assert error.detail == "the detail"
    assert error.retry_after == retry_after
    # Only after 500, 502 and 504 may the service have acted on the request.
    assert error.fate_unknown is (status_code in (500, 502, 504))
    assert str(error) == (
        f"send failed with HTTP {status_code}: the detail (TrackingId {TRACKING_ID})"
    )


def test_an_empty_answer_leaves_the_fields_empty() -> None:
    error = error_from_response(
        403, httpx.Headers(), None, retry_after=None, operation="direct send"
    )

    assert type(error) is ForbiddenError
    assert (error.tracking_id, error.correlation_id, error.detail) == (
        None,
        None,
        None,
    )
    assert str(error) == "direct send failed with HTTP 403"


def test_header_names_are_matched_in_any_case() -> None:
    headers = httpx.Headers(
        {"trackingid": TRACKING_ID, "X-MS-Correlation-Request-Id": CORRELATION_ID}
    )

    error = error_from_response(404, headers, None, retry_after=None, operation="get")

    assert (error.tracking_id, error.correlation_id) == (TRACKING_ID, CORRELATION_ID)


@pytest.mark.parametrize(
    ("error_class", "bases"),
    [
        pytest.param(ConnectionStringError, (ValueError,), id="connection-string"),
        pytest.param(TagExpressionError, (ValueError,), id="tag-expression"),
        pytest.param(InvalidNotificationError, (ValueError,), id="invalid"),
        pytest.param(HubClosedError, (RuntimeError,), id="hub-closed"),
        pytest.param(PayloadTooLargeError, (ServiceError, ValueError), id="too-large"),
        pytest.param(ResponseParseError, (), id="parse"),
        pytest.param(ThrottledError, (ServiceError,), id="throttled"),
        pytest.param(ConnectError, (TransportError,), id="connect"),
        pytest.param(RequestTimeoutError, (TransportError,), id="timeout"),
    ],
)
def test_the_tree(
    error_class: type[NotificationHubError], bases: tuple[type[Exception], ...]
) -> None:
    assert issubclass(error_class, NotificationHubError)
    for base in bases:
        assert issubclass(error_class, base)


def test_transport_errors_say_whether_the_request_may_have_landed() -> None:
    assert ConnectError("refused").fate_unknown is False
    assert RequestTimeoutError("connect", fate_unknown=False).fate_unknown is False
    assert RequestTimeoutError("read", fate_unknown=True).fate_unknown is True
    assert TransportError("reset", fate_unknown=True).fate_unknown is True
    assert ConnectError("refused").status_code is None


def test_errors_raised_before_sending_have_no_status() -> None:
    error = PayloadTooLargeError("too big")

    assert error.status_code is None
    assert error.fate_unknown is False
    assert error.retry_after is None
