"""
The emulator's stored resources: registration descriptions in Atom XML (checked
against the service's recorded answers), ETags, and installations with JSON Patch.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

import pytest

import notifhub_async.emulator
from notifhub_async.emulator import HubConfig, Registration
from notifhub_async.emulator._atom import (
    Description,
    DescriptionInvalid,
    entry_xml,
    feed_xml,
    parse_entry,
)
from notifhub_async.emulator._installations import (
    InstallationInvalid,
    apply_patch,
    validate_installation,
)
from notifhub_async.emulator._store import (
    HubStore,
    IdGenerator,
    PreconditionFailed,
    RegistrationNotFound,
    etag_matches,
)

from ._emulator_recorded import APPLE_TEMPLATE_ENTRY, DESCRIPTIONS, FIRST_PAGE_FEED
from ._emulator_support import ATOM_NAMESPACE, NH_NAMESPACE

RECORDED_TIME = datetime(2018, 11, 7, 0, 18, 37, tzinfo=timezone.utc)
SAMPLE_HUB = "https://sdk-sample-namespace.servicebus.windows.net/sdk-sample-nh"


def entry(description: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<entry xmlns="{ATOM_NAMESPACE}"><content type="application/xml">'
        f"{description}</content></entry>"
    ).encode()


def registration(
    description: Description,
    registration_id: str = "1-2-3",
    etag: int = 1,
    moment: datetime = RECORDED_TIME,
) -> Registration:
    return Registration(registration_id, description, etag, moment, moment)


def children(xml: str) -> list[tuple[str, str | None, dict[str, str]]]:
    """The description's child elements: name, text and attributes, in order."""
    root = ET.fromstring(xml)
    if root.tag.endswith("entry"):
        content = root.find(f"{{{ATOM_NAMESPACE}}}content")
        assert content is not None
        root = content[0]

    return [
        (child.tag.rpartition("}")[2], child.text, dict(child.attrib)) for child in root
    ]


# -- registrations in Atom XML ---------------------------------------------------------


def test_a_recorded_entry_is_written_back_byte_for_byte() -> None:
    # Parse the description the service returned, store it under the same id and
    # time, and the emulator's entry must be the service's, byte for byte.
    description = parse_entry(APPLE_TEMPLATE_ENTRY.encode())
    stored = registration(description, "4497227228776861650-7267172778370643468-3")
    url = f"{SAMPLE_HUB}/registrations/{stored.registration_id}?api-version=2017-04"
    assert entry_xml(stored, url) == APPLE_TEMPLATE_ENTRY


def test_a_recorded_feed_page_is_written_back_byte_for_byte() -> None:
    ids = (
        "5338658925190566729-3584145164946923081-1",
        "5645581655424771962-133652254487445652-1",
    )
    apple = parse_entry(entry(DESCRIPTIONS["APPLE"]))
    description = Description(
        kind=apple.kind, values={"DeviceToken": apple.values["DeviceToken"]}
    )
    moment = datetime(2018, 11, 7, 0, 18, 38, tzinfo=timezone.utc)
    page = [registration(description, id_, moment=moment) for id_ in ids]
    query = "api-version=2017-04&$top=2"
    feed = feed_xml(
        page,
        feed_url=f"{SAMPLE_HUB}/registrations?{query}",
        entry_url=lambda id_: f"{SAMPLE_HUB}/registrations/{id_}?{query}",
        next_url=(
            f"{SAMPLE_HUB}/registrations?api-version=2017-04&%24top=2"
            "&continuationtoken=MzEobik7Mg%253D%253D"
        ),
        now=moment,
    )
    assert feed == FIRST_PAGE_FEED


@pytest.mark.parametrize("name", sorted(DESCRIPTIONS))
def test_every_recorded_kind_keeps_its_elements_in_order(name: str) -> None:
    recorded = DESCRIPTIONS[name]
    stored = registration(parse_entry(entry(recorded)), "7-8-9", etag=4)
    written = children(entry_xml(stored, "https://emulator.test/hub/registrations/x"))

    expected = children(recorded)
    assert [element[0] for element in written] == [element[0] for element in expected]
    # The read-only values are the emulator's own; every other value is kept.
    overridden = {"ETag": "4", "RegistrationId": "7-8-9"}
    for (element, text, attributes), (_, recorded_text, recorded_attributes) in zip(
        written, expected, strict=True
    ):
        if element == "ExpirationTime":
            assert text == "9999-12-31T23:59:59.999"
        else:
            assert text == overridden.get(element, recorded_text), element
            assert attributes == recorded_attributes


def test_tags_with_system_tags_and_spaces_are_kept() -> None:
    description = parse_entry(entry(DESCRIPTIONS["APPLE_TEMPLATE"]))
    assert description.tags == (
        "$InstallationId:{95e4cf2e-685f-4141-98e2-4c5f71d1a696}",
        "tag1",
        "Template Name",
    )


def test_template_headers_are_read() -> None:
    description = parse_entry(entry(DESCRIPTIONS["MPNS_TEMPLATE"]))
    assert description.headers == (
        ("X-NotificationClass", "1"),
        ("X-WindowsPhone-Target", "token"),
    )
    assert description.kind.platform == "windowsphone"


def test_a_request_in_the_documented_shape_is_read() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<entry xmlns="http://www.w3.org/2005/Atom">'
        '<content type="application/xml">'
        "<AppleRegistrationDescription "
        'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns="{NH_NAMESPACE}">'
        "<Tags>myTag, myOtherTag</Tags><DeviceToken>ABCDEF</DeviceToken>"
        "</AppleRegistrationDescription></content></entry>"
    )
    description = parse_entry(body.encode())
    assert description.kind.name == "Apple"
    assert description.tags == ("myTag", "myOtherTag")
    assert description.values == {"DeviceToken": "ABCDEF"}


def _apple(inner: str, root: str = "AppleRegistrationDescription") -> bytes:
    return entry(f'<{root} xmlns="{NH_NAMESPACE}">{inner}</{root}>')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _apple("<DeviceToken>A</DeviceToken><Tags>t</Tags>"),
            "'Tags' .* out of order",
        ),
        (_apple("<DeviceTokens>A</DeviceTokens>"), "'DeviceTokens' is not part of"),
        (_apple("<Tags>t</Tags>"), "requires a DeviceToken"),
        (_apple("<Tags>a b,</Tags><DeviceToken>A</DeviceToken>"), None),
        (_apple("<Tags> x</Tags><DeviceToken>A</DeviceToken>"), None),
        (
            _apple(
                "<DeviceToken>A</DeviceToken><TemplateName>n</TemplateName>",
                "AppleTemplateRegistrationDescription",
            ),
            "requires a BodyTemplate",
        ),
        (
            entry(
                f'<WindowsTemplateRegistrationDescription xmlns="{NH_NAMESPACE}">'
                "<ChannelUri>https://x/</ChannelUri><BodyTemplate>b</BodyTemplate>"
                "</WindowsTemplateRegistrationDescription>"
            ),
            "requires the header 'X-WNS-Type'",
        ),
        (
            entry(
                "<AppleRegistrationDescription><DeviceToken>A</DeviceToken>"
                "</AppleRegistrationDescription>"
            ),
            "not a registration description",
        ),
        (_apple("", "PigeonRegistrationDescription"), "not a registration description"),
        (b"<entry/>", "must be an Atom entry"),
        (b"not xml", "not well-formed"),
        (b"", "empty"),
        (
            b'<!DOCTYPE x [<!ENTITY a "b">]><entry xmlns="http://www.w3.org/2005/Atom"/>',
            "DOCTYPE",
        ),
    ],
)
def test_unacceptable_descriptions_are_refused_with_a_reason(
    body: bytes, message: str | None
) -> None:
    if message is None:
        # Tags around commas are trimmed and empty ones dropped: this one is valid.
        assert parse_entry(body).values == {"DeviceToken": "A"}
        return

    with pytest.raises(DescriptionInvalid, match=message):
        parse_entry(body)


def test_a_tag_over_120_characters_is_refused() -> None:
    with pytest.raises(DescriptionInvalid, match="not valid"):
        parse_entry(_apple(f"<Tags>{'x' * 121}</Tags><DeviceToken>A</DeviceToken>"))


def test_read_only_elements_sent_back_are_ignored() -> None:
    description = parse_entry(entry(DESCRIPTIONS["GCM"]))
    assert description.values == {
        "PushVariables": '{"var1":"value1"}',
        "GcmRegistrationId": "amzn1.adm-registration.v2.123",
    }


# -- ETags and the store ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("if_match", "etag", "expected"),
    [
        ("*", 7, True),
        ('"3"', 3, True),
        ('W/"3"', 3, True),
        ("3", 3, True),
        ('"2", "3"', 3, True),
        ('"2"', 3, False),
        ('W/"31"', 3, False),
    ],
)
def test_if_match_values(if_match: str, etag: int, expected: bool) -> None:
    assert etag_matches(if_match, etag) is expected


def new_store() -> HubStore:
    return HubStore(HubConfig.default("hub"), IdGenerator(seed=1))


def test_the_etag_grows_with_each_write_and_guards_updates() -> None:
    store = new_store()
    description = parse_entry(entry(DESCRIPTIONS["APPLE"]))
    created = store.create_registration(description, RECORDED_TIME)
    assert created.etag == 1

    updated = store.put_registration(
        created.registration_id, description, '"1"', RECORDED_TIME
    )
    assert updated.etag == 2
    assert updated.published == created.published

    with pytest.raises(PreconditionFailed):
        store.put_registration(
            created.registration_id, description, '"1"', RECORDED_TIME
        )

    with pytest.raises(PreconditionFailed):
        store.delete_registration(created.registration_id, 'W/"1"')

    store.delete_registration(created.registration_id, 'W/"2"')
    assert store.get_registration(created.registration_id) is None
    with pytest.raises(RegistrationNotFound):
        store.delete_registration(created.registration_id, None)


def test_if_match_on_a_missing_registration_fails_but_a_plain_put_creates() -> None:
    store = new_store()
    description = parse_entry(entry(DESCRIPTIONS["APPLE"]))
    with pytest.raises(PreconditionFailed):
        store.put_registration("123-234-1", description, "*", RECORDED_TIME)

    assert (
        store.put_registration("123-234-1", description, None, RECORDED_TIME).etag == 1
    )


def test_ids_are_shaped_like_the_service_and_repeat_under_a_seed() -> None:
    first, second = IdGenerator(seed=5), IdGenerator(seed=5)
    ids = [first.registration_id() for _ in range(3)]
    assert ids == [second.registration_id() for _ in range(3)]
    assert len(set(ids)) == 3
    for registration_id in ids:
        left, middle, right = registration_id.split("-")
        assert left.isdigit() and middle.isdigit() and right in {"1", "2", "3"}

    notification_id = first.notification_id(RECORDED_TIME)
    unique, stamp, _, _ = notification_id.split("-")
    assert len(unique) == 32 and stamp == "20181107001837"


# -- installations ---------------------------------------------------------------------

APNS_TOKEN = "62BCD3484834B7E2DC56733AC5509259230CC1BA82BA1AE7D06E91908A05A8FA"
# GET bodies the service returned (recorded), which PUT must store unchanged.
RECORDED_INSTALLATIONS = [
    {
        "installationId": "95e4cf2e-685f-4141-98e2-4c5f71d1a696",
        "pushChannel": APNS_TOKEN,
        "pushChannelExpired": False,
        "platform": "apns",
        "expirationTime": "9999-12-31T23:59:59.9999999Z",
        "tags": ["tag1"],
        "pushVariables": {"var1": "value1"},
        "templates": {
            "Template Name": {
                "body": '{"aps":{"alert":"alert!"}}',
                "expiry": "2018-11-07T16:18:32.6641371-08:00",
                "tags": ["Template Name"],
            }
        },
    },
    {
        "installationId": "ef4ffd64-8f20-4d6e-873c-7308b28d6a04",
        "pushChannel": "https://some.url/",
        "pushChannelExpired": False,
        "platform": "wns",
        "expirationTime": "9999-12-31T23:59:59.9999999Z",
        "templates": {
            "Template Name": {
                "body": '{"aps":{"alert":"alert!"}}',
                "headers": {"X-WNS-Type": "wns/toast"},
                "tags": ["Template Name"],
            }
        },
    },
    {
        "installationId": "08c88ecf-32b5-412b-aba2-29be97ce34c3",
        "pushChannel": APNS_TOKEN,
        "pushChannelExpired": False,
        "platform": "apns",
        "expirationTime": "9999-12-31T23:59:59.9999999Z",
        "userId": "d798d460-79d2-449a-b2fc-fa5bf4090f38",
    },
]


@pytest.mark.parametrize(
    "recorded", RECORDED_INSTALLATIONS, ids=lambda document: document["platform"]
)
def test_recorded_installations_are_stored_exactly_as_the_service_returns_them(
    recorded: dict[str, Any],
) -> None:
    stored = validate_installation(recorded, recorded["installationId"])
    # Same keys, same order, same values: the JSON text is identical.
    assert json.dumps(stored) == json.dumps(recorded)


def test_platforms_ignore_case_and_read_only_fields_are_replaced() -> None:
    stored = validate_installation(
        {
            "installationId": "i",
            "platform": "FCMV1",
            "pushChannel": "token",
            "pushChannelExpired": True,
            "lastActiveOn": "2020-01-01",
            "unknownField": 1,
        },
        "i",
    )
    assert stored == {
        "installationId": "i",
        "pushChannel": "token",
        "pushChannelExpired": False,
        "platform": "fcmv1",
        "expirationTime": "9999-12-31T23:59:59.9999999Z",
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"installationId": "other", "platform": "apns", "pushChannel": "x"}, "match"),
        ({"platform": "symbian", "pushChannel": "x"}, "not supported"),
        ({"platform": "apns"}, "pushChannel"),
        ({"platform": "browser", "pushChannel": {"endpoint": "e"}}, "pushChannel"),
        ({"platform": "apns", "pushChannel": "x", "tags": "t"}, "array"),
        ({"platform": "apns", "pushChannel": "x", "tags": ["a,b"]}, "not valid"),
        ({"platform": "apns", "pushChannel": "x", "userId": "a b"}, "userId"),
        ({"platform": "apns", "pushChannel": "x", "templates": {"t": {}}}, "body"),
    ],
)
def test_unacceptable_installations_are_refused(document: object, message: str) -> None:
    with pytest.raises(InstallationInvalid, match=message):
        validate_installation(document, "i")


def test_a_browser_installation_takes_a_push_subscription() -> None:
    channel = {"endpoint": "https://push.example/1", "p256dh": "key", "auth": "secret"}
    stored = validate_installation({"platform": "browser", "pushChannel": channel}, "b")
    assert stored["pushChannel"] == channel


BASE = {"installationId": "i", "platform": "apns", "pushChannel": "old"}


@pytest.mark.parametrize(
    ("start", "operations", "expected"),
    [
        (
            {},
            [{"op": "add", "path": "/pushChannel", "value": "new"}],
            {"pushChannel": "new"},
        ),
        (
            {},
            [{"op": "replace", "path": "/pushChannel", "value": "new"}],
            {"pushChannel": "new"},
        ),
        ({}, [{"op": "add", "path": "/userId", "value": "bob"}], {"userId": "bob"}),
        ({"userId": "bob"}, [{"op": "remove", "path": "/userId"}], {}),
        ({}, [{"op": "add", "path": "/tags", "value": "a"}], {"tags": ["a"]}),
        (
            {"tags": ["a"]},
            [{"op": "add", "path": "/tags", "value": ["b", "a", "c"]}],
            {"tags": ["a", "b", "c"]},
        ),
        (
            {"tags": ["a"]},
            [{"op": "add", "path": "/tags", "value": '["b"]'}],
            {"tags": ["a", "b"]},
        ),
        (
            {"tags": ["a"]},
            [{"op": "replace", "path": "/tags", "value": ["z"]}],
            {"tags": ["z"]},
        ),
        ({"tags": ["a", "b"]}, [{"op": "remove", "path": "/tags/a"}], {"tags": ["b"]}),
        # Removing the last tag removes `tags`.
        ({"tags": ["a"]}, [{"op": "remove", "path": "/tags/a"}], {}),
        ({"tags": ["a"]}, [{"op": "remove", "path": "/tags"}], {}),
        (
            {},
            [
                {
                    "op": "add",
                    "path": "/templates/t",
                    "value": '{"body": "B", "tags": ["x"]}',
                }
            ],
            {"templates": {"t": {"body": "B", "tags": ["x"]}}},
        ),
        (
            {},
            [{"op": "add", "path": "/templates/t", "value": {"body": "B"}}],
            {"templates": {"t": {"body": "B"}}},
        ),
        (
            {"templates": {"t": {"body": "B"}}},
            [
                {"op": "replace", "path": "/templates/t/body", "value": '{"a":1}'},
                {
                    "op": "add",
                    "path": "/templates/t/headers",
                    "value": '{"X-WNS-Type": "wns/toast"}',
                },
                {"op": "add", "path": "/templates/t/expiry", "value": "2030-01-01"},
                {"op": "add", "path": "/templates/t/tags", "value": "solo"},
            ],
            {
                "templates": {
                    "t": {
                        "body": '{"a":1}',
                        "headers": {"X-WNS-Type": "wns/toast"},
                        "expiry": "2030-01-01",
                        "tags": ["solo"],
                    }
                }
            },
        ),
        (
            {"templates": {"t": {"body": "B", "expiry": "x"}}},
            [{"op": "remove", "path": "/templates/t/expiry"}],
            {"templates": {"t": {"body": "B"}}},
        ),
        (
            {"templates": {"t": {"body": "B"}}},
            [{"op": "remove", "path": "/templates/t"}],
            {},
        ),
        # WNS secondary tiles take the same paths under /secondaryTiles/{tileId}/.
        (
            {},
            [
                {"op": "add", "path": "/secondaryTiles/s1/pushChannel", "value": "c"},
                {"op": "add", "path": "/secondaryTiles/s1/tags", "value": ["a", "b"]},
                {
                    "op": "add",
                    "path": "/secondaryTiles/s1/templates/t",
                    "value": '{"body": "<tile/>"}',
                },
            ],
            {
                "secondaryTiles": {
                    "s1": {
                        "pushChannel": "c",
                        "pushChannelExpired": False,
                        "tags": ["a", "b"],
                        "templates": {"t": {"body": "<tile/>"}},
                    }
                }
            },
        ),
        (
            {"secondaryTiles": {"s1": {"pushChannel": "c", "tags": ["a", "b"]}}},
            [
                {"op": "remove", "path": "/secondaryTiles/s1/tags/a"},
                {
                    "op": "replace",
                    "path": "/secondaryTiles/s1/pushChannel",
                    "value": "d",
                },
            ],
            {
                "secondaryTiles": {
                    "s1": {
                        "pushChannel": "d",
                        "pushChannelExpired": False,
                        "tags": ["b"],
                    }
                }
            },
        ),
    ],
)
def test_json_patch_on_the_documented_paths(
    start: dict[str, Any], operations: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    installation = validate_installation({**BASE, **start}, "i")
    patched = apply_patch(installation, operations)
    expected_installation = validate_installation({**BASE, **expected}, "i")
    assert patched == expected_installation
    # The original is left alone: the store replaces, never mutates.
    assert installation == validate_installation({**BASE, **start}, "i")


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ({"op": "add"}, "non-empty JSON array"),
        ([], "non-empty JSON array"),
        ([{"op": "move", "path": "/tags", "value": "x"}], "add, remove or replace"),
        ([{"op": "add", "path": "/platform", "value": "wns"}], "not supported"),
        ([{"op": "add", "path": "tags", "value": "x"}], "must start with"),
        ([{"op": "remove", "path": "/pushChannel"}], "cannot be removed"),
        ([{"op": "add", "path": "/tags", "value": 5}], "tag or an array"),
        ([{"op": "add", "path": "/tags", "value": "bad,tag"}], "not valid"),
        ([{"op": "add", "path": "/templates/t/body", "value": "x"}], "does not exist"),
        ([{"op": "add", "path": "/templates/t", "value": "{broken"}], "not valid JSON"),
        ([{"op": "add", "path": "/userId", "value": "a b"}], "userId"),
        (
            [{"op": "add", "path": "/secondaryTiles/s1/platform", "value": "x"}],
            "not supported",
        ),
        ([{"op": "add", "path": "/secondaryTiles/s1", "value": "x"}], "not supported"),
    ],
)
def test_unacceptable_patches_are_refused(operations: object, message: str) -> None:
    installation = validate_installation(BASE, "i")
    with pytest.raises(InstallationInvalid, match=message):
        apply_patch(installation, operations)


def test_the_emulator_package_exports_what_its_all_lists() -> None:
    names = notifhub_async.emulator.__all__
    assert names == sorted(names)
    assert [name for name in names if not hasattr(notifhub_async.emulator, name)] == []
