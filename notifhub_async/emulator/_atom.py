"""
Registration descriptions in Atom XML (wire spec §7.2): the kinds, parsing requests
and writing entries and feeds in the service's shape.

The service deserialises descriptions with a data-contract serializer, which only
reads elements in their declared order ("element order is important and things will
not work if the element are out of order"). The emulator therefore refuses an
out-of-order or unknown element with 400 and a Detail naming it, so that a client
bug shows up here rather than as a silently ignored field in production.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ._tagexpr import fold_tags, is_storable_tag
from ._xmlutil import (
    ATOM_NAMESPACE,
    DATASERVICES_METADATA_NAMESPACE,
    INSTANCE_NAMESPACE,
    NH_NAMESPACE,
    XmlRejected,
    atom_time,
    attribute,
    cdata,
    local_name,
    namespace_of,
    parse_xml,
    text,
)

__all__ = [
    "KINDS",
    "Description",
    "DescriptionInvalid",
    "Kind",
    "Registration",
    "entry_xml",
    "feed_xml",
    "parse_entry",
]

# Read-only elements a client may send back; the service ignores their values.
_COMMON = ("ETag", "ExpirationTime", "RegistrationId", "Tags", "PushVariables")
_READ_ONLY = frozenset({"ETag", "ExpirationTime", "RegistrationId"})
_NEVER_EXPIRES = "9999-12-31T23:59:59.999"
_TEMPLATE = ("BodyTemplate", "TemplateName")


class DescriptionInvalid(ValueError):
    """The registration description cannot be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class Kind:
    """
    One registration kind, such as `AppleTemplate`.

    Attributes:
        name: the root element is `{name}RegistrationDescription`.
        platform: the `ServiceBusNotification-Format` its native sends use.
        handle_field: the element that holds the device handle.
        fields: the platform elements after the common ones, in order.
        headers_element: the collection of platform headers of a template kind.
        required_header: a header every template of this kind must carry.
    """

    name: str
    platform: str
    handle_field: str
    fields: tuple[str, ...]
    headers_element: str | None = None
    required_header: str | None = None

    @property
    def element(self) -> str:
        """The root element's local name."""
        return f"{self.name}RegistrationDescription"

    @property
    def is_template(self) -> bool:
        """Whether registrations of this kind receive template sends."""
        return "BodyTemplate" in self.fields

    @property
    def order(self) -> tuple[str, ...]:
        """Every element the kind may hold, in declared order."""
        return _COMMON + self.fields


def _native(
    name: str, platform: str, fields: tuple[str, ...], handle: str | None = None
) -> Kind:
    return Kind(name, platform, handle or fields[0], fields)


def _template(native: Kind) -> Kind:
    fields, headers, required_header = _TEMPLATE_SHAPES.get(
        native.name, (_TEMPLATE, None, None)
    )
    return Kind(
        name=f"{native.name}Template",
        platform=native.platform,
        handle_field=native.handle_field,
        fields=native.fields + fields,
        headers_element=headers,
        required_header=required_header,
    )


# Template elements beyond BodyTemplate and TemplateName, and the header each
# template must carry [DOC:create-registration].
_TEMPLATE_SHAPES: dict[str, tuple[tuple[str, ...], str | None, str | None]] = {
    "Apple": (
        ("BodyTemplate", "Expiry", "TemplateName", "Priority", "ApnsHeaders"),
        "ApnsHeaders",
        None,
    ),
    "Windows": (
        ("BodyTemplate", "WnsHeaders", "TemplateName"),
        "WnsHeaders",
        "X-WNS-Type",
    ),
    "Mpns": (
        ("BodyTemplate", "MpnsHeaders", "TemplateName"),
        "MpnsHeaders",
        "X-WindowsPhone-Target",
    ),
}
_NATIVE_KINDS = (
    _native("Apple", "apple", ("DeviceToken",)),
    _native("Gcm", "gcm", ("GcmRegistrationId",)),
    # The .NET SDK has Fcm descriptions but sends FCM as Gcm; both are read.
    _native("Fcm", "gcm", ("FcmRegistrationId",)),
    _native("FcmV1", "fcmv1", ("FcmV1RegistrationId",)),
    _native("Adm", "adm", ("AdmRegistrationId",)),
    _native("Baidu", "baidu", ("BaiduUserId", "BaiduChannelId"), "BaiduChannelId"),
    _native("Windows", "windows", ("ChannelUri", "SecondaryTileName")),
    _native("Mpns", "windowsphone", ("ChannelUri", "SecondaryTileName")),
    _native("Browser", "browser", ("Endpoint", "P256DH", "Auth")),
    # Xiaomi element names come from the JS SDK only (unconfirmed elsewhere).
    _native("Xiaomi", "xiaomi", ("XiaomiRegistrationId",)),
)
KINDS: Mapping[str, Kind] = {
    kind.element: kind
    for native in _NATIVE_KINDS
    for kind in (native, _template(native))
}


@dataclass(frozen=True, slots=True)
class Description:
    """
    What a client sent: the kind, element values, tags and template headers.

    `values` holds the platform and template elements that were present and not
    nil, as text; `Tags` and the headers collection are parsed out of it.
    """

    kind: Kind
    values: Mapping[str, str]
    tags: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    folded_tags: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded_tags", fold_tags(self.tags))


@dataclass(frozen=True, slots=True)
class Registration:
    """A stored registration."""

    registration_id: str
    description: Description
    etag: int
    updated: datetime
    published: datetime = field(compare=False)

    @property
    def kind(self) -> Kind:
        """The registration's kind."""
        return self.description.kind

    @property
    def handle(self) -> str:
        """The device handle (PNS handle)."""
        return self.description.values.get(self.kind.handle_field, "")

    @property
    def tags(self) -> tuple[str, ...]:
        """The registration's tags."""
        return self.description.tags


def parse_entry(body: bytes) -> Description:
    """
    Read the description inside an Atom entry.

    Raises:
        DescriptionInvalid: not an Atom entry holding one known description, an
            element out of order or unknown, a missing handle or template body, or
            an invalid tag.
    """
    try:
        root = parse_xml(body)
    except XmlRejected as exc:
        raise DescriptionInvalid(str(exc)) from exc

    description = _description_element(root)
    kind = KINDS.get(local_name(description.tag))
    if kind is None or namespace_of(description.tag) != NH_NAMESPACE:
        raise DescriptionInvalid(
            f"'{local_name(description.tag)}' in namespace "
            f"'{namespace_of(description.tag)}' is not a registration description; "
            f"expected one of {', '.join(sorted(KINDS))} in namespace '{NH_NAMESPACE}'."
        )

    values = _ordered_values(description, kind)
    headers = _headers(description, kind)
    tags = _tags(values.pop("Tags", ""))
    for read_only in _READ_ONLY:
        values.pop(read_only, None)

    _check_required(kind, values, headers)
    return Description(kind=kind, values=values, tags=tags, headers=headers)


def _description_element(root: ET.Element) -> ET.Element:
    if root.tag != f"{{{ATOM_NAMESPACE}}}entry":
        raise DescriptionInvalid(
            f"The request body must be an Atom entry (namespace '{ATOM_NAMESPACE}')."
        )

    content = root.find(f"{{{ATOM_NAMESPACE}}}content")
    children = list(content) if content is not None else []
    if len(children) != 1:
        raise DescriptionInvalid(
            "The Atom entry must hold one registration description in <content>."
        )

    return children[0]


def _ordered_values(description: ET.Element, kind: Kind) -> dict[str, str]:
    values: dict[str, str] = {}
    position = -1
    for child in description:
        name = local_name(child.tag)
        if namespace_of(child.tag) != NH_NAMESPACE or name not in kind.order:
            raise DescriptionInvalid(
                f"The element '{name}' is not part of {kind.element}; its elements "
                f"are, in this order: {', '.join(kind.order)}."
            )

        index = kind.order.index(name)
        if index <= position:
            raise DescriptionInvalid(
                f"The element '{name}' of {kind.element} is out of order; the "
                f"elements must come in this order: {', '.join(kind.order)}."
            )

        position = index
        nil = child.get(f"{{{INSTANCE_NAMESPACE}}}nil", "").lower() == "true"
        if not nil and name != kind.headers_element:
            values[name] = child.text or ""

    return values


def _headers(description: ET.Element, kind: Kind) -> tuple[tuple[str, str], ...]:
    if kind.headers_element is None:
        return ()

    collection = description.find(f"{{{NH_NAMESPACE}}}{kind.headers_element}")
    if collection is None:
        return ()

    headers: list[tuple[str, str]] = []
    for item in collection:
        name = item.findtext(f"{{{NH_NAMESPACE}}}Header")
        value = item.findtext(f"{{{NH_NAMESPACE}}}Value")
        if not name or value is None:
            raise DescriptionInvalid(
                f"Each entry of {kind.headers_element} needs a Header and a Value."
            )

        headers.append((name.strip(), value.strip()))

    return tuple(headers)


def _tags(value: str) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(tag.strip() for tag in value.split(",") if tag.strip()))
    for tag in tags:
        if not is_storable_tag(tag):
            raise DescriptionInvalid(
                f"The tag '{tag}' is not valid: tags are 1 to 120 printable "
                "characters without a comma."
            )

    return tags


def _check_required(
    kind: Kind, values: Mapping[str, str], headers: Sequence[tuple[str, str]]
) -> None:
    if not values.get(kind.handle_field, "").strip():
        raise DescriptionInvalid(f"{kind.element} requires a {kind.handle_field}.")

    if kind.is_template and not values.get("BodyTemplate", "").strip():
        raise DescriptionInvalid(f"{kind.element} requires a BodyTemplate.")

    required = kind.required_header
    if required and not any(name.lower() == required.lower() for name, _ in headers):
        raise DescriptionInvalid(
            f"{kind.element} requires the header '{required}' in "
            f"{kind.headers_element}."
        )


# -- writing ----------------------------------------------------------------------


def entry_xml(registration: Registration, url: str) -> str:
    """A standalone entry, as GET, POST and PUT answer; `url` is its id."""
    return _entry(registration, url, standalone=True)


def feed_xml(
    registrations: Sequence[Registration],
    feed_url: str,
    entry_url: Callable[[str], str],
    next_url: str | None,
    now: datetime,
) -> str:
    """
    A feed of entries.

    Args:
        feed_url: the request's URL, the feed's id and self link.
        entry_url: gives each entry's id from its registration id.
        next_url: the link to the next page, if there is one.
    """
    parts = [
        f'<feed xmlns="{ATOM_NAMESPACE}"><title type="text">Registrations</title>',
        f"<id>{text(feed_url)}</id><updated>{atom_time(now)}</updated>",
        f'<link rel="self" href={attribute(feed_url)}/>',
    ]
    if next_url is not None:
        parts.append(f'<link rel="next" href={attribute(next_url)}/>')

    parts.extend(
        _entry(
            registration,
            entry_url(registration.registration_id),
            standalone=False,
        )
        for registration in registrations
    )
    parts.append("</feed>")
    return "".join(parts)


def _entry(registration: Registration, url: str, *, standalone: bool) -> str:
    etag = attribute(f'W/"{registration.etag}"')
    namespaces = f'xmlns:a="{DATASERVICES_METADATA_NAMESPACE}"'
    if standalone:
        namespaces = f'xmlns="{ATOM_NAMESPACE}" {namespaces}'

    registration_id = registration.registration_id
    return (
        f"<entry a:etag={etag} {namespaces}><id>{text(url)}</id>"
        f'<title type="text">{text(registration_id)}</title>'
        f"<published>{atom_time(registration.published)}</published>"
        f"<updated>{atom_time(registration.updated)}</updated>"
        f'<link rel="self" href={attribute(url)}/>'
        f'<content type="application/xml">'
        f"{_description_xml(registration, standalone=standalone)}</content></entry>"
    )


def _description_xml(registration: Registration, *, standalone: bool) -> str:
    kind = registration.kind
    values = registration.description.values
    # The recordings show the expiry without "Z" in single entries, with it in feeds.
    expiration = _NEVER_EXPIRES if standalone else f"{_NEVER_EXPIRES}Z"
    parts = [
        f'<{kind.element} xmlns="{NH_NAMESPACE}" xmlns:i="{INSTANCE_NAMESPACE}">',
        f"<ETag>{registration.etag}</ETag>",
        f"<ExpirationTime>{expiration}</ExpirationTime>",
        f"<RegistrationId>{text(registration.registration_id)}</RegistrationId>",
    ]
    if registration.tags:
        parts.append(f"<Tags>{text(','.join(registration.tags))}</Tags>")

    for name in ("PushVariables", *kind.fields):
        parts.append(_element(registration, name, values.get(name)))

    parts.append(f"</{kind.element}>")
    return "".join(parts)


def _element(registration: Registration, name: str, value: str | None) -> str:
    kind = registration.kind
    if name == kind.headers_element:
        return _headers_xml(name, registration.description.headers)

    if value is None:
        # The service always writes an Apple template's Expiry, as nil when unset.
        return '<Expiry i:nil="true"/>' if name == "Expiry" else ""

    if name == "BodyTemplate":
        return f"<BodyTemplate>{cdata(value)}</BodyTemplate>"

    return f"<{name}>{text(value)}</{name}>"


def _headers_xml(collection: str, headers: Sequence[tuple[str, str]]) -> str:
    if not headers:
        return f"<{collection}/>"

    item = collection[:-1]
    inner = "".join(
        f"<{item}><Header>{text(name)}</Header><Value>{text(value)}</Value></{item}>"
        for name, value in headers
    )
    return f"<{collection}>{inner}</{collection}>"
