"""
Registrations over HTTP: ids, create, upsert with ETags, read, delete, and lists with
paging, filters and tags, using the service's recorded Atom XML as request bodies.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from ._emulator_recorded import DESCRIPTIONS
from ._emulator_support import (
    API,
    ATOM_NAMESPACE,
    ENDPOINT,
    HUB,
    LISTEN,
    NH_NAMESPACE,
    Harness,
    make_harness,
)

pytestmark = pytest.mark.asyncio

ATOM = f"{{{ATOM_NAMESPACE}}}"
NH = f"{{{NH_NAMESPACE}}}"
ENTRY_TYPE = "application/atom+xml; type=entry; charset=utf-8"
FEED_TYPE = "application/atom+xml; type=feed; charset=utf-8"
WRITE_TYPE = {"Content-Type": "application/atom+xml;type=entry;charset=utf-8"}


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = make_harness()
    async with harness.client:
        yield harness


def entry_body(description: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<entry xmlns="{ATOM_NAMESPACE}"><content type="application/xml">'
        f"{description}</content></entry>"
    ).encode()


def apple(token: str, tags: str | None = None) -> bytes:
    inner = f"<Tags>{tags}</Tags>" if tags is not None else ""
    return entry_body(
        f'<AppleRegistrationDescription xmlns="{NH_NAMESPACE}">'
        f"{inner}<DeviceToken>{token}</DeviceToken></AppleRegistrationDescription>"
    )


def description_of(response: httpx.Response) -> ET.Element:
    root = ET.fromstring(response.content)
    content = root.find(f"{ATOM}content")
    assert content is not None
    return content[0]


def registration_id_of(response: httpx.Response) -> str:
    registration_id = description_of(response).findtext(f"{NH}RegistrationId")
    assert registration_id is not None
    return registration_id


async def create(harness: Harness, body: bytes) -> httpx.Response:
    response = await harness.call(
        "POST", f"{HUB}/registrations?{API}", headers=WRITE_TYPE, content=body
    )
    assert response.status_code == 200, response.text
    return response


def error_detail(response: httpx.Response) -> str:
    root = ET.fromstring(response.content)
    assert root.findtext("Code") == str(response.status_code)
    return root.findtext("Detail") or ""


async def test_registration_ids_are_handed_out_in_location(harness: Harness) -> None:
    response = await harness.call("POST", f"{HUB}/registrationids?{API}", rule=LISTEN)
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    assert re.fullmatch(
        r"https://emulator\.test/myhub/registrationids/\d+-\d+-\d\?api-version=2020-06",
        response.headers["Location"],
    )


async def test_creating_answers_like_the_recordings(harness: Harness) -> None:
    response = await create(harness, apple("ABCDEF", "tag1"))
    registration_id = registration_id_of(response)
    url = f"{ENDPOINT}{HUB}/registrations/{registration_id}?{API}"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Content-Type"] == ENTRY_TYPE
    assert response.headers["Content-Location"] == url

    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}entry"
    assert root.findtext(f"{ATOM}id") == url
    assert root.findtext(f"{ATOM}title") == registration_id
    assert (
        root.get("{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}etag")
        == 'W/"1"'
    )
    description = description_of(response)
    assert [child.tag.removeprefix(NH) for child in description] == [
        "ETag",
        "ExpirationTime",
        "RegistrationId",
        "Tags",
        "DeviceToken",
    ]
    assert description.findtext(f"{NH}ExpirationTime") == "9999-12-31T23:59:59.999"


@pytest.mark.parametrize("name", sorted(DESCRIPTIONS))
async def test_recorded_descriptions_can_be_posted_and_read_back(
    harness: Harness, name: str
) -> None:
    # A body the service itself wrote: its read-only elements must be ignored.
    recorded = ET.fromstring(DESCRIPTIONS[name])
    created = await create(harness, entry_body(DESCRIPTIONS[name]))
    registration_id = registration_id_of(created)
    assert registration_id != recorded.findtext(f"{NH}RegistrationId")

    response = await harness.call(
        "GET", f"{HUB}/registrations/{registration_id}?{API}", rule=LISTEN
    )
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"'
    read = description_of(response)
    assert read.tag == recorded.tag
    skipped = {f"{NH}ETag", f"{NH}ExpirationTime", f"{NH}RegistrationId"}
    assert [(child.tag, child.text) for child in read if child.tag not in skipped] == [
        (child.tag, child.text) for child in recorded if child.tag not in skipped
    ]


async def test_put_creates_then_updates_and_checks_if_match(harness: Harness) -> None:
    path = f"{HUB}/registrations/123-234-1?{API}"
    first = await harness.call("PUT", path, headers=WRITE_TYPE, content=apple("AA"))
    assert (first.status_code, first.headers["ETag"]) == (200, 'W/"1"')

    second = await harness.call("PUT", path, headers=WRITE_TYPE, content=apple("BB"))
    assert second.headers["ETag"] == 'W/"2"'
    assert description_of(second).findtext(f"{NH}DeviceToken") == "BB"

    stale = await harness.call(
        "PUT", path, headers={**WRITE_TYPE, "If-Match": '"1"'}, content=apple("CC")
    )
    assert stale.status_code == 412
    assert "If-Match" in error_detail(stale)

    for if_match, etag in (('W/"2"', 'W/"3"'), ("*", 'W/"4"'), ('"4"', 'W/"5"')):
        response = await harness.call(
            "PUT",
            path,
            headers={**WRITE_TYPE, "If-Match": if_match},
            content=apple("D"),
        )
        assert response.headers["ETag"] == etag

    current = await harness.call("GET", path)
    assert current.headers["ETag"] == 'W/"5"'
    assert description_of(current).findtext(f"{NH}DeviceToken") == "D"


async def test_delete_checks_if_match_and_then_the_registration_is_gone(
    harness: Harness,
) -> None:
    registration_id = registration_id_of(await create(harness, apple("AA")))
    path = f"{HUB}/registrations/{registration_id}?{API}"
    stale = await harness.call("DELETE", path, headers={"If-Match": '"9"'})
    assert stale.status_code == 412

    deleted = await harness.call("DELETE", path, headers={"If-Match": "*"})
    assert deleted.status_code == 200
    assert deleted.content == b""

    missing = await harness.call("GET", path)
    assert missing.status_code == 404
    # The recorded 404 has nothing before the tracking id.
    assert error_detail(missing).startswith(".TrackingId:")
    assert (await harness.call("DELETE", path)).status_code == 404


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<not-xml", "not well-formed"),
        (apple("")[:-8], "not well-formed"),
        (
            entry_body(
                f'<AppleRegistrationDescription xmlns="{NH_NAMESPACE}">'
                "<DeviceToken>A</DeviceToken><Tags>t</Tags>"
                "</AppleRegistrationDescription>"
            ),
            "out of order",
        ),
        (apple(""), "requires a DeviceToken"),
    ],
)
async def test_malformed_descriptions_are_400(
    harness: Harness, body: bytes, reason: str
) -> None:
    response = await harness.call(
        "POST", f"{HUB}/registrations?{API}", headers=WRITE_TYPE, content=body
    )
    assert response.status_code == 400
    assert reason in error_detail(response)


def feed_ids(response: httpx.Response) -> list[str]:
    assert response.headers["Content-Type"] == FEED_TYPE
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}title") == "Registrations"
    return [entry.findtext(f"{ATOM}title") or "" for entry in root.iter(f"{ATOM}entry")]


async def test_lists_page_with_top_and_continuation_tokens(harness: Harness) -> None:
    created = [
        registration_id_of(await create(harness, apple(f"T{number}")))
        for number in range(5)
    ]
    first = await harness.call("GET", f"{HUB}/registrations?{API}&$top=2")
    assert feed_ids(first) == created[:2]
    token = first.headers["x-ms-continuationtoken"]
    # The token travels back as received, already percent-encoded.
    root = ET.fromstring(first.content)
    [next_link] = [
        link.get("href")
        for link in root.findall(f"{ATOM}link")
        if link.get("rel") == "next"
    ]
    assert next_link is not None and "continuationtoken=" in next_link

    second = await harness.call(
        "GET", f"{HUB}/registrations?{API}&$top=2&continuationtoken={token}"
    )
    assert feed_ids(second) == created[2:4]
    # The Java SDK spells the parameter ContinuationToken.
    third = await harness.call(
        "GET",
        f"{HUB}/registrations?{API}&$top=2"
        f"&ContinuationToken={second.headers['x-ms-continuationtoken']}",
    )
    assert feed_ids(third) == created[4:]
    assert "x-ms-continuationtoken" not in third.headers

    everything = await harness.call("GET", f"{HUB}/registrations/?{API}")
    assert feed_ids(everything) == created


async def test_a_feed_links_to_itself_and_entries_carry_the_query(
    harness: Harness,
) -> None:
    registration_id = registration_id_of(await create(harness, apple("T")))
    response = await harness.call("GET", f"{HUB}/registrations?{API}&$top=100")
    root = ET.fromstring(response.content)
    feed_url = f"{ENDPOINT}{HUB}/registrations?{API}&$top=100"
    assert root.findtext(f"{ATOM}id") == feed_url
    entry = root.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}id") == (
        f"{ENDPOINT}{HUB}/registrations/{registration_id}?{API}&$top=100"
    )
    description = entry.find(f"{ATOM}content")
    assert description is not None
    # Feeds write the expiry with a Z, as recorded.
    assert description[0].findtext(f"{NH}ExpirationTime") == "9999-12-31T23:59:59.999Z"


async def test_an_empty_list_is_a_feed_without_entries(harness: Harness) -> None:
    response = await harness.call("GET", f"{HUB}/registrations?{API}")
    assert response.status_code == 200
    assert feed_ids(response) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # The .NET SDK's recorded filter: ChannelUri matches any platform's handle.
        ("$filter=ChannelUri+eq+%2762BCD3484834%27", {"apple"}),
        ("$filter=DeviceToken eq '62bcd3484834'", {"apple"}),
        ("$filter=GcmRegistrationId eq 'amzn1.gcm'", {"gcm"}),
        ("$filter=ChannelUri eq 'https://some.url/'", {"windows"}),
        # The JS SDK percent-encodes the URI inside the filter value too.
        ("$filter=ChannelUri eq 'https%253A%252F%252Fsome.url%252F'", {"windows"}),
        ("$filter=DeviceToken eq 'nothing'", set()),
    ],
)
async def test_lists_filter_by_device_handle(
    harness: Harness, query: str, expected: set[str]
) -> None:
    created = {
        "apple": registration_id_of(await create(harness, apple("62BCD3484834"))),
        "gcm": registration_id_of(
            await create(
                harness,
                entry_body(
                    f'<GcmRegistrationDescription xmlns="{NH_NAMESPACE}">'
                    "<GcmRegistrationId>amzn1.gcm</GcmRegistrationId>"
                    "</GcmRegistrationDescription>"
                ),
            )
        ),
        "windows": registration_id_of(
            await create(
                harness,
                entry_body(
                    f'<WindowsRegistrationDescription xmlns="{NH_NAMESPACE}">'
                    "<ChannelUri>https://some.url/</ChannelUri>"
                    "</WindowsRegistrationDescription>"
                ),
            )
        ),
    }
    # Devices look themselves up with the Listen key.
    response = await harness.call(
        "GET", f"{HUB}/registrations?{API}&{query}&$top=100", rule=LISTEN
    )
    assert response.status_code == 200
    assert set(feed_ids(response)) == {created[name] for name in expected}


@pytest.mark.parametrize(
    "query",
    [
        "$filter=Tags eq 'x'",
        "$filter=DeviceToken eq x",
        "$filter=DeviceToken eq 'a' or",
    ],
)
async def test_unsupported_filters_are_400(harness: Harness, query: str) -> None:
    response = await harness.call("GET", f"{HUB}/registrations?{API}&{query}")
    assert response.status_code == 400
    assert "$filter" in error_detail(response)


async def test_listing_everything_needs_manage(harness: Harness) -> None:
    response = await harness.call("GET", f"{HUB}/registrations?{API}", rule=LISTEN)
    assert response.status_code == 403
    assert response.content == b""


async def test_lists_by_tag(harness: Harness) -> None:
    tagged = registration_id_of(await create(harness, apple("A", "tag1, other")))
    await create(harness, apple("B", "other"))
    response = await harness.call(
        "GET", f"{HUB}/tags/tag1/registrations?{API}&$top=100"
    )
    assert feed_ids(response) == [tagged]
    entry = ET.fromstring(response.content).find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}id") == (
        f"{ENDPOINT}{HUB}/tags/tag1/registrations/{tagged}?{API}&$top=100"
    )


async def test_a_bad_page_size_or_token_is_400(harness: Harness) -> None:
    bad_top = await harness.call("GET", f"{HUB}/registrations?{API}&$top=zero")
    assert bad_top.status_code == 400
    bad_token = await harness.call(
        "GET", f"{HUB}/registrations?{API}&continuationtoken=%%%"
    )
    assert bad_token.status_code == 400


async def test_registrations_are_readable_in_process(harness: Harness) -> None:
    registration_id = registration_id_of(await create(harness, apple("AB", "x")))
    [(stored_id, registration)] = harness.emulator.registrations(HUB).items()
    assert stored_id == registration_id
    assert registration.handle == "AB"
    assert registration.tags == ("x",)
    assert registration.kind.name == "Apple"
