"""
When to retry, and how long to wait. Pure functions; the client owns the loop.

Sends are not idempotent: the service has no idempotency key, so resending a send it
may already have accepted can push the same notification twice. The rules:

* throttling (429, 403 with Retry-After) and 503/408 were refused before any work:
  always retried, honouring the service's advice;
* a connection that failed before the request was written: always retried;
* an unknown fate (read timeout, reset after sending, 500/502/504): retried only for
  idempotent operations (reads, PUT, DELETE) or when the caller opts in.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from ._errors import NotificationHubError, ServerError, ThrottledError, TransportError

__all__ = ["RetryPolicy", "compute_delay", "parse_retry_after", "should_retry"]

# Server errors that say the request itself is at fault: 501 Not Implemented, 505
# HTTP Version Not Supported.
_NEVER_WORKS = frozenset({501, 505})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """
    How hard to retry.

    Attributes:
        max_retries: retries after the first attempt (0 disables retrying).
        base_delay: the first exponential backoff step, in seconds.
        max_delay: the cap on any single wait, including the service's Retry-After.
        retry_unknown_fate: also resend sends whose fate is unknown, accepting the
            risk of a duplicate push.
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    retry_unknown_fate: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry settings must not be negative")


NO_RETRIES = RetryPolicy(max_retries=0)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """
    Seconds the service asks us to wait, from its headers, or None.

    Reads `retry-after-ms` and `x-ms-retry-after-ms` (milliseconds) first, then
    `Retry-After` as seconds or as an HTTP date relative to `now` (Unix seconds).
    A negative or unreadable value is ignored.
    """
    if not isinstance(headers, httpx.Headers):
        # httpx's headers are case-insensitive; a plain mapping may not be.
        headers = {name.lower(): value for name, value in headers.items()}

    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        milliseconds = _number(headers.get(name))
        if milliseconds is not None:
            return milliseconds / 1000

    value = headers.get("retry-after")
    if value is None:
        return None

    seconds = _number(value)
    if seconds is not None:
        return seconds

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None

    if moment.tzinfo is None:
        return None

    return max(0.0, moment.timestamp() - now)


def should_retry(
    error: NotificationHubError, *, idempotent: bool, policy: RetryPolicy
) -> bool:
    """Whether `error` may be retried under `policy` (attempts are counted apart)."""
    if error.fate_unknown:
        return idempotent or policy.retry_unknown_fate

    # Throttling, 503/408 and connections that never carried the request. 501 and
    # 505 were not acted on either, but the same request would fail the same way.
    if isinstance(error, ServerError):
        return error.status_code not in _NEVER_WORKS

    return isinstance(error, ThrottledError | TransportError)


def compute_delay(
    error: NotificationHubError,
    attempt: int,
    policy: RetryPolicy,
    rng: random.Random,
) -> float:
    """
    Seconds to wait before retry number `attempt` (1 for the first retry).

    The service's advice wins when it gave one; otherwise exponential backoff from
    `base_delay`. Either way jitter spreads retries so that many tasks throttled at
    once do not come back in lock-step.
    """
    advice = getattr(error, "retry_after", None)
    if advice is not None:
        delay = min(float(advice), policy.max_delay)
        jitter = rng.uniform(0, min(1.0, delay * 0.1 + 0.05))
        # max_delay caps the wait itself, jitter included.
        return min(delay + jitter, policy.max_delay)

    # The exponent is bounded so that a huge max_retries cannot overflow a float.
    step = min(policy.base_delay * 2.0 ** min(attempt - 1, 64), policy.max_delay)
    return rng.uniform(step / 2, step)


def _number(value: str | None) -> float | None:
    if value is None:
        return None

    try:
        number = float(value.strip())
    except ValueError:
        return None

    if number != number or number < 0 or number == float("inf"):
        return None

    return number
