"""
The XML answers about sends: `NotificationOutcome` for test sends (wire spec §4.6)
and `NotificationDetails` for `GET messages/{id}` (§4.9), in the service's element
order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone

from ._records import RecordedNotification, RecordedTarget
from ._xmlutil import INSTANCE_NAMESPACE, NH_NAMESPACE, text

__all__ = ["notification_details_xml", "notification_outcome_xml"]

_OPEN = f'xmlns="{NH_NAMESPACE}" xmlns:i="{INSTANCE_NAMESPACE}"'
# Per-platform outcome elements, in the .NET data contract's order.
_OUTCOME_ELEMENTS = (
    ("apple", "ApnsOutcomeCounts"),
    ("windowsphone", "MpnsOutcomeCounts"),
    ("windows", "WnsOutcomeCounts"),
    ("gcm", "GcmOutcomeCounts"),
    ("adm", "AdmOutcomeCounts"),
    ("fcmv1", "FcmV1OutcomeCounts"),
    ("baidu", "BaiduOutcomeCounts"),
    ("browser", "BrowserOutcomeCounts"),
    ("xiaomi", "XiaomiOutcomeCounts"),
)
# The telemetry outcome name the emulator reports for a handle marked invalid.
_FAILURE_NAME = "WrongToken"


def notification_outcome_xml(targets: Sequence[RecordedTarget]) -> str:
    """The body of a test send's answer."""
    succeeded = sum(1 for target in targets if target.succeeded)
    if targets:
        results = "".join(_registration_result(target) for target in targets)
        results = f"<Results>{results}</Results>"
    else:
        results = '<Results i:nil="true"/>'

    return (
        f"<NotificationOutcome {_OPEN}><Success>{succeeded}</Success>"
        f"<Failure>{len(targets) - succeeded}</Failure>{results}</NotificationOutcome>"
    )


def _registration_result(target: RecordedTarget) -> str:
    return (
        "<RegistrationResult>"
        f"<ApplicationPlatform>{text(target.platform)}</ApplicationPlatform>"
        f"<PnsHandle>{text(target.pns_handle)}</PnsHandle>"
        f"<RegistrationId>{text(target.id or '')}</RegistrationId>"
        f"<Outcome>{text(target.outcome)}</Outcome>"
        "</RegistrationResult>"
    )


def notification_details_xml(record: RecordedNotification, location: str) -> str:
    """The telemetry of one recorded notification; every send completes at once."""
    state = "Completed" if record.targets else "NoTargetFound"
    enqueued = record.received_at.astimezone(timezone.utc)
    parts = [
        f"<NotificationDetails {_OPEN}>",
        f"<NotificationId>{text(record.notification_id)}</NotificationId>",
        f"<Location>{text(location)}</Location>",
        f"<State>{state}</State>",
        f"<EnqueueTime>{enqueued:%Y-%m-%dT%H:%M:%SZ}</EnqueueTime>",
        f"<StartTime>{_precise(enqueued)}</StartTime>",
        f"<EndTime>{_precise(enqueued)}</EndTime>",
        f"<NotificationBody>{text(record.text)}</NotificationBody>",
    ]
    if record.tags:
        parts.append(f"<Tags>{text(record.tags)}</Tags>")

    parts.append(f"<TargetPlatforms>{text(record.format)}</TargetPlatforms>")
    parts.extend(_outcome_counts(record.targets))
    parts.append("</NotificationDetails>")
    return "".join(parts)


def _outcome_counts(targets: Sequence[RecordedTarget]) -> list[str]:
    successes = Counter(target.platform for target in targets if target.succeeded)
    failures = Counter(target.platform for target in targets if not target.succeeded)
    elements: list[str] = []
    for platform, element in _OUTCOME_ELEMENTS:
        if not successes[platform] and not failures[platform]:
            continue

        outcomes = _outcome("Success", successes[platform])
        if failures[platform]:
            outcomes += _outcome(_FAILURE_NAME, failures[platform])

        elements.append(f"<{element}>{outcomes}</{element}>")

    return elements


def _outcome(name: str, count: int) -> str:
    return f"<Outcome><Name>{name}</Name><Count>{count}</Count></Outcome>"


def _precise(moment: datetime) -> str:
    # Seven fractional digits, as .NET writes them.
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"
