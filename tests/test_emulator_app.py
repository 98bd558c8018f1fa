"""
The emulator as an ASGI app, in-process: authentication, validation, targeting,
templates, test-send outcomes, notification details, direct sends and its own
`/_emulator/` endpoints, driven by our real client and by raw requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio

from notifhub_async import (
    AsyncNotificationHub,
    AuthenticationError,
    ForbiddenError,
    Notification,
    NotificationFormat,
)
from notifhub_async.emulator import (
    AccessRule,
    EmulatorConfig,
    HubConfig,
    RecordedNotification,
)

from ._emulator_support import (
    API,
    ENDPOINT,
    FULL,
    HUB,
    LISTEN,
    NH_NAMESPACE,
    NOW,
    Harness,
    installation,
    make_harness,
    put_installation,
)

pytestmark = pytest.mark.asyncio

SUCCESS = "The Notification was successfully sent to the Push Notification System"
INVALID = "The Push Notification System handle for the registration is invalid"
APPLE_JSON = {
    "ServiceBusNotification-Format": "apple",
    "Content-Type": "application/json;charset=utf-8",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = make_harness()
    async with harness.client:
        yield harness


def error_detail(response: httpx.Response) -> str:
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    assert root.findtext("Code") == str(response.status_code)
    detail = root.findtext("Detail")
    assert detail is not None
    # The service appends the tracking id and a timestamp to every Detail.
    assert f"TrackingId:{response.headers['TrackingId']}" in detail
    return detail


async def send_raw(
    harness: Harness,
    body: bytes | str = b'{"aps":{"alert":"hi"}}',
    *,
    query: str = API,
    headers: dict[str, str] | None = None,
    rule: str = FULL,
    authorization: str | None = None,
    path: str = "messages/",
) -> httpx.Response:
    return await harness.call(
        "POST",
        f"{HUB}/{path}?{query}",
        rule=rule,
        headers=APPLE_JSON if headers is None else headers,
        content=body,
        authorization=authorization,
    )


# -- authentication --------------------------------------------------------------------


async def test_a_wrong_key_is_refused_with_401(harness: Harness) -> None:
    wrong = AccessRule.generate(FULL, {"Send"}).key
    connection_string = harness.emulator.connection_string(ENDPOINT).replace(
        harness.key(), wrong
    )
    hub = AsyncNotificationHub(
        connection_string, HUB, http_client=harness.client, clock=lambda: NOW
    )
    with pytest.raises(AuthenticationError) as caught:
        await hub.send_apple_notification({"aps": {"alert": "hi"}})

    assert caught.value.status_code == 401
    assert caught.value.detail is not None
    assert caught.value.detail.startswith("InvalidSignature")
    assert harness.emulator.records == []


async def test_an_expired_token_is_refused(harness: Harness) -> None:
    # The client's clock is two hours behind: its one-hour token expired already.
    hub = harness.hub(clock_offset=-7200)
    with pytest.raises(AuthenticationError) as caught:
        await hub.send_apple_notification({"aps": {"alert": "hi"}})

    assert caught.value.detail is not None
    assert caught.value.detail.startswith("ExpiredToken")


@pytest.mark.parametrize(
    "audience",
    [
        "https://emulator.test/otherhub",
        "https://elsewhere.test/myhub",
        "https://emulator.test/my",
        "https://emulator.test/myhub/registrations",
    ],
)
async def test_a_token_for_another_resource_is_refused(
    harness: Harness, audience: str
) -> None:
    response = await send_raw(harness, authorization=harness.token(audience=audience))
    assert response.status_code == 401
    assert error_detail(response).startswith("InvalidAudience")


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("", "MissingToken"),
        ("Bearer abc", "MalformedToken"),
        ("SharedAccessSignature sr=a&sig=b", "MalformedToken"),
        ("SharedAccessSignature sr=a&sig=%%%&se=1&skn=x", "MalformedToken"),
        ("SharedAccessSignature sr=a&sig=YQ==&se=1&skn=x&sr=b", "MalformedToken"),
        ("SharedAccessSignature sr=a&sig=YQ==&se=1&skn=Nobody", "UnknownKeyName"),
    ],
)
async def test_missing_and_garbled_tokens_are_refused(
    harness: Harness, authorization: str, reason: str
) -> None:
    headers = dict(APPLE_JSON)
    if authorization:
        headers["Authorization"] = authorization

    response = await harness.client.post(
        f"{ENDPOINT}{HUB}/messages/?{API}", headers=headers, content=b"{}"
    )
    assert response.status_code == 401
    assert error_detail(response).startswith(reason)


async def test_a_listen_only_rule_cannot_send(harness: Harness) -> None:
    hub = harness.hub(LISTEN)
    with pytest.raises(ForbiddenError) as caught:
        await hub.send_apple_notification({"aps": {"alert": "hi"}})

    assert caught.value.status_code == 403
    assert caught.value.retry_after is None

    # On the wire: 403 with an empty body, as recorded for a Listen-only key.
    response = await send_raw(harness, rule=LISTEN)
    assert response.status_code == 403
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    assert UUID.fullmatch(response.headers["TrackingId"])


def independent_token(
    audience: str, key_name: str, key: str, expiry: int, lower_hex: bool
) -> str:
    """Sign as other SDKs do, without our client: namespace fields reordered."""
    resource = quote(audience.lower(), safe="")
    if lower_hex:
        resource = re.sub(
            r"%[0-9A-F]{2}", lambda match: match.group().lower(), resource
        )

    digest = hmac.new(
        key.encode("utf-8"), f"{resource}\n{expiry}".encode(), hashlib.sha256
    ).digest()
    signature = quote(base64.b64encode(digest).decode(), safe="")
    return (
        f"SharedAccessSignature skn={key_name}&se={expiry}&sig={signature}"
        f"&sr={resource}"
    )


@pytest.mark.parametrize(
    ("audience", "lower_hex"),
    [
        # The JS SDK: the namespace root, upper-case percent-encoding.
        ("https://emulator.test/", False),
        # The Python sample: the hub URL.
        ("https://emulator.test/myhub", False),
        # .NET: scheme forced to http, trailing slash, lower-case encoding.
        ("http://emulator.test/myhub/messages/", True),
        # Java: the full request URL with its query.
        ("https://emulator.test/myhub/messages/?api-version=2020-06", True),
        ("sb://EMULATOR.test/MyHub", False),
        # An explicit default port names the same resource.
        ("https://emulator.test:443/myhub", False),
    ],
)
async def test_tokens_signed_independently_are_accepted(
    harness: Harness, audience: str, lower_hex: bool
) -> None:
    token = independent_token(audience, FULL, harness.key(), int(NOW) + 600, lower_hex)
    response = await send_raw(harness, authorization=token)
    assert response.status_code == 201, response.text
    assert len(harness.emulator.records) == 1


async def test_a_tampered_expiry_breaks_the_signature(harness: Harness) -> None:
    token = harness.token(expires_at=int(NOW) + 60)
    forged = token.replace(f"se={int(NOW) + 60}", f"se={int(NOW) + 999999}")
    response = await send_raw(harness, authorization=forged)
    assert response.status_code == 401
    assert error_detail(response).startswith("InvalidSignature")


async def test_an_unknown_hub_is_404(harness: Harness) -> None:
    response = await harness.call(
        "POST", f"nohub/messages/?{API}", headers=APPLE_JSON, content=b"{}"
    )
    assert response.status_code == 404
    assert "nohub" in error_detail(response)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"{HUB}/nothing-here?{API}", 404),
        ("DELETE", f"{HUB}/messages/?{API}", 405),
    ],
)
async def test_unknown_routes_answer_the_service_error_shape(
    harness: Harness, method: str, path: str, status: int
) -> None:
    response = await harness.call(method, path)
    assert response.status_code == status
    assert "No operation" in error_detail(response)


# -- validation ------------------------------------------------------------------------


async def test_the_api_version_is_required(harness: Harness) -> None:
    response = await send_raw(harness, query="direct")
    assert response.status_code == 400
    assert "api-version" in error_detail(response)


async def test_an_unknown_format_is_refused_in_the_service_words(
    harness: Harness,
) -> None:
    headers = {**APPLE_JSON, "ServiceBusNotification-Format": "fcmlegacy"}
    response = await send_raw(harness, headers=headers)
    assert response.status_code == 400
    assert error_detail(response).startswith(
        "The HTTP header 'ServiceBusNotification-Format' has an invalid value: "
        "'fcmlegacy'. Allowed values are 'windows', 'apple', 'gcm',"
    )


async def test_a_missing_format_is_refused(harness: Harness) -> None:
    headers = {"Content-Type": "application/json"}
    response = await send_raw(harness, headers=headers)
    assert response.status_code == 400
    assert "is missing" in error_detail(response)


TOAST = (
    b'<toast><visual><binding template="ToastText01"><text id="1">Hi</text>'
    b"</binding></visual></toast>"
)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (
            {
                "ServiceBusNotification-Format": "FcmV1",
                "Content-Type": "application/json",
            },
            b'{"message":{}}',
            201,
        ),
        (
            {
                "ServiceBusNotification-Format": "apple",
                "Content-Type": "application/json; charset=UTF-8",
            },
            b"{}",
            201,
        ),
        (
            {"ServiceBusNotification-Format": "apple", "Content-Type": "text/plain"},
            b"{}",
            400,
        ),
        ({"ServiceBusNotification-Format": "apple"}, b"{}", 400),
        (
            {
                "ServiceBusNotification-Format": "baidu",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            b"{}",
            201,
        ),
        (
            {
                "ServiceBusNotification-Format": "windows",
                "Content-Type": "application/xml",
            },
            TOAST,
            400,
        ),
        (
            {
                "ServiceBusNotification-Format": "windows",
                "Content-Type": "application/xml",
                "X-WNS-Type": "wns/toast",
            },
            TOAST,
            201,
        ),
        (
            {
                "ServiceBusNotification-Format": "windows",
                "Content-Type": "text/xml",
                "X-WNS-Type": "wns/tile",
            },
            TOAST,
            201,
        ),
        (
            {
                "ServiceBusNotification-Format": "windows",
                "Content-Type": "application/xml",
                "X-WNS-Type": "wns/raw",
            },
            b"raw",
            400,
        ),
        (
            {
                "ServiceBusNotification-Format": "windows",
                "Content-Type": "application/octet-stream",
                "X-WNS-Type": "wns/raw",
            },
            b"\x00\xff",
            201,
        ),
        (
            {
                "ServiceBusNotification-Format": "windows",
                "Content-Type": "application/xml",
                "X-WNS-Type": "wns/bogus",
            },
            TOAST,
            400,
        ),
        (
            {
                "ServiceBusNotification-Format": "windowsphone",
                "Content-Type": "application/xml;charset=utf-8",
            },
            b"<wp:Notification/>",
            201,
        ),
        (
            {
                "ServiceBusNotification-Format": "windowsphone",
                "Content-Type": "application/json",
            },
            b"{}",
            400,
        ),
        (
            {
                "ServiceBusNotification-Format": "template",
                "Content-Type": "application/json",
            },
            b'["not", "an", "object"]',
            400,
        ),
        (
            {
                "ServiceBusNotification-Format": "template",
                "Content-Type": "application/json",
            },
            b"{broken",
            400,
        ),
    ],
)
async def test_content_types_per_format(
    harness: Harness, headers: dict[str, str], body: bytes, status: int
) -> None:
    response = await send_raw(harness, body, headers=headers)
    assert response.status_code == status, response.text
    if status == 400:
        error_detail(response)


async def test_bodies_over_64_kb_are_too_large(harness: Harness) -> None:
    limit = 64 * 1024
    assert (await send_raw(harness, b"x" * limit)).status_code == 201
    response = await send_raw(harness, b"x" * (limit + 1))
    assert response.status_code == 413
    assert "64 Kb" in error_detail(response)


@pytest.mark.parametrize(
    "path", [f"{HUB}/messages/?{API}", f"{HUB}/installations/big?{API}"]
)
async def test_runaway_request_bodies_are_refused_without_being_kept(
    harness: Harness, path: str
) -> None:
    # Past 4 MB the emulator stops reading: no API request is that large.
    response = await harness.call(
        "PUT" if "installations" in path else "POST",
        path,
        content=b"x" * (4 * 1024 * 1024 + 1),
        headers=APPLE_JSON,
    )
    assert response.status_code == 413
    assert "4194304 bytes" in error_detail(response)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("a & b", "unexpected character '&'"),
        ("(a || b", "no matching"),
        (" && ".join(f"t{number}" for number in range(7)), "at most 6"),
        (" || ".join(f"t{number}" for number in range(21)), "at most 20"),
        ("x" * 121, "limited to 120"),
    ],
)
async def test_bad_tag_expressions_are_refused(
    harness: Harness, expression: str, reason: str
) -> None:
    headers = {**APPLE_JSON, "ServiceBusNotification-Tags": expression}
    response = await send_raw(harness, headers=headers)
    assert response.status_code == 400
    assert reason in error_detail(response)


# -- answers and records ---------------------------------------------------------------


async def test_a_send_answers_201_with_location_and_tracking_headers(
    harness: Harness,
) -> None:
    response = await send_raw(harness)
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert UUID.fullmatch(response.headers["TrackingId"])
    assert UUID.fullmatch(response.headers["x-ms-correlation-request-id"])
    location = response.headers["Location"]
    match = re.fullmatch(
        r"https://emulator\.test/myhub/messages/"
        r"(?P<id>[0-9a-f]{32}-\d{14}-\d+-\d+)\?api-version=2020-06",
        location,
    )
    assert match is not None
    [record] = harness.emulator.records
    assert record.notification_id == match.group("id")


async def test_the_client_reads_the_answer(harness: Harness) -> None:
    result = await harness.hub().send_apple_notification({"aps": {"alert": "hi"}}, "a")
    [record] = harness.emulator.records
    assert result.status_code == 201
    assert result.notification_id == record.notification_id
    assert result.tracking_id is not None and UUID.fullmatch(result.tracking_id)
    assert result.outcome is None


async def test_the_record_holds_the_request_without_authorization(
    harness: Harness,
) -> None:
    await harness.hub().send_apple_notification(
        {"aps": {"alert": "hi"}}, "news", headers={"apns-priority": "5"}
    )
    [record] = harness.emulator.records
    assert record.hub == HUB
    assert record.format == "apple"
    assert record.tags == "news"
    assert record.direct_handles is None
    assert record.test_send is False
    assert json.loads(record.body) == {"aps": {"alert": "hi"}}
    assert record.content_type == "application/json;charset=utf-8"
    assert record.headers["apns-priority"] == "5"
    assert record.headers["servicebusnotification-tags"] == "news"
    assert "authorization" not in record.headers


# -- targeting -------------------------------------------------------------------------


APPLE_REGISTRATION = (
    f'<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">'
    f'<AppleRegistrationDescription xmlns="{NH_NAMESPACE}">'
    "<Tags>news</Tags><DeviceToken>REGTOKEN</DeviceToken>"
    "</AppleRegistrationDescription></content></entry>"
)


@pytest_asyncio.fixture
async def population(harness: Harness) -> str:
    """Four installations and an Apple registration; returns the registration id."""
    for document in (
        installation("i1", "apns", tags=["news", "sports"], userId="alice"),
        installation("i2", "gcm", tags=["news"]),
        installation("i3", "APNS", tags=["weather"], userId="bob"),
        installation("i4", "fcmv1", tags=["news", "sports"]),
    ):
        await put_installation(harness, document)

    response = await harness.call(
        "POST", f"{HUB}/registrations?{API}", content=APPLE_REGISTRATION
    )
    assert response.status_code == 200
    registration_id = ET.fromstring(response.content).findtext(
        "{http://www.w3.org/2005/Atom}title"
    )
    assert registration_id is not None
    return registration_id


def target_ids(record: RecordedNotification) -> set[str | None]:
    return {target.id for target in record.targets}


@pytest.mark.parametrize(
    ("notification_format", "expression", "expected"),
    [
        ("apple", None, {"i1", "i3", "registration"}),
        ("apple", "news", {"i1", "registration"}),
        ("apple", "news && !sports", {"registration"}),
        ("apple", "(news || weather) && !sports", {"i3", "registration"}),
        ("apple", "$InstallationId:{i3}", {"i3"}),
        ("apple", "$UserId:{alice}", {"i1"}),
        ("apple", "$UserId:{alice} || $UserId:{bob}", {"i1", "i3"}),
        ("apple", "!news", {"i3"}),
        ("gcm", "news", {"i2"}),
        ("fcmv1", "sports", {"i4"}),
        ("adm", None, set()),
    ],
)
async def test_sends_reach_the_matching_devices_of_their_platform(
    harness: Harness,
    population: str,
    notification_format: str,
    expression: str | None,
    expected: set[str],
) -> None:
    payload: dict[str, Any] = {}
    if notification_format == "fcmv1":
        payload = {"message": {"data": {}}}

    notification = Notification(notification_format, payload)
    await harness.hub().send_notification(notification, expression)
    [record] = harness.emulator.records
    wanted = {population if id_ == "registration" else id_ for id_ in expected}
    assert target_ids(record) == wanted
    for target in record.targets:
        assert target.platform == notification_format
        assert target.payload == notification.body
        assert target.template_name is None


async def test_targets_carry_kind_and_handle(harness: Harness, population: str) -> None:
    await harness.hub().send_apple_notification({}, "news")
    [record] = harness.emulator.records
    by_id = {target.id: target for target in record.targets}
    assert by_id["i1"].kind == "installation"
    assert by_id["i1"].pns_handle == "handle-i1"
    assert by_id[population].kind == "registration"
    assert by_id[population].pns_handle == "REGTOKEN"


async def test_template_sends_render_each_matching_template(harness: Harness) -> None:
    await put_installation(
        harness,
        installation(
            "t1",
            "apns",
            tags=["fans"],
            templates={
                "alert": {"body": '{"aps":{"alert":"$(message)","badge":"#(count)"}}'},
                "silent": {
                    "body": '{"aps":{"content-available":1}}',
                    "tags": ["quiet"],
                },
            },
        ),
    )
    await put_installation(harness, installation("native", "apns", tags=["fans"]))
    gcm_template = (
        f'<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">'
        f'<GcmTemplateRegistrationDescription xmlns="{NH_NAMESPACE}">'
        "<Tags>fans</Tags><GcmRegistrationId>GCMID</GcmRegistrationId>"
        '<BodyTemplate><![CDATA[{"data":{"msg":"$(message)"}}]]></BodyTemplate>'
        "<TemplateName>greeting</TemplateName>"
        "</GcmTemplateRegistrationDescription></content></entry>"
    )
    response = await harness.call(
        "POST", f"{HUB}/registrations?{API}", content=gcm_template
    )
    assert response.status_code == 200

    hub = harness.hub()
    await hub.send_template_notification({"message": "Goal!", "count": "3"}, "fans")
    [record] = harness.emulator.records
    payloads = {
        (target.platform, target.template_name): json.loads(target.payload)
        for target in record.targets
    }
    # The native installation is not a template target; "silent" matches through
    # the installation's tags, its own tags adding to them.
    assert payloads == {
        ("apple", "alert"): {"aps": {"alert": "Goal!", "badge": 3}},
        ("apple", "silent"): {"aps": {"content-available": 1}},
        ("gcm", "greeting"): {"data": {"msg": "Goal!"}},
    }

    harness.emulator.clear_records()
    await hub.send_template_notification({"message": "Shh"}, "quiet")
    [record] = harness.emulator.records
    assert [target.template_name for target in record.targets] == ["silent"]


async def test_push_variables_fill_in_what_the_send_does_not_carry(
    harness: Harness,
) -> None:
    await put_installation(
        harness,
        installation(
            "pv",
            "apns",
            tags=["fans"],
            pushVariables={"Name": "Bob", "team": "Reds"},
            templates={"hello": {"body": '{"aps":{"alert":"$(name) $(msg) $(team)"}}'}},
        ),
    )
    wns_template = (
        f'<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">'
        f'<WindowsTemplateRegistrationDescription xmlns="{NH_NAMESPACE}">'
        '<Tags>fans</Tags><PushVariables>{"name":"Ann"}</PushVariables>'
        "<ChannelUri>https://wns.example/c</ChannelUri>"
        "<BodyTemplate><![CDATA[<toast>$(name): $(msg)</toast>]]></BodyTemplate>"
        "<WnsHeaders><WnsHeader><Header>X-WNS-Type</Header><Value>wns/toast</Value>"
        "</WnsHeader></WnsHeaders>"
        "</WindowsTemplateRegistrationDescription></content></entry>"
    )
    response = await harness.call(
        "POST", f"{HUB}/registrations?{API}", content=wns_template
    )
    assert response.status_code == 200, response.text

    hub = harness.hub()
    # The send's own property wins over the device's push variable of that name.
    await hub.send_template_notification({"msg": "hi", "TEAM": "Blues"}, "fans")
    [record] = harness.emulator.records
    payloads = {target.platform: target.payload.decode() for target in record.targets}
    assert payloads == {
        "apple": '{"aps":{"alert":"Bob hi Blues"}}',
        "windows": "<toast>Ann: hi</toast>",
    }


# -- test sends ------------------------------------------------------------------------


async def test_test_sends_report_each_device_and_invalid_handles(
    harness: Harness,
) -> None:
    for number in range(3):
        await put_installation(harness, installation(f"d{number}", tags=["t"]))

    harness.emulator.mark_handle_invalid("handle-d1")
    result = await harness.hub().send_apple_notification({}, "t", test_send=True)
    assert result.status_code == 201
    outcome = result.outcome
    assert outcome is not None
    assert (outcome.success, outcome.failure) == (2, 1)
    assert [(item.registration_id, item.outcome) for item in outcome.results] == [
        ("d0", SUCCESS),
        ("d1", INVALID),
        ("d2", SUCCESS),
    ]
    assert {item.platform for item in outcome.results} == {"apple"}
    [record] = harness.emulator.records
    assert record.test_send is True


async def test_test_sends_reach_at_most_ten_devices(harness: Harness) -> None:
    for number in range(12):
        await put_installation(harness, installation(f"d{number:02}", tags=["t"]))

    result = await harness.hub().send_apple_notification({}, "t", test_send=True)
    assert result.outcome is not None
    assert result.outcome.success == 10
    assert len(result.outcome.results) == 10
    [record] = harness.emulator.records
    assert len(record.targets) == 10


async def test_the_cap_on_test_send_results_is_configurable() -> None:
    harness = make_harness(EmulatorConfig(max_outcome_results=2))
    async with harness.client:
        for number in range(3):
            await put_installation(harness, installation(f"d{number}"))

        result = await harness.hub().send_apple_notification({}, test_send=True)
        assert result.outcome is not None
        assert len(result.outcome.results) == 2


async def test_the_outcome_xml_has_the_service_shape(harness: Harness) -> None:
    await put_installation(harness, installation("only", push_channel="ABC"))
    response = await send_raw(harness, query=f"{API}&test")
    assert response.status_code == 201
    assert response.text == (
        f'<NotificationOutcome xmlns="{NH_NAMESPACE}" '
        'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        "<Success>1</Success><Failure>0</Failure><Results><RegistrationResult>"
        "<ApplicationPlatform>apple</ApplicationPlatform><PnsHandle>ABC</PnsHandle>"
        f"<RegistrationId>only</RegistrationId><Outcome>{SUCCESS}</Outcome>"
        "</RegistrationResult></Results></NotificationOutcome>"
    )


@pytest.mark.parametrize("query", [f"{API}&test", f"{API}&test=true"])
async def test_a_test_send_that_matches_nothing_has_nil_results(
    harness: Harness, query: str
) -> None:
    response = await send_raw(harness, query=query)
    assert response.status_code == 201
    assert response.text.endswith(
        '<Success>0</Success><Failure>0</Failure><Results i:nil="true"/>'
        "</NotificationOutcome>"
    )
    result = await harness.hub().send_apple_notification({}, "nobody", test_send=True)
    assert result.outcome is not None
    assert (result.outcome.success, result.outcome.failure) == (0, 0)
    assert result.outcome.results == ()


# -- notification details --------------------------------------------------------------


def details_of(response: httpx.Response) -> dict[str, Any]:
    root = ET.fromstring(response.content)
    namespace = f"{{{NH_NAMESPACE}}}"
    assert root.tag == f"{namespace}NotificationDetails"
    details: dict[str, Any] = {}
    for child in root:
        name = child.tag.removeprefix(namespace)
        if name.endswith("OutcomeCounts"):
            details[name] = {
                outcome.findtext(f"{namespace}Name"): int(
                    outcome.findtext(f"{namespace}Count") or "-1"
                )
                for outcome in child
            }
        else:
            details[name] = child.text

    return details


async def test_notification_details_count_outcomes_per_platform(
    harness: Harness,
) -> None:
    for number in range(3):
        await put_installation(harness, installation(f"a{number}", tags=["x"]))

    await put_installation(harness, installation("g", "gcm", tags=["x"]))
    harness.emulator.mark_handle_invalid("handle-a2")
    result = await harness.hub().send_apple_notification({"aps": {}}, "x")
    response = await harness.call(
        "GET", f"{HUB}/messages/{result.notification_id}?{API}"
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    details = details_of(response)
    assert list(details) == [
        "NotificationId",
        "Location",
        "State",
        "EnqueueTime",
        "StartTime",
        "EndTime",
        "NotificationBody",
        "Tags",
        "TargetPlatforms",
        "ApnsOutcomeCounts",
    ]
    assert details["NotificationId"] == result.notification_id
    assert details["Location"] == result.location
    assert details["State"] == "Completed"
    assert details["NotificationBody"] == '{"aps":{}}'
    assert details["Tags"] == "x"
    assert details["TargetPlatforms"] == "apple"
    assert details["ApnsOutcomeCounts"] == {"Success": 2, "WrongToken": 1}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", details["EnqueueTime"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", details["EndTime"])


async def test_a_send_without_targets_has_no_target_found(harness: Harness) -> None:
    result = await harness.hub().send_apple_notification({}, "nobody")
    response = await harness.call(
        "GET", f"{HUB}/messages/{result.notification_id}?{API}"
    )
    details = details_of(response)
    assert details["State"] == "NoTargetFound"
    assert not [name for name in details if name.endswith("OutcomeCounts")]


async def test_details_of_an_unknown_notification_are_404(harness: Harness) -> None:
    response = await harness.call("GET", f"{HUB}/messages/no-such-id?{API}")
    assert response.status_code == 404
    error_detail(response)


# -- direct sends ----------------------------------------------------------------------


async def test_a_direct_send_reaches_only_its_handle(harness: Harness) -> None:
    await put_installation(harness, installation("ignored"))
    result = await harness.hub().send_direct_notification(
        Notification(NotificationFormat.APPLE, {"aps": {}}), "DEVICE1"
    )
    assert result.location is not None and result.location.endswith("&direct")
    [record] = harness.emulator.records
    assert record.direct_handles == ("DEVICE1",)
    assert record.tags is None
    [target] = record.targets
    assert (target.kind, target.id, target.pns_handle) == ("direct", None, "DEVICE1")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (APPLE_JSON, "DeviceHandle"),
        (
            {
                "ServiceBusNotification-Format": "template",
                "Content-Type": "application/json",
                "ServiceBusNotification-DeviceHandle": "x",
            },
            "cannot be sent directly",
        ),
    ],
)
async def test_direct_sends_need_a_handle_and_a_native_format(
    harness: Harness, headers: dict[str, str], reason: str
) -> None:
    response = await send_raw(harness, b"{}", query=f"{API}&direct", headers=headers)
    assert response.status_code == 400
    assert reason in error_detail(response)


def batch_body(devices: str, boundary: str = "nh-boundary-1234") -> bytes:
    # The JS SDK's construction (wire spec §4.7): CRLF everywhere.
    return (
        f"--{boundary}\r\n"
        "Content-type: application/json;charset=utf-8\r\n"
        "Content-Disposition: inline; name=notification\r\n"
        "\r\n"
        '{"aps":{"alert":"batch"}}\r\n'
        f"--{boundary}\r\n"
        "Content-type: application/json\r\n"
        "Content-Disposition: inline; name=devices\r\n"
        "\r\n"
        f"{devices}\r\n"
        f"--{boundary}--"
    ).encode()


def batch_headers(boundary: str = 'boundary = "nh-boundary-1234"') -> dict[str, str]:
    return {
        "ServiceBusNotification-Format": "apple",
        "Content-Type": f"multipart/mixed; {boundary}",
    }


@pytest.mark.parametrize("devices", ['["h1","h2"]', "['h1', 'h2']"])
async def test_a_batch_direct_send_reaches_every_listed_handle(
    harness: Harness, devices: str
) -> None:
    response = await send_raw(
        harness,
        batch_body(devices),
        query=f"{API}&direct",
        headers=batch_headers(),
        path="messages/$batch",
    )
    assert response.status_code == 201, response.text
    assert re.fullmatch(
        r"https://emulator\.test/myhub/messages/\$batch/[0-9a-f]{32}-\d{14}-\d+-\d+"
        r"\?api-version=2020-06&direct",
        response.headers["Location"],
    )
    [record] = harness.emulator.records
    assert record.direct_handles == ("h1", "h2")
    assert json.loads(record.body) == {"aps": {"alert": "batch"}}
    assert record.content_type.startswith("application/json")
    assert [target.pns_handle for target in record.targets] == ["h1", "h2"]


async def test_the_client_batch_body_is_accepted(harness: Harness) -> None:
    notification = Notification(
        NotificationFormat.WINDOWS, TOAST.decode(), {"X-WNS-Tag": "t1"}
    )
    handles = [f"https://db5.notify.windows.com/?token={number}" for number in range(3)]
    [result] = await harness.hub().send_direct_batch(notification, handles)
    assert result.status_code == 201
    [record] = harness.emulator.records
    assert record.direct_handles == tuple(handles)
    assert record.body == TOAST
    assert record.headers["x-wns-type"] == "wns/toast"
    assert record.headers["x-wns-tag"] == "t1"
    assert result.notification_id == record.notification_id


async def test_a_batch_without_its_parts_is_refused_in_the_service_words(
    harness: Harness,
) -> None:
    body = (
        b"--b\r\nContent-Type: application/json\r\n"
        b"Content-Disposition: inline; name=notification\r\n\r\n{}\r\n--b--"
    )
    response = await send_raw(
        harness,
        body,
        query=f"{API}&direct",
        headers=batch_headers("boundary=b"),
        path="messages/$batch",
    )
    assert response.status_code == 400
    assert error_detail(response).startswith(
        "Could not find a part of the multipart content supplied."
    )


async def test_a_batch_over_1000_handles_is_refused(harness: Harness) -> None:
    devices = json.dumps([f"h{number}" for number in range(1001)])
    response = await send_raw(
        harness,
        batch_body(devices),
        query=f"{API}&direct",
        headers=batch_headers(),
        path="messages/$batch",
    )
    assert response.status_code == 400
    assert "1000" in error_detail(response)
    assert harness.emulator.records == []


# -- the emulator's own endpoints ------------------------------------------------------


async def test_health_and_records_need_no_token(harness: Harness) -> None:
    health = await harness.client.get(f"{ENDPOINT}_emulator/health")
    assert health.json() == {"status": "ok", "hubs": [HUB]}

    await send_raw(harness, headers={**APPLE_JSON, "ServiceBusNotification-Tags": "a"})
    records = (await harness.client.get(f"{ENDPOINT}_emulator/records")).json()
    [record] = records
    assert record["format"] == "apple"
    assert record["tags"] == "a"
    assert record["body"] == '{"aps":{"alert":"hi"}}'
    assert record["body_encoding"] == "text"
    assert "authorization" not in record["headers"]
    assert record["notification_id"] == harness.emulator.records[0].notification_id

    cleared = await harness.client.delete(f"{ENDPOINT}_emulator/records")
    assert cleared.status_code == 204
    assert harness.emulator.records == []


async def test_binary_bodies_are_listed_in_base64(harness: Harness) -> None:
    headers = {
        "ServiceBusNotification-Format": "windows",
        "Content-Type": "application/octet-stream",
        "X-WNS-Type": "wns/raw",
    }
    await send_raw(harness, b"\xff\x00\xfe", headers=headers)
    [record] = (await harness.client.get(f"{ENDPOINT}_emulator/records")).json()
    assert record["body_encoding"] == "base64"
    assert base64.b64decode(record["body"]) == b"\xff\x00\xfe"


async def test_records_can_be_filtered_by_hub() -> None:
    config = EmulatorConfig(hubs=(HubConfig.default(HUB), HubConfig.default("other")))
    harness = make_harness(config)
    async with harness.client:
        await send_raw(harness)
        other = await harness.client.get(f"{ENDPOINT}_emulator/records?hub=other")
        mine = await harness.client.get(f"{ENDPOINT}_emulator/records?hub={HUB}")
        assert other.json() == []
        assert len(mine.json()) == 1
        assert harness.emulator.records_for("other") == []


async def test_invalid_handles_can_be_marked_over_http(harness: Harness) -> None:
    await put_installation(harness, installation("d", push_channel="DEAD"))
    marked = await harness.client.post(
        f"{ENDPOINT}_emulator/invalid-handles", json={"handle": "DEAD"}
    )
    assert marked.status_code == 204
    result = await harness.hub().send_apple_notification({}, test_send=True)
    assert result.outcome is not None
    assert [item.outcome for item in result.outcome.results] == [INVALID]

    refused = await harness.client.post(
        f"{ENDPOINT}_emulator/invalid-handles", json={"handel": "DEAD"}
    )
    assert refused.status_code == 400


async def test_the_repr_shows_hubs_but_no_keys() -> None:
    emulator = make_harness().emulator
    assert repr(emulator) == "Emulator(hubs=['myhub'])"
    config = emulator.config.hubs[0]
    for rule in config.rules:
        assert rule.key not in repr(rule)
        assert rule.key not in repr(config)


async def test_connection_strings_name_the_rule_and_key() -> None:
    emulator = make_harness().emulator
    listen = emulator.config.hubs[0].rule(LISTEN)
    assert listen is not None and listen.rights == frozenset({"Listen"})
    assert emulator.connection_string("https://127.0.0.1:8443", rule=LISTEN) == (
        "Endpoint=https://127.0.0.1:8443/;"
        f"SharedAccessKeyName={LISTEN};SharedAccessKey={listen.key}"
    )
    with pytest.raises(ValueError, match="no hub"):
        emulator.connection_string(ENDPOINT, hub="nohub")

    with pytest.raises(ValueError, match="no rule"):
        emulator.connection_string(ENDPOINT, rule="Nobody")
