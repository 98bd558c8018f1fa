"""
The client against the emulator over real loopback HTTPS.

Every test here goes through TLS, uvicorn and the emulator's SAS checks. The
emulator is the pytest plugin's (one server for the session, reset for each test).
Raw requests are signed by `sign_token` below, written from the wire spec (§1.3)
rather than from the client's signing code. Device handles are made up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import entry_points

import anyio
import anyio.lowlevel
import httpx
import pytest
import pytest_asyncio
from starlette.types import Receive, Scope, Send

from notifhub_async import (
    AsyncNotificationHub,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    Installation,
    InstallationPlatform,
    InvalidNotificationError,
    NotFoundError,
    Notification,
    PayloadTooLargeError,
    RetryPolicy,
    SendResult,
    TagExpressionError,
    ThrottledError,
    TransportError,
)
from notifhub_async.emulator import Emulator, EmulatorServer, FaultKind, FaultRule

# pytester, for the test that runs a user's suite with the plugin.
pytest_plugins = ["pytester"]

HUB = "myhub"
FULL_RULE = "DefaultFullSharedAccessSignature"
LISTEN_RULE = "DefaultListenSharedAccessSignature"
# Outcome strings of test sends, from the wire spec §4.6.
OUTCOME_SUCCESS = (
    "The Notification was successfully sent to the Push Notification System"
)
OUTCOME_INVALID_HANDLE = (
    "The Push Notification System handle for the registration is invalid"
)
APPLE_JSON = "application/json;charset=utf-8"
APNS, FCMV1 = InstallationPlatform.APNS, InstallationPlatform.FCMV1
IPHONE = "a1" * 32
IPAD = "b2" * 32
PIXEL = "fcm-token-pixel-0123456789"


class RecordingSleep:
    """The hub's `sleep`: remembers each requested delay and waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.lowlevel.checkpoint()


@pytest.fixture
def emulator(nh_emulator: EmulatorServer) -> Emulator:
    return nh_emulator.emulator


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest_asyncio.fixture
async def hub(
    nh_emulator: EmulatorServer, sleep: RecordingSleep
) -> AsyncIterator[AsyncNotificationHub]:
    """Like the plugin's nh_hub, with retries that wait through `sleep`."""
    async with AsyncNotificationHub(
        nh_emulator.connection_string(HUB),
        HUB,
        verify=nh_emulator.ssl_context(),
        sleep=sleep,
    ) as client:
        yield client


def full_key(server: EmulatorServer) -> str:
    hub_config = server.emulator.config.hub(HUB)
    assert hub_config is not None
    rule = hub_config.rule(FULL_RULE)
    assert rule is not None
    return rule.key


def sign_token(
    resource: str,
    key_name: str,
    key: str,
    *,
    lower_case_hex: bool = False,
    expires_in: int = 600,
) -> str:
    """
    A SAS token per wire spec §1.3, fields in the Python sample's order.

    `resource` is lower-cased and percent-encoded (upper-case hex, as JavaScript's
    encodeURIComponent writes it, or lower-case hex, as .NET's UrlEncode does); the
    encoded form is what gets signed.
    """
    encoded = _percent_encode(resource.lower(), lower_case_hex)
    expiry = int(time.time()) + expires_in
    digest = hmac.new(
        key.encode("utf-8"), f"{encoded}\n{expiry}".encode(), hashlib.sha256
    ).digest()
    signature = _percent_encode(base64.b64encode(digest).decode("ascii"), False)
    return (
        f"SharedAccessSignature sig={signature}&se={expiry}"
        f"&skn={_percent_encode(key_name, False)}&sr={encoded}"
    )


def _percent_encode(text: str, lower_case_hex: bool) -> str:
    # Every byte but ASCII letters, digits and -_.~ is escaped.
    hex_format = "%{:02x}" if lower_case_hex else "%{:02X}"
    return "".join(
        chr(byte) if _UNRESERVED.fullmatch(chr(byte)) else hex_format.format(byte)
        for byte in text.encode("utf-8")
    )


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]")


async def post_raw(
    server: EmulatorServer,
    headers: dict[str, str],
    body: bytes,
    *,
    query: str = "api-version=2020-06",
    token: str | None = None,
) -> httpx.Response:
    """POST to the hub's messages endpoint without our client's checks."""
    if token is None:
        token = sign_token(server.endpoint, FULL_RULE, full_key(server))

    async with httpx.AsyncClient(verify=server.ssl_context()) as http:
        return await http.post(
            f"{server.endpoint}{HUB}/messages/?{query}",
            headers={"Authorization": token, **headers},
            content=body,
        )


def error_document(response: httpx.Response) -> tuple[str, str]:
    """The Code and Detail of the service's `<Error>` body."""
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    return root.findtext("Code", ""), root.findtext("Detail", "")


async def register(
    hub: AsyncNotificationHub,
    installation_id: str,
    platform: InstallationPlatform,
    push_channel: str,
    tags: tuple[str, ...] = (),
) -> None:
    await hub.create_or_update_installation(
        Installation(
            installation_id=installation_id,
            platform=platform,
            push_channel=push_channel,
            tags=tags,
        )
    )


@pytest.fixture
def tripwire(emulator: Emulator) -> Iterator[None]:
    """
    Prove that no request reaches the emulator during the test.

    A fault that fires on the first request of any kind is armed; if it is still
    armed at the end, nothing arrived.
    """
    wire = FaultRule("server-error", count=1)
    emulator.add_fault(wire)
    yield
    assert emulator.faults == (wire,), "a request reached the emulator"


# -- sends and test sends --------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_send_reaches_matching_devices_and_is_recorded(
    hub: AsyncNotificationHub, emulator: Emulator, nh_emulator: EmulatorServer
) -> None:
    await register(hub, "iphone", APNS, IPHONE, ("news",))
    await register(hub, "pixel", FCMV1, PIXEL, ("sport",))
    payload = {"aps": {"alert": "Extra edition"}}

    result = await hub.send_apple_notification(payload, "news")

    assert result.status_code == 201
    assert result.tracking_id and result.correlation_id
    assert result.location is not None
    assert result.location.startswith(f"{nh_emulator.endpoint}{HUB}/messages/")
    [record] = emulator.records
    assert record.notification_id == result.notification_id
    assert (record.format, record.tags, record.test_send) == ("apple", "news", False)
    assert json.loads(record.body) == payload
    assert [(target.id, target.pns_handle) for target in record.targets] == [
        ("iphone", IPHONE)
    ]
    assert record.headers["servicebusnotification-format"] == "apple"
    assert "authorization" not in record.headers


@pytest.mark.asyncio
async def test_a_test_send_reports_each_devices_outcome(
    hub: AsyncNotificationHub, emulator: Emulator
) -> None:
    await register(hub, "iphone", APNS, IPHONE, ("news",))
    await register(hub, "ipad", APNS, IPAD, ("news",))
    emulator.mark_handle_invalid(IPAD)

    result = await hub.send_apple_notification(
        {"aps": {"alert": "Check"}}, "news", test_send=True
    )

    assert result.outcome is not None
    assert (result.outcome.success, result.outcome.failure) == (1, 1)
    outcomes = {entry.pns_handle: entry.outcome for entry in result.outcome.results}
    assert outcomes == {IPHONE: OUTCOME_SUCCESS, IPAD: OUTCOME_INVALID_HANDLE}
    [record] = emulator.records
    assert record.test_send


# -- authentication and rights ---------------------------------------------------------


@pytest.mark.asyncio
async def test_a_wrong_key_is_refused_with_401(
    nh_emulator: EmulatorServer, emulator: Emulator
) -> None:
    wrong_key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    connection_string = nh_emulator.connection_string(HUB).replace(
        full_key(nh_emulator), wrong_key
    )
    async with AsyncNotificationHub(
        connection_string, HUB, verify=nh_emulator.ssl_context()
    ) as hub:
        with pytest.raises(AuthenticationError) as error:
            await hub.send_apple_notification({"aps": {"alert": "x"}})

    assert error.value.status_code == 401
    assert error.value.detail
    assert error.value.tracking_id
    assert emulator.records == []


@pytest.mark.asyncio
async def test_an_expired_token_is_refused_with_401(
    nh_emulator: EmulatorServer, emulator: Emulator
) -> None:
    # The client signs with a clock two hours behind: its one-hour token is stale.
    async with AsyncNotificationHub(
        nh_emulator.connection_string(HUB),
        HUB,
        verify=nh_emulator.ssl_context(),
        clock=lambda: time.time() - 7200,
    ) as hub:
        with pytest.raises(AuthenticationError):
            await hub.send_apple_notification({"aps": {"alert": "x"}})

    assert emulator.records == []


@pytest.mark.asyncio
async def test_the_listen_only_rule_cannot_send(
    nh_emulator: EmulatorServer, emulator: Emulator
) -> None:
    async with AsyncNotificationHub(
        nh_emulator.connection_string(HUB, LISTEN_RULE),
        HUB,
        verify=nh_emulator.ssl_context(),
    ) as hub:
        with pytest.raises(ForbiddenError) as error:
            await hub.send_apple_notification({"aps": {"alert": "x"}})

    assert error.value.status_code == 403
    assert error.value.retry_after is None
    assert emulator.records == []


@pytest.mark.parametrize(
    ("resource", "lower_case_hex"),
    [
        # The JavaScript SDK: the namespace root, upper-case percent-encoding.
        ("{endpoint}", False),
        # .NET: the full request URL with an http scheme, lower-case encoding.
        ("http://{host}/myhub/messages/", True),
    ],
    ids=["namespace-root-upper-hex", "http-request-url-lower-hex"],
)
@pytest.mark.asyncio
async def test_a_token_signed_like_another_sdk_is_accepted(
    nh_emulator: EmulatorServer, emulator: Emulator, resource: str, lower_case_hex: bool
) -> None:
    host = nh_emulator.endpoint.split("//", 1)[1].rstrip("/")
    audience = resource.format(endpoint=nh_emulator.endpoint, host=host)
    token = sign_token(
        audience, FULL_RULE, full_key(nh_emulator), lower_case_hex=lower_case_hex
    )
    headers = {"ServiceBusNotification-Format": "apple", "Content-Type": APPLE_JSON}

    response = await post_raw(nh_emulator, headers, b'{"aps":{}}', token=token)

    assert response.status_code == 201, response.text
    assert [record.format for record in emulator.records] == ["apple"]


@pytest.mark.asyncio
async def test_a_token_with_a_tampered_signature_is_refused(
    nh_emulator: EmulatorServer, emulator: Emulator
) -> None:
    token = sign_token(nh_emulator.endpoint, FULL_RULE, full_key(nh_emulator))
    signature = token.split("sig=", 1)[1].split("&", 1)[0]
    tampered = token.replace(signature, signature[::-1])
    headers = {"ServiceBusNotification-Format": "apple", "Content-Type": APPLE_JSON}

    response = await post_raw(nh_emulator, headers, b'{"aps":{}}', token=tampered)

    assert response.status_code == 401
    assert error_document(response)[0] == "401"
    assert emulator.records == []


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "query", "status", "detail"),
    [
        (
            {"ServiceBusNotification-Format": "fcmlegacy", "Content-Type": APPLE_JSON},
            b"{}",
            "api-version=2020-06",
            400,
            "'ServiceBusNotification-Format' has an invalid value: 'fcmlegacy'",
        ),
        (
            {"Content-Type": APPLE_JSON},
            b"{}",
            "api-version=2020-06",
            400,
            "ServiceBusNotification-Format",
        ),
        (
            {"ServiceBusNotification-Format": "apple", "Content-Type": "text/plain"},
            b"{}",
            "api-version=2020-06",
            400,
            "content type 'text/plain'",
        ),
        (
            {"ServiceBusNotification-Format": "apple", "Content-Type": APPLE_JSON},
            b'{"aps":{"alert":"' + b"x" * 65 * 1024 + b'"}}',
            "api-version=2020-06",
            413,
            "64 Kb",
        ),
        (
            {
                "ServiceBusNotification-Format": "apple",
                "Content-Type": APPLE_JSON,
                "ServiceBusNotification-Tags": "news && (sport",
            },
            b"{}",
            "api-version=2020-06",
            400,
            "",
        ),
        (
            {
                "ServiceBusNotification-Format": "apple",
                "Content-Type": APPLE_JSON,
                "ServiceBusNotification-Tags": " || ".join(
                    f"tag{number}" for number in range(21)
                ),
            },
            b"{}",
            "api-version=2020-06",
            400,
            "",
        ),
        (
            {"ServiceBusNotification-Format": "apple", "Content-Type": APPLE_JSON},
            b"{}",
            "",
            400,
            "api-version",
        ),
    ],
    ids=[
        "unknown-format",
        "missing-format",
        "wrong-content-type",
        "65-kb-body",
        "unbalanced-tag-expression",
        "21-tags",
        "no-api-version",
    ],
)
@pytest.mark.asyncio
async def test_the_emulator_refuses_what_the_service_refuses(
    nh_emulator: EmulatorServer,
    emulator: Emulator,
    headers: dict[str, str],
    body: bytes,
    query: str,
    status: int,
    detail: str,
) -> None:
    response = await post_raw(nh_emulator, headers, body, query=query)

    assert response.status_code == status
    code, text = error_document(response)
    assert code == str(status)
    assert detail in text
    assert response.headers["TrackingId"]
    assert emulator.records == []


@pytest.mark.asyncio
async def test_a_wrong_content_type_from_the_client_is_a_bad_request(
    hub: AsyncNotificationHub, emulator: Emulator
) -> None:
    # The client lets a caller's Content-Type through; the service judges it.
    notification = Notification(
        "apple", {"aps": {"alert": "x"}}, {"Content-Type": "text/plain"}
    )

    with pytest.raises(BadRequestError) as error:
        await hub.send_notification(notification)

    assert error.value.detail is not None
    assert "text/plain" in error.value.detail
    assert emulator.records == []


@pytest.mark.usefixtures("tripwire")
@pytest.mark.asyncio
async def test_the_client_refuses_before_sending_what_the_service_would_refuse(
    hub: AsyncNotificationHub,
) -> None:
    with pytest.raises(InvalidNotificationError):
        await hub.send_notification(Notification("fcmlegacy", {"data": {}}))

    with pytest.raises(PayloadTooLargeError) as too_large:
        await hub.send_gcm_notification({"data": {"text": "x" * 65 * 1024}})

    assert too_large.value.status_code is None
    with pytest.raises(TagExpressionError):
        await hub.send_apple_notification({"aps": {}}, "news && (sport")

    with pytest.raises(TagExpressionError):
        await hub.send_apple_notification(
            {"aps": {}}, " || ".join(f"tag{number}" for number in range(21))
        )


# -- throttling ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["throttle", "throttle-403", "unavailable"])
@pytest.mark.asyncio
async def test_a_refused_send_is_retried_after_retry_after(
    hub: AsyncNotificationHub,
    emulator: Emulator,
    sleep: RecordingSleep,
    kind: FaultKind,
) -> None:
    emulator.add_fault(FaultRule(kind, count=1, retry_after=3))

    result = await hub.send_apple_notification({"aps": {"alert": "x"}})

    assert result.status_code == 201
    assert len(sleep.delays) == 1
    assert sleep.delays[0] >= 3
    # The refused attempt left no trace; the retry was accepted once.
    assert [record.notification_id for record in emulator.records] == [
        result.notification_id
    ]
    assert emulator.faults == ()


@pytest.mark.asyncio
async def test_a_hub_that_keeps_throttling_wins_after_the_retries(
    hub: AsyncNotificationHub, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.add_fault(FaultRule("throttle", retry_after=2))

    with pytest.raises(ThrottledError) as error:
        await hub.send_apple_notification({"aps": {"alert": "x"}})

    assert error.value.status_code == 429
    assert error.value.retry_after == 2
    assert len(sleep.delays) == RetryPolicy().max_retries
    assert all(delay >= 2 for delay in sleep.delays)
    assert emulator.records == []


# -- the emulator's own endpoints, over HTTPS ------------------------------------------


@pytest.mark.asyncio
async def test_a_harness_in_another_process_can_steer_the_emulator_over_https(
    nh_emulator: EmulatorServer, hub: AsyncNotificationHub
) -> None:
    admin = f"{nh_emulator.endpoint}_emulator"
    async with httpx.AsyncClient(verify=nh_emulator.ssl_context()) as http:
        fault = {"kind": "throttle", "count": 1, "retry_after": 4}
        assert (await http.post(f"{admin}/faults", json=fault)).status_code == 201
        marked = await http.post(f"{admin}/invalid-handles", json={"handle": "DEAD"})
        assert marked.status_code == 204
        await hub.create_or_update_installation(
            Installation("d1", InstallationPlatform.APNS, "DEAD", tags=["x"])
        )

        # The posted fault fires once (the hub then waits it out and resends).
        result = await hub.send_apple_notification({"aps": {}}, "x", test_send=True)
        assert result.outcome is not None
        assert [r.outcome for r in result.outcome.results] == [OUTCOME_INVALID_HANDLE]
        assert (await http.get(f"{admin}/faults")).json() == []
        [record] = (await http.get(f"{admin}/records")).json()
        assert record["tags"] == "x"

        assert (await http.post(f"{admin}/reset")).status_code == 204
        assert (await http.get(f"{admin}/records")).json() == []
        with pytest.raises(NotFoundError):
            await hub.get_installation("d1")


# -- connection resets -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_reset_before_the_request_is_read_fails_the_send_without_resending(
    hub: AsyncNotificationHub, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.add_fault(FaultRule("reset-before", count=1))

    # The client cannot tell this reset from one after the service acted, so the
    # send's fate is unknown and it is not resent (a resend would have succeeded).
    with pytest.raises(TransportError) as error:
        await hub.send_apple_notification({"aps": {"alert": "x"}})

    assert error.value.fate_unknown
    assert isinstance(error.value.__cause__, httpx.TransportError)
    assert sleep.delays == []
    assert emulator.records == []
    assert emulator.faults == ()


@pytest.mark.asyncio
async def test_a_reset_after_the_request_was_read_fails_the_send_without_resending(
    hub: AsyncNotificationHub, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.add_fault(FaultRule("reset-after", count=1))

    with pytest.raises(TransportError) as error:
        await hub.send_apple_notification({"aps": {"alert": "x"}})

    assert error.value.fate_unknown
    assert sleep.delays == []
    # The emulator accepted it once; the client did not push it a second time.
    assert len(emulator.records) == 1


@pytest.mark.asyncio
async def test_an_idempotent_write_is_retried_after_a_reset(
    hub: AsyncNotificationHub, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.add_fault(FaultRule("reset-after", count=1, path="/installations/"))

    await register(hub, "iphone", APNS, IPHONE, ("news",))

    assert len(sleep.delays) == 1
    assert emulator.installations(HUB)["iphone"]["tags"] == ["news"]


# -- the connection pool ---------------------------------------------------------------


class ConnectionCountingEmulator(Emulator):
    """The emulator, noting the client address of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.clients: set[tuple[str, int]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host, port = scope["client"]
            self.clients.add((host, port))

        await super().__call__(scope, receive, send)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_two_thousand_concurrent_sends_share_four_connections() -> None:
    emulator = ConnectionCountingEmulator()
    async with EmulatorServer(emulator) as server:
        async with AsyncNotificationHub(
            server.connection_string(HUB),
            HUB,
            verify=server.ssl_context(),
            max_connections=4,
        ) as hub:
            results = await _gather_sends(hub, 2000)

    assert [result.status_code for result in results] == [201] * 2000
    assert len({result.notification_id for result in results}) == 2000
    assert len(emulator.records) == 2000
    assert 1 <= len(emulator.clients) <= 4


async def _gather_sends(hub: AsyncNotificationHub, count: int) -> list[SendResult]:
    results: list[SendResult] = []

    async def send(number: int) -> None:
        results.append(
            await hub.send_apple_notification({"aps": {"alert": f"#{number}"}})
        )

    async with anyio.create_task_group() as group:
        for number in range(count):
            group.start_soon(send, number)

    return results


# -- the pytest plugin -----------------------------------------------------------------


def plugin_arguments() -> list[str]:
    """Load the plugin explicitly unless its entry point is installed."""
    installed = any(
        entry.value == "notifhub_async.testing"
        for entry in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "notifhub_async.testing"]


@pytest.mark.slow
def test_the_plugin_gives_each_test_a_fresh_emulator(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = strict
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from notifhub_async import Installation
        from notifhub_async.emulator import FaultRule

        pytestmark = pytest.mark.asyncio

        async def test_first(nh_hub, nh_emulator):
            await nh_hub.create_or_update_installation(
                Installation("phone", "apns", "ab" * 32, tags=("news",))
            )
            result = await nh_hub.send_apple_notification({"aps": {}}, "news")
            assert [r.notification_id for r in nh_emulator.emulator.records] == [
                result.notification_id
            ]
            nh_emulator.emulator.add_fault(FaultRule("throttle"))

        async def test_second(nh_hub, nh_emulator, nh_emulator_server):
            assert nh_emulator is nh_emulator_server
            emulator = nh_emulator.emulator
            assert emulator.records == []
            assert emulator.faults == ()
            assert emulator.installations("myhub") == {}
            result = await nh_hub.send_apple_notification({"aps": {}})
            assert result.status_code == 201
        """
    )

    result = pytester.runpytest_inprocess(*plugin_arguments())

    result.assert_outcomes(passed=2)
