"""
The exception tree. Every error the library raises is a `NotificationHubError`:

    NotificationHubError
    ├── ConnectionStringError          (also ValueError) bad connection string or hub
    ├── TagExpressionError             (also ValueError) bad tag, tag set or expression
    ├── InvalidNotificationError       (also ValueError) unknown format, bad payload
    ├── HubClosedError                 (also RuntimeError) the hub was closed
    ├── ResponseParseError             the service's body could not be read safely
    ├── ServiceError                   the service answered with an error status
    │   ├── BadRequestError            400
    │   ├── AuthenticationError        401
    │   ├── ForbiddenError             403 without Retry-After
    │   ├── NotFoundError              404
    │   ├── ConflictError              409, 410, 412
    │   ├── PayloadTooLargeError       413, or refused before sending (also ValueError)
    │   ├── ThrottledError             429, or 403 with Retry-After
    │   └── ServerError                408 and 5xx
    └── TransportError                 no usable answer (chained from httpx)
        ├── ConnectError               the request was never sent
        └── RequestTimeoutError        a timeout (connect timeouts are never sent)

`fate_unknown` is true when the service may have accepted a send although we saw no
success (a read timeout, a reset after sending, 500/502/504): resending would risk a
duplicate push, so such sends are not retried unless the caller opts in.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectError",
    "ConnectionStringError",
    "ForbiddenError",
    "HubClosedError",
    "InvalidNotificationError",
    "NotFoundError",
    "NotificationHubError",
    "PayloadTooLargeError",
    "RequestTimeoutError",
    "ResponseParseError",
    "ServerError",
    "ServiceError",
    "TagExpressionError",
    "ThrottledError",
    "TransportError",
    "error_from_response",
]


class NotificationHubError(Exception):
    """
    Base class of every error raised by notifhub-async.

    Attributes:
        status_code: the HTTP status the service answered, if any.
        tracking_id: the service's `TrackingId` header, to quote to Azure support.
        detail: the service's `<Detail>` text, if it sent one.
        fate_unknown: the service may have acted on the request anyway.
    """

    status_code: int | None = None
    tracking_id: str | None = None
    detail: str | None = None
    fate_unknown: bool = False


class ConnectionStringError(NotificationHubError, ValueError):
    """The connection string (or the hub name) is not usable."""


class TagExpressionError(NotificationHubError, ValueError):
    """A tag, a set of tags or a tag expression breaks the service's rules."""


class InvalidNotificationError(NotificationHubError, ValueError):
    """A notification cannot be sent as given: unknown format, malformed payload."""


class HubClosedError(NotificationHubError, RuntimeError):
    """The hub was used after `aclose()` or after its `async with` block ended."""


class ResponseParseError(NotificationHubError):
    """A response body was malformed, too large or unsafe (DOCTYPE, entities)."""


class ServiceError(NotificationHubError):
    """
    The service answered with an error status.

    Attributes:
        correlation_id: the `x-ms-correlation-request-id` header, if any.
        retry_after: seconds the service asked us to wait (Retry-After), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        tracking_id: str | None = None,
        correlation_id: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.tracking_id = tracking_id
        self.correlation_id = correlation_id
        self.detail = detail
        self.retry_after = retry_after
        # After 500, 502, 504 (any 5xx but these) the service may have acted.
        self.fate_unknown = (
            status_code is not None
            and status_code >= 500
            and status_code not in _NOT_PROCESSED_5XX
        )


# 501 Not Implemented, 503 Service Unavailable and 505 HTTP Version Not Supported all
# say the request was not acted on.
_NOT_PROCESSED_5XX = frozenset({501, 503, 505})


class BadRequestError(ServiceError):
    """400: the service refused the request as malformed."""


class AuthenticationError(ServiceError):
    """401: the SAS token was refused (wrong key, expired, or for another resource)."""


class ForbiddenError(ServiceError):
    """403: the access rule lacks the right (a Listen-only key sending), or a quota."""


class NotFoundError(ServiceError):
    """404: the hub, registration, installation or notification does not exist."""


class ConflictError(ServiceError):
    """409, 410 or 412: a concurrent change, an unusable id, or a stale ETag."""


class PayloadTooLargeError(ServiceError, ValueError):
    """
    413, or a payload over the service's limits caught before it was sent.

    When raised before sending, `status_code` is None.
    """


class ThrottledError(ServiceError):
    """429, or 403 with Retry-After: the hub asks the caller to slow down."""


class ServerError(ServiceError):
    """
    408 or 5xx: the service failed.

    503 and 408 mean the request was not processed; after 500, 502 and 504 the
    service may have accepted it, so `fate_unknown` is set.
    """


class TransportError(NotificationHubError):
    """No usable answer: the connection failed, broke or timed out."""

    def __init__(self, message: str, *, fate_unknown: bool) -> None:
        super().__init__(message)
        self.fate_unknown = fate_unknown


class ConnectError(TransportError):
    """The connection could not be made, so the request never left this process."""

    def __init__(self, message: str) -> None:
        super().__init__(message, fate_unknown=False)


class RequestTimeoutError(TransportError):
    """A timeout. Connect and pool timeouts are never sent; read timeouts may be."""


_CLASS_BY_STATUS: dict[int, type[ServiceError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    408: ServerError,
    409: ConflictError,
    410: ConflictError,
    412: ConflictError,
    413: PayloadTooLargeError,
    429: ThrottledError,
}


def error_from_response(
    status_code: int,
    headers: Mapping[str, str],
    detail: str | None,
    *,
    retry_after: float | None,
    operation: str,
) -> ServiceError:
    """
    Map an error status to its exception class; the only place that does so.

    `retry_after` is the parsed Retry-After advice (see `_retry.parse_retry_after`).
    A 403 with Retry-After is throttling on older API versions; without it, a missing
    right (wire spec §9.1, dotnet issue 224).
    """
    if status_code == 403 and retry_after is not None:
        error_class: type[ServiceError] = ThrottledError
    elif status_code >= 500:
        error_class = ServerError
    else:
        error_class = _CLASS_BY_STATUS.get(status_code, ServiceError)

    tracking_id = headers.get("TrackingId")
    message = f"{operation} failed with HTTP {status_code}"
    if detail:
        message = f"{message}: {detail}"

    if tracking_id:
        message = f"{message} (TrackingId {tracking_id})"

    return error_class(
        message,
        status_code=status_code,
        tracking_id=tracking_id,
        correlation_id=headers.get("x-ms-correlation-request-id"),
        detail=detail,
        retry_after=retry_after,
    )
