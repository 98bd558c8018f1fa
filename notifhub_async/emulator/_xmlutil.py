"""
Small XML helpers: safe parsing, escaping, CDATA, the service's namespaces and time
formats. Responses are written as text because the service's exact shapes (CDATA
sections, `i:nil`, prefixes) are beyond what ElementTree emits.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from xml.sax.saxutils import escape

__all__ = [
    "ATOM_NAMESPACE",
    "DATASERVICES_METADATA_NAMESPACE",
    "INSTANCE_NAMESPACE",
    "NH_NAMESPACE",
    "XmlRejected",
    "atom_time",
    "attribute",
    "cdata",
    "local_name",
    "namespace_of",
    "parse_xml",
    "text",
]

NH_NAMESPACE = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
INSTANCE_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
DATASERVICES_METADATA_NAMESPACE = (
    "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
)

# Entity declarations can expand without bound; requests never need them.
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class XmlRejected(ValueError):
    """The body is not XML the emulator will read; the message says why."""


def parse_xml(body: bytes) -> ET.Element:
    """
    Parse a request body.

    Raises:
        XmlRejected: empty, malformed, or carrying a DOCTYPE or ENTITY declaration.
    """
    if not body.strip():
        raise XmlRejected("The request body is empty.")

    # A UTF-16 or UTF-32 body would hide a declaration from the byte search below.
    if b"\x00" in body:
        raise XmlRejected("The request body must be XML encoded as UTF-8.")

    if _DECLARATION.search(body):
        raise XmlRejected("DOCTYPE and ENTITY declarations are not allowed.")

    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise XmlRejected(f"The request body is not well-formed XML: {exc}.") from exc


def local_name(tag: str) -> str:
    """`{namespace}Name` -> `Name`."""
    return tag.rpartition("}")[2]


def namespace_of(tag: str) -> str:
    """`{namespace}Name` -> `namespace` ("" when there is none)."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def text(value: str) -> str:
    """Escape character data."""
    return escape(value)


def attribute(value: str) -> str:
    """A double-quoted, escaped attribute value (`W/&quot;1&quot;`, as recorded)."""
    return '"' + escape(value, {'"': "&quot;"}) + '"'


def cdata(value: str) -> str:
    """Wrap `value` in CDATA, splitting any `]]>` it holds."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def atom_time(moment: datetime) -> str:
    """`2018-11-07T00:18:37Z`, as Atom timestamps appear in the recordings."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
