"""Reading the service's XML: test-send outcomes and error details, safely."""

from __future__ import annotations

import pytest

from notifhub_async import NotificationOutcome, RegistrationResult, ResponseParseError
from notifhub_async._models import OUTCOME_INVALID_HANDLE, OUTCOME_SUCCESS
from notifhub_async._xml import (
    MAX_XML_BYTES,
    parse_error_detail,
    parse_notification_outcome,
    parse_xml,
)

from ._samples import (
    ERROR_400,
    ERROR_400_DETAIL,
    ERROR_404,
    ERROR_404_DETAIL,
    EXAMPLE_A,
    EXAMPLE_B,
    EXAMPLE_C,
    RecordedError,
    recorded_errors,
)

NAMESPACE = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
FIRST_HANDLE = "00FC13ADFF785122B4AD28809A3420982341241421348097878E577C991DE8F0"
EXAMPLE_A_RESULTS = (
    RegistrationResult(
        platform="apple",
        pns_handle=FIRST_HANDLE,
        registration_id="849523884231660601-248604613279522266-3",
        outcome=OUTCOME_INVALID_HANDLE,
    ),
    RegistrationResult(
        platform="apple",
        pns_handle="7603CF2F5537AADF272DEA23B4FB4D33B56F0F8FE697F57777EC459594910786",
        registration_id="282625459606590828-2679902039720441464-3",
        outcome=OUTCOME_SUCCESS,
    ),
)


def outcome_document(inner: str, namespace: str = NAMESPACE) -> bytes:
    return (
        f'<NotificationOutcome xmlns="{namespace}" '
        f'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">{inner}'
        "</NotificationOutcome>"
    ).encode()


def test_example_a_two_results() -> None:
    outcome = parse_notification_outcome(EXAMPLE_A)

    assert outcome == NotificationOutcome(
        success=1, failure=1, results=EXAMPLE_A_RESULTS
    )
    assert outcome.results[0].handle_invalid
    assert not outcome.results[0].succeeded
    assert outcome.results[1].succeeded
    assert not outcome.results[1].handle_invalid


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(EXAMPLE_B, id="example-b-empty-results"),
        pytest.param(EXAMPLE_C, id="example-c-nil-results"),
        pytest.param(outcome_document("<Success>0</Success>"), id="no-results"),
    ],
)
def test_nothing_matched(body: bytes) -> None:
    assert parse_notification_outcome(body) == NotificationOutcome(0, 0, ())


def test_one_result() -> None:
    body = outcome_document(
        "<Success>1</Success><Failure>0</Failure><Results><RegistrationResult>"
        "<ApplicationPlatform>gcm</ApplicationPlatform><PnsHandle>h</PnsHandle>"
        f"<RegistrationId>r-1</RegistrationId><Outcome>{OUTCOME_SUCCESS}</Outcome>"
        "</RegistrationResult></Results>"
    )

    outcome = parse_notification_outcome(body)

    assert outcome.results == (RegistrationResult("gcm", "h", "r-1", OUTCOME_SUCCESS),)
    assert outcome.success == 1


def test_ten_results_in_order() -> None:
    items = "".join(
        f"<RegistrationResult><ApplicationPlatform>apple</ApplicationPlatform>"
        f"<PnsHandle>h{n}</PnsHandle><RegistrationId>r{n}</RegistrationId>"
        f"<Outcome>o{n}</Outcome></RegistrationResult>"
        for n in range(10)
    )
    body = outcome_document(
        f"<Success>10</Success><Failure>0</Failure><Results>{items}</Results>"
    )

    outcome = parse_notification_outcome(body)

    assert [result.registration_id for result in outcome.results] == [
        f"r{n}" for n in range(10)
    ]


def test_unknown_elements_are_ignored() -> None:
    body = outcome_document(
        "<State>DetailedStateAvailable</State><Success>2</Success>"
        "<Failure>0</Failure><Results><Unexpected/><RegistrationResult>"
        "<NewField>x</NewField><ApplicationPlatform>apple</ApplicationPlatform>"
        "<PnsHandle>h</PnsHandle><RegistrationId>r</RegistrationId>"
        "<Outcome>o</Outcome></RegistrationResult></Results><Later>y</Later>"
    )

    outcome = parse_notification_outcome(body)

    assert outcome == NotificationOutcome(
        2, 0, (RegistrationResult("apple", "h", "r", "o"),)
    )


def test_other_namespace_and_no_namespace_are_read_alike() -> None:
    inner = "<Success>3</Success><Failure>1</Failure><Results/>"
    expected = NotificationOutcome(3, 1, ())

    assert parse_notification_outcome(outcome_document(inner, "urn:other")) == expected
    plain = f"<NotificationOutcome>{inner}</NotificationOutcome>".encode()
    assert parse_notification_outcome(plain) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xef\xbb\xbf" + EXAMPLE_A, id="utf-8-bom"),
        pytest.param(
            b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\r\n' + EXAMPLE_A,
            id="utf-8-bom-and-declaration",
        ),
        pytest.param(b"\n\r\n \t " + EXAMPLE_A, id="leading-whitespace"),
        pytest.param(
            ("\ufeff" + EXAMPLE_A.decode()).encode("utf-16-le"), id="utf-16-le-bom"
        ),
        pytest.param(
            ("\ufeff" + EXAMPLE_A.decode()).encode("utf-16-be"), id="utf-16-be-bom"
        ),
        pytest.param(
            (
                '\ufeff<?xml version="1.0" encoding="utf-16"?>\n' + EXAMPLE_A.decode()
            ).encode("utf-16-le"),
            id="utf-16-with-declaration",
        ),
    ],
)
def test_boms_declarations_and_whitespace(body: bytes) -> None:
    outcome = parse_notification_outcome(body)

    assert outcome.results == EXAMPLE_A_RESULTS


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<NotificationOutcome><Success>&lol2;</Success></NotificationOutcome>"
)
EXTERNAL_ENTITY = (
    b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<NotificationOutcome><Success>&x;</Success></NotificationOutcome>"
)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(BILLION_LAUGHS, "DOCTYPE", id="entity-expansion"),
        pytest.param(EXTERNAL_ENTITY, "DOCTYPE", id="external-entity"),
        pytest.param(b"<!doctype x><x/>", "DOCTYPE", id="lower-case-doctype"),
        pytest.param(b"<!  DOCTYPE x><x/>", "DOCTYPE", id="spaced-doctype"),
        pytest.param(b'<!ENTITY e "x"><x/>', "DOCTYPE", id="bare-entity"),
        pytest.param(
            b"\xef\xbb\xbf" + EXTERNAL_ENTITY, "DOCTYPE", id="doctype-after-utf-8-bom"
        ),
        pytest.param(
            ("\ufeff" + BILLION_LAUGHS.decode()).encode("utf-16-le"),
            "DOCTYPE",
            id="doctype-in-utf-16-with-bom",
        ),
        pytest.param(
            BILLION_LAUGHS.decode().encode("utf-16-le"),
            "UTF-8",
            id="doctype-in-utf-16-without-bom",
        ),
        pytest.param(
            EXAMPLE_B.decode().encode("utf-16-be"),
            "UTF-8",
            id="utf-16-be-without-bom",
        ),
        pytest.param(b"x" * (MAX_XML_BYTES + 1), "exceeds", id="oversized"),
        pytest.param(b"", "not well-formed", id="empty"),
        pytest.param(b"   ", "not well-formed", id="blank"),
        pytest.param(b"not xml at all", "not well-formed", id="text"),
        pytest.param(EXAMPLE_A[:-30], "not well-formed", id="truncated"),
        pytest.param(
            b'<?xml version="1.0" encoding="bogus-8"?><x/>',
            "not well-formed",
            id="unknown-declared-encoding",
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="shift_jis"?><x/>',
            "not well-formed",
            id="multi-byte-declared-encoding",
        ),
        pytest.param(
            b"\xff\xfe" + "<x>".encode("utf-16-le") + b"<",
            "test body",
            id="odd-length-utf-16",
        ),
    ],
)
def test_unsafe_or_broken_bodies_are_refused(body: bytes, fragment: str) -> None:
    with pytest.raises(ResponseParseError, match=fragment):
        parse_xml(body, what="test body")

    with pytest.raises(ResponseParseError):
        parse_notification_outcome(body)


def test_body_of_exactly_the_limit_is_read() -> None:
    body = b"<x>" + b"a" * (MAX_XML_BYTES - 7) + b"</x>"
    assert len(body) == MAX_XML_BYTES

    assert parse_xml(body, what="test body").text == "a" * (MAX_XML_BYTES - 7)


def test_other_root_is_not_an_outcome() -> None:
    with pytest.raises(ResponseParseError, match="expected <NotificationOutcome>"):
        parse_notification_outcome(ERROR_404)


@pytest.mark.parametrize(
    "count",
    [
        pytest.param("one", id="word"),
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="fraction"),
        pytest.param("1_0", id="underscore"),
        pytest.param("\u0661", id="arabic-indic-digit"),
        pytest.param("0x1", id="hex"),
    ],
)
def test_non_numeric_counts_are_refused(count: str) -> None:
    body = outcome_document(f"<Success>{count}</Success><Failure>0</Failure>")

    with pytest.raises(ResponseParseError, match="<Success> is not a number"):
        parse_notification_outcome(body)


def test_counts_may_be_padded_or_missing() -> None:
    body = outcome_document("<Success>\n  7 \n</Success><Failure/>")

    assert parse_notification_outcome(body) == NotificationOutcome(7, 0, ())


def test_registration_result_repr_hides_the_handle() -> None:
    outcome = parse_notification_outcome(EXAMPLE_A)

    assert FIRST_HANDLE not in repr(outcome)
    assert FIRST_HANDLE not in repr(outcome.results[0])
    assert "849523884231660601-248604613279522266-3" in repr(outcome.results[0])


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(ERROR_400, ERROR_400_DETAIL, id="spec-400"),
        pytest.param(ERROR_404, ERROR_404_DETAIL, id="spec-404"),
        pytest.param(
            b"\xef\xbb\xbf<Error><Code>401</Code><Detail> Denied </Detail></Error>",
            "Denied",
            id="bom-and-padding",
        ),
        pytest.param(
            f'<Error xmlns="{NAMESPACE}"><Detail>x &amp; y</Detail></Error>'.encode(),
            "x & y",
            id="namespaced-with-escape",
        ),
    ],
)
def test_error_detail(body: bytes, detail: str) -> None:
    assert parse_error_detail(body) == detail


LEAKY_ERROR = b'<!DOCTYPE e [<!ENTITY x "leak">]><Error><Detail>&x;</Detail></Error>'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"  \r\n", id="blank"),
        pytest.param(b"<Error><Code>500</Code></Error>", id="no-detail"),
        pytest.param(b"<Error><Detail></Detail></Error>", id="empty-detail"),
        pytest.param(b"<html><body>Bad gateway</body></html>", id="html"),
        pytest.param(b"Service Unavailable", id="text"),
        pytest.param(b"<Error><Detail>cut", id="truncated"),
        pytest.param(LEAKY_ERROR, id="doctype"),
        pytest.param(
            LEAKY_ERROR.decode().encode("utf-16-le"), id="doctype-utf-16-without-bom"
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="bogus"?><Error><Detail>d</Detail></Error>',
            id="unknown-encoding",
        ),
    ],
)
def test_unreadable_error_bodies_give_no_detail(body: bytes) -> None:
    assert parse_error_detail(body) is None


@pytest.mark.parametrize(
    "recorded",
    recorded_errors(),
    ids=lambda recorded: f"{recorded.status_code}-{recorded.scenario}",
)
def test_error_detail_of_recorded_responses(recorded: RecordedError) -> None:
    assert parse_error_detail(recorded.body) == recorded.detail_in_body


def test_recordings_hold_both_kinds_of_error() -> None:
    errors = recorded_errors()
    if not errors:
        pytest.skip("the reference recordings are not on this machine")

    # The Listen-only key's empty 403 and several 404s with a Detail.
    assert any(error.status_code == 403 and error.body == b"" for error in errors)
    assert sum(error.detail_in_body is not None for error in errors) >= 5
