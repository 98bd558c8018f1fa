"""Typed results of sends. All are frozen, slotted dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "OUTCOME_INVALID_HANDLE",
    "OUTCOME_SUCCESS",
    "OUTCOME_WRONG_TOKEN",
    "NotificationOutcome",
    "RegistrationResult",
    "SendResult",
]

# The service's outcome strings for test sends (wire spec §4.6).
OUTCOME_SUCCESS = (
    "The Notification was successfully sent to the Push Notification System"
)
OUTCOME_INVALID_HANDLE = (
    "The Push Notification System handle for the registration is invalid"
)
OUTCOME_WRONG_TOKEN = "The Token obtained from the Token Provider is wrong"


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """
    What happened to one registration in a test send.

    The device handle is left out of the repr: it is personal data, shown only in the
    dump that `debug=True` asks for.
    """

    platform: str
    pns_handle: str = field(repr=False)
    registration_id: str
    outcome: str

    @property
    def succeeded(self) -> bool:
        """The push system accepted the notification for this registration."""
        return self.outcome == OUTCOME_SUCCESS

    @property
    def handle_invalid(self) -> bool:
        """The device handle is dead: delete the registration or installation."""
        return self.outcome == OUTCOME_INVALID_HANDLE


@dataclass(frozen=True, slots=True)
class NotificationOutcome:
    """The detailed outcome of a test send: counts and up to 10 registrations."""

    success: int
    failure: int
    results: tuple[RegistrationResult, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    """
    What the service said about an accepted send.

    Attributes:
        status_code: 201 (the service's "Created"; 200 is accepted too).
        notification_id: the last path segment of `location`; None on the Free and
            Basic tiers, which give no Location.
        tracking_id: the `TrackingId` header, for Azure support.
        correlation_id: the `x-ms-correlation-request-id` header.
        location: the `Location` header, the notification's telemetry URL.
        outcome: the parsed test-send outcome; None for a normal send, and for a
            test send whose outcome body could not be read (logged as a warning).
    """

    status_code: int
    notification_id: str | None = None
    tracking_id: str | None = None
    correlation_id: str | None = None
    location: str | None = None
    outcome: NotificationOutcome | None = None
