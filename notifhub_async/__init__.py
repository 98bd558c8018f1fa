"""
notifhub-async: an asyncio client for Azure Notification Hubs.

    from notifhub_async import AsyncNotificationHub

    async with AsyncNotificationHub(connection_string, "myhub") as hub:
        result = await hub.send_apple_notification({"aps": {"alert": "Hi"}}, "news")
"""

from ._auth import SasTokenProvider, generate_sas_token
from ._bulk import (
    BulkItem,
    BulkProgress,
    BulkReport,
    ItemResult,
    ItemStatus,
    SendItem,
)
from ._client import API_VERSION, AsyncNotificationHub, Tags
from ._connection_string import ConnectionString, parse_connection_string
from ._errors import (
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
from ._installation import (
    Installation,
    InstallationPatch,
    InstallationPlatform,
    InstallationTemplate,
)
from ._models import NotificationOutcome, RegistrationResult, SendResult
from ._notification import (
    MAX_APPLE_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    Notification,
    NotificationFormat,
    Payload,
)
from ._retry import RetryPolicy
from ._tags import build_tag_expression, validate_tag, validate_tag_expression
from ._version import __version__

__all__ = [
    "API_VERSION",
    "MAX_APPLE_PAYLOAD_BYTES",
    "MAX_PAYLOAD_BYTES",
    "AsyncNotificationHub",
    "AuthenticationError",
    "BadRequestError",
    "BulkItem",
    "BulkProgress",
    "BulkReport",
    "ConflictError",
    "ConnectError",
    "ConnectionString",
    "ConnectionStringError",
    "ForbiddenError",
    "HubClosedError",
    "Installation",
    "InstallationPatch",
    "InstallationPlatform",
    "InstallationTemplate",
    "InvalidNotificationError",
    "ItemResult",
    "ItemStatus",
    "NotFoundError",
    "Notification",
    "NotificationFormat",
    "NotificationHubError",
    "NotificationOutcome",
    "Payload",
    "PayloadTooLargeError",
    "RegistrationResult",
    "RequestTimeoutError",
    "ResponseParseError",
    "RetryPolicy",
    "SasTokenProvider",
    "SendItem",
    "SendResult",
    "ServerError",
    "ServiceError",
    "TagExpressionError",
    "Tags",
    "ThrottledError",
    "TransportError",
    "__version__",
    "build_tag_expression",
    "generate_sas_token",
    "parse_connection_string",
    "validate_tag",
    "validate_tag_expression",
]
