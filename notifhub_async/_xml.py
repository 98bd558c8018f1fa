"""
Safe reading of the service's XML bodies.

The service's bodies are small, namespace-qualified documents (wire spec §3). We
refuse any DOCTYPE or entity declaration (no entity expansion, no external
resources) and bodies over a size cap, ignore namespaces when matching elements,
and tolerate BOMs, leading whitespace and unknown elements.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ._errors import ResponseParseError
from ._models import NotificationOutcome, RegistrationResult

__all__ = [
    "MAX_XML_BYTES",
    "local_name",
    "parse_error_detail",
    "parse_notification_outcome",
    "parse_xml",
]

# Test-send outcomes list at most 10 registrations; 1 MiB is generous for any body
# this client reads.
MAX_XML_BYTES = 1024 * 1024

_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_COUNT = re.compile(r"[0-9]+")


def parse_xml(body: bytes, *, what: str) -> ET.Element:
    """
    Parse `body` into an element tree, refusing unsafe or oversized documents.

    Raises:
        ResponseParseError: the body is too large, declares a DOCTYPE or entity, or
            is not well-formed XML.
    """
    if len(body) > MAX_XML_BYTES:
        raise ResponseParseError(
            f"{what}: body of {len(body)} bytes exceeds the {MAX_XML_BYTES}-byte limit"
        )

    text = _strip_preamble(body)
    # UTF-8 never holds NUL, but UTF-16 or UTF-32 without a BOM does; expat would
    # decode such a body itself, hiding a DOCTYPE from the byte search below.
    if b"\x00" in text:
        raise ResponseParseError(f"{what}: the body is neither UTF-8 nor marked UTF-16")

    if _DECLARATIONS.search(text):
        raise ResponseParseError(
            f"{what}: the body declares a DOCTYPE or an entity, which is refused"
        )

    try:
        return ET.fromstring(text)
    except (ET.ParseError, LookupError, ValueError) as exc:
        # LookupError and ValueError: an unknown or multi-byte declared encoding.
        raise ResponseParseError(f"{what}: the body is not well-formed XML") from exc


def local_name(element: ET.Element) -> str:
    """The element's name without its `{namespace}`."""
    tag = element.tag
    return tag.rpartition("}")[2] if tag.startswith("{") else tag


def child_text(element: ET.Element, name: str) -> str | None:
    """The text of the first child called `name` (any namespace), or None."""
    for child in element:
        if local_name(child) == name:
            return (child.text or "").strip()

    return None


def parse_notification_outcome(body: bytes) -> NotificationOutcome:
    """
    Parse a test send's `NotificationOutcome` document.

    Handles `<Results/>`, `<Results i:nil="true"/>`, one or many results and unknown
    elements.

    Raises:
        ResponseParseError: not a NotificationOutcome, or counts that are not numbers.
    """
    what = "test-send outcome"
    root = parse_xml(body, what=what)
    if local_name(root) != "NotificationOutcome":
        raise ResponseParseError(
            f"{what}: expected <NotificationOutcome>, found <{local_name(root)}>"
        )

    results: list[RegistrationResult] = []
    for child in root:
        if local_name(child) != "Results":
            continue

        for item in child:
            if local_name(item) == "RegistrationResult":
                results.append(_registration_result(item))

    return NotificationOutcome(
        success=_count(root, "Success", what),
        failure=_count(root, "Failure", what),
        results=tuple(results),
    )


def parse_error_detail(body: bytes) -> str | None:
    """
    The `<Detail>` text of an `<Error><Code/><Detail/></Error>` body, if any.

    Error bodies are informative only, so anything unreadable yields None rather
    than hiding the status behind a parse error.
    """
    if not body.strip():
        return None

    try:
        root = parse_xml(body, what="error body")
    except ResponseParseError:
        return None

    if local_name(root) != "Error":
        return None

    return child_text(root, "Detail") or None


def _registration_result(element: ET.Element) -> RegistrationResult:
    return RegistrationResult(
        platform=child_text(element, "ApplicationPlatform") or "",
        pns_handle=child_text(element, "PnsHandle") or "",
        registration_id=child_text(element, "RegistrationId") or "",
        outcome=child_text(element, "Outcome") or "",
    )


def _count(root: ET.Element, name: str, what: str) -> int:
    text = child_text(root, name)
    if not text:
        return 0

    # int() alone would also take "-1", "1_0" and non-ASCII digits.
    if not _COUNT.fullmatch(text):
        raise ResponseParseError(f"{what}: <{name}> is not a number")

    return int(text)


def _strip_preamble(body: bytes) -> bytes:
    for bom in _BOMS:
        if body.startswith(bom):
            if bom == b"\xef\xbb\xbf":
                body = body[len(bom) :]
            else:
                # UTF-16: decode and re-encode, dropping the encoding declaration
                # that would otherwise contradict the UTF-8 bytes.
                try:
                    text = body.decode("utf-16")
                except UnicodeDecodeError:
                    return body

                text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
                body = text.encode("utf-8")

            break

    return body.lstrip()
