"""Retry decisions and delays: pure functions, no clocks, no sleeps."""

from __future__ import annotations

import random

import httpx
import pytest

from notifhub_async import (
    ConnectError,
    InvalidNotificationError,
    NotificationHubError,
    RequestTimeoutError,
    ResponseParseError,
    RetryPolicy,
    ThrottledError,
    TransportError,
)
from notifhub_async._errors import error_from_response
from notifhub_async._retry import compute_delay, parse_retry_after, should_retry

# 2023-11-14T22:13:20Z.
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="no-advice"),
        pytest.param({"Retry-After": "10"}, 10.0, id="seconds"),
        pytest.param({"retry-after": "0"}, 0.0, id="zero"),
        pytest.param({"Retry-After": "1.5"}, 1.5, id="fractional-seconds"),
        pytest.param({"Retry-After": " 7 "}, 7.0, id="padded"),
        pytest.param({"RETRY-AFTER": "3"}, 3.0, id="header-name-case"),
        pytest.param(
            {"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0, id="http-date"
        ),
        pytest.param(
            {"Retry-After": "Tue, 14 Nov 2023 22:00:00 GMT"}, 0.0, id="date-in-past"
        ),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="retry-after-ms"),
        pytest.param({"x-ms-retry-after-ms": "250"}, 0.25, id="x-ms-retry-after-ms"),
        pytest.param(
            {"Retry-After": "30", "x-ms-retry-after-ms": "200"},
            0.2,
            id="x-ms-ms-beats-retry-after",
        ),
        pytest.param(
            {
                "Retry-After": "30",
                "x-ms-retry-after-ms": "200",
                "retry-after-ms": "100",
            },
            0.1,
            id="retry-after-ms-beats-both",
        ),
        pytest.param(
            {"retry-after-ms": "-5", "Retry-After": "4"},
            4.0,
            id="negative-ms-ignored",
        ),
        pytest.param(
            {"x-ms-retry-after-ms": "soon", "Retry-After": "2"},
            2.0,
            id="garbage-ms-ignored",
        ),
        pytest.param({"Retry-After": "-1"}, None, id="negative-seconds"),
        pytest.param({"Retry-After": "soon"}, None, id="garbage"),
        pytest.param({"Retry-After": ""}, None, id="empty"),
        pytest.param({"Retry-After": "NaN"}, None, id="nan"),
        pytest.param({"Retry-After": "inf"}, None, id="infinity"),
        pytest.param(
            {"Retry-After": "Tue, 14 Nov 2023 22:13:50"}, None, id="date-without-zone"
        ),
        pytest.param({"Retry-After": "Tue, 99 Foo 2023"}, None, id="broken-date"),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers), NOW) == expected


def test_http_date_is_relative_to_the_given_now() -> None:
    headers = httpx.Headers({"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"})

    assert parse_retry_after(headers, NOW + 10) == 20.0
    assert parse_retry_after(headers, NOW - 60) == 90.0


def service_error(
    status_code: int, retry_after: float | None = None
) -> NotificationHubError:
    return error_from_response(
        status_code, httpx.Headers(), None, retry_after=retry_after, operation="send"
    )


OPTED_IN = RetryPolicy(retry_unknown_fate=True)
DEFAULT = RetryPolicy()

# (error, retried for a send, retried for an idempotent call, retried when the
# caller opted in to resending sends of unknown fate)
RETRY_TABLE = [
    pytest.param(service_error(429), True, True, True, id="429"),
    pytest.param(service_error(429, 5), True, True, True, id="429-retry-after"),
    pytest.param(service_error(403, 5), True, True, True, id="403-retry-after"),
    pytest.param(service_error(503), True, True, True, id="503"),
    pytest.param(service_error(408), True, True, True, id="408"),
    pytest.param(service_error(500), False, True, True, id="500"),
    pytest.param(service_error(502), False, True, True, id="502"),
    pytest.param(service_error(504), False, True, True, id="504"),
    pytest.param(service_error(501), False, False, False, id="501"),
    pytest.param(service_error(505), False, False, False, id="505"),
    pytest.param(ConnectError("refused"), True, True, True, id="connect-error"),
    pytest.param(
        RequestTimeoutError("connect timeout", fate_unknown=False),
        True,
        True,
        True,
        id="timeout-before-sending",
    ),
    pytest.param(
        RequestTimeoutError("read timeout", fate_unknown=True),
        False,
        True,
        True,
        id="read-timeout",
    ),
    pytest.param(
        TransportError("reset after sending", fate_unknown=True),
        False,
        True,
        True,
        id="reset-after-sending",
    ),
    pytest.param(service_error(400), False, False, False, id="400"),
    pytest.param(service_error(401), False, False, False, id="401"),
    pytest.param(service_error(403), False, False, False, id="403"),
    pytest.param(service_error(404), False, False, False, id="404"),
    pytest.param(service_error(409), False, False, False, id="409"),
    pytest.param(service_error(413), False, False, False, id="413"),
    pytest.param(service_error(418), False, False, False, id="unmapped-418"),
    pytest.param(ResponseParseError("bad body"), False, False, False, id="parse"),
    pytest.param(InvalidNotificationError("bad"), False, False, False, id="invalid"),
]


@pytest.mark.parametrize(
    ("error", "for_send", "for_idempotent", "when_opted_in"), RETRY_TABLE
)
def test_should_retry(
    error: NotificationHubError,
    for_send: bool,
    for_idempotent: bool,
    when_opted_in: bool,
) -> None:
    assert should_retry(error, idempotent=False, policy=DEFAULT) is for_send
    assert should_retry(error, idempotent=True, policy=DEFAULT) is for_idempotent
    assert should_retry(error, idempotent=False, policy=OPTED_IN) is when_opted_in


class EdgeRandom(random.Random):
    """A Random whose uniform() always answers one end of the range."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b if self.high else a


@pytest.mark.parametrize(
    ("advice", "low", "high"),
    [
        pytest.param(0.0, 0.0, 0.05, id="zero"),
        pytest.param(2.0, 2.0, 2.25, id="two-seconds"),
        pytest.param(5.0, 5.0, 5.55, id="five-seconds"),
        pytest.param(30.0, 30.0, 31.0, id="jitter-capped-at-one-second"),
        pytest.param(59.5, 59.5, 60.0, id="jitter-stops-at-max-delay"),
        pytest.param(600.0, 60.0, 60.0, id="advice-capped-at-max-delay"),
    ],
)
def test_delay_honours_the_services_advice(
    advice: float, low: float, high: float
) -> None:
    error = service_error(429, advice)

    assert compute_delay(error, 1, DEFAULT, EdgeRandom(high=False)) == pytest.approx(
        low
    )
    assert compute_delay(error, 1, DEFAULT, EdgeRandom(high=True)) == pytest.approx(
        high
    )


def test_advice_wins_over_the_attempt_number() -> None:
    error = service_error(429, 3.0)

    for attempt in (1, 2, 5):
        delay = compute_delay(error, attempt, DEFAULT, random.Random(attempt))
        assert 3.0 <= delay <= 3.35


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        pytest.param(1, 0.5, 1.0, id="first-retry"),
        pytest.param(2, 1.0, 2.0, id="second-retry"),
        pytest.param(3, 2.0, 4.0, id="third-retry"),
        pytest.param(6, 16.0, 32.0, id="sixth-retry"),
        pytest.param(7, 30.0, 60.0, id="seventh-retry-capped"),
        pytest.param(10_000, 30.0, 60.0, id="absurd-attempt-no-overflow"),
    ],
)
def test_exponential_backoff_bounds(attempt: int, low: float, high: float) -> None:
    error = service_error(503)
    edges = EdgeRandom(high=False)

    assert compute_delay(error, attempt, DEFAULT, edges) == low
    assert edges.ranges == [(low, high)]
    assert compute_delay(error, attempt, DEFAULT, EdgeRandom(high=True)) == high
    for seed in range(50):
        delay = compute_delay(error, attempt, DEFAULT, random.Random(seed))
        assert low <= delay <= high


def test_backoff_follows_base_and_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.3)
    error = ConnectError("refused")

    highs = [
        compute_delay(error, attempt, policy, EdgeRandom(high=True))
        for attempt in range(1, 5)
    ]

    assert highs == pytest.approx([0.1, 0.2, 0.3, 0.3])


def test_zero_delays_policy_waits_for_nothing() -> None:
    policy = RetryPolicy(base_delay=0, max_delay=0)

    assert compute_delay(service_error(503), 3, policy, random.Random(1)) == 0
    assert compute_delay(service_error(429, 30), 1, policy, random.Random(1)) == 0


def test_delays_are_deterministic_under_a_seed() -> None:
    errors = [service_error(503), service_error(429, 2.0), ConnectError("x")]

    def delays(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [
            compute_delay(error, attempt, DEFAULT, rng)
            for attempt in (1, 2, 3)
            for error in errors
        ]

    assert delays(42) == delays(42)
    assert delays(42) != delays(43)


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"max_retries": -1}, id="negative-retries"),
        pytest.param({"base_delay": -0.1}, id="negative-base"),
        pytest.param({"max_delay": -1.0}, id="negative-max"),
    ],
)
def test_policy_refuses_negative_settings(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(**settings)  # type: ignore[arg-type]


def test_policy_defaults() -> None:
    assert RetryPolicy() == RetryPolicy(
        max_retries=3, base_delay=1.0, max_delay=60.0, retry_unknown_fate=False
    )


def test_throttled_error_exposes_retry_after() -> None:
    error = service_error(429, 12.5)

    assert isinstance(error, ThrottledError)
    assert error.retry_after == 12.5


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Retry-After": "4"}, id="canonical"),
        pytest.param({"RETRY-AFTER": "4"}, id="upper"),
        pytest.param({"Retry-After-Ms": "4000"}, id="milliseconds"),
    ],
)
def test_plain_mappings_are_read_case_insensitively(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers, NOW) == 4.0
