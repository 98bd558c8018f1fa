"""Connection strings: parsed whatever their layout, errors that never show the key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifhub_async import ConnectionStringError, NotificationHubError
from notifhub_async._connection_string import (
    ConnectionString,
    parse_connection_string,
    resolve_hub_name,
)

KEY = "Zm9vYmFyK2Jhei9xdXV4PT0+/k3y=="
ENDPOINT = "sb://contoso.servicebus.windows.net/"
NORMALISED = "https://contoso.servicebus.windows.net/"
KEY_NAME = "DefaultFullSharedAccessSignature"
PORTAL = f"Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(PORTAL, id="portal-order"),
        pytest.param(
            f"SharedAccessKey={KEY};Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME}",
            id="key-first",
        ),
        pytest.param(
            f"SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY};Endpoint={ENDPOINT}",
            id="endpoint-last",
        ),
        pytest.param(f"{PORTAL};", id="trailing-semicolon"),
        pytest.param(f"{PORTAL};;;", id="several-trailing-semicolons"),
        pytest.param(f"  {PORTAL} ;\n", id="surrounding-whitespace"),
        pytest.param(
            f" Endpoint = {ENDPOINT} ; SharedAccessKeyName = {KEY_NAME} ; "
            f"SharedAccessKey = {KEY} ",
            id="whitespace-around-names-and-values",
        ),
        pytest.param(
            f";;Endpoint={ENDPOINT};;SharedAccessKeyName={KEY_NAME};  ;"
            f"SharedAccessKey={KEY}",
            id="empty-parts",
        ),
        pytest.param(
            f"endpoint={ENDPOINT};SHAREDACCESSKEYNAME={KEY_NAME};sharedAccessKey={KEY}",
            id="key-names-in-any-case",
        ),
        pytest.param(f"{PORTAL};Unknown=whatever", id="unknown-key-ignored"),
        pytest.param(
            f"Endpoint=https://contoso.servicebus.windows.net/;"
            f"SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}",
            id="https-endpoint",
        ),
        pytest.param(
            f"Endpoint=sb://CONTOSO.servicebus.windows.net;"
            f"SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}",
            id="upper-case-host-without-slash",
        ),
    ],
)
def test_parses_any_layout(text: str) -> None:
    parsed = parse_connection_string(text)

    assert parsed.endpoint == NORMALISED
    assert parsed.shared_access_key_name == KEY_NAME
    assert parsed.shared_access_key == KEY
    assert parsed.host == "contoso.servicebus.windows.net"


def test_equals_signs_inside_the_key_are_kept() -> None:
    parsed = parse_connection_string(
        f"Endpoint={ENDPOINT};SharedAccessKeyName=a=b;SharedAccessKey=x==y=="
    )

    assert parsed.shared_access_key_name == "a=b"
    assert parsed.shared_access_key == "x==y=="


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        pytest.param("sb://ns.example.net/", "https://ns.example.net/", id="sb"),
        pytest.param("SB://ns.example.net/", "https://ns.example.net/", id="SB"),
        pytest.param("https://ns.example.net", "https://ns.example.net/", id="https"),
        pytest.param(
            "http://127.0.0.1:8080/", "http://127.0.0.1:8080/", id="http-emulator"
        ),
        pytest.param(
            "sb://ns.example.net:5671/ignored/path?q=1",
            "https://ns.example.net:5671/",
            id="port-kept-path-dropped",
        ),
    ],
)
def test_endpoint_is_normalised(endpoint: str, expected: str) -> None:
    parsed = parse_connection_string(
        f"Endpoint={endpoint};SharedAccessKeyName=n;SharedAccessKey={KEY}"
    )

    assert parsed.endpoint == expected


def test_entity_path_is_kept_and_usable_as_hub_name() -> None:
    parsed = parse_connection_string(f"{PORTAL};EntityPath=myhub")

    assert parsed.entity_path == "myhub"
    assert resolve_hub_name(None, parsed) == "myhub"
    assert resolve_hub_name("", parsed) == "myhub"
    assert resolve_hub_name("myhub", parsed) == "myhub"
    assert resolve_hub_name("/myhub/", parsed) == "myhub"


def test_empty_entity_path_counts_as_absent() -> None:
    assert parse_connection_string(f"{PORTAL};EntityPath=").entity_path is None


def test_explicit_hub_name_without_entity_path() -> None:
    parsed = parse_connection_string(PORTAL)

    assert parsed.entity_path is None
    assert resolve_hub_name("a/b-c.d_e", parsed) == "a/b-c.d_e"


@pytest.mark.parametrize(
    ("hub_name", "connection_string", "fragment"),
    [
        pytest.param("other", f"{PORTAL};EntityPath=myhub", "differs", id="conflict"),
        pytest.param(None, PORTAL, "no hub name", id="neither-given"),
        pytest.param("bad name!", PORTAL, "not valid", id="bad-characters"),
        pytest.param("x" * 261, PORTAL, "not valid", id="261-characters"),
    ],
)
def test_unusable_hub_names(
    hub_name: str | None, connection_string: str, fragment: str
) -> None:
    parsed = parse_connection_string(connection_string)

    with pytest.raises(ConnectionStringError, match=fragment) as caught:
        resolve_hub_name(hub_name, parsed)

    assert KEY not in str(caught.value)


def test_260_character_hub_name_is_accepted() -> None:
    assert resolve_hub_name("h" * 260, parse_connection_string(PORTAL)) == "h" * 260


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("  ;; ; ", "empty", id="only-separators"),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME}",
            "SharedAccessKey is missing",
            id="missing-key",
        ),
        pytest.param(
            f"SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}",
            "Endpoint is missing",
            id="missing-endpoint",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKey={KEY}",
            "SharedAccessKeyName is missing",
            id="missing-key-name",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME};SharedAccessKey=",
            "SharedAccessKey is empty",
            id="empty-key",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName= ;SharedAccessKey={KEY}",
            "SharedAccessKeyName is empty",
            id="blank-key-name",
        ),
        pytest.param(
            f"{PORTAL};SharedAccessKey={KEY}",
            "SharedAccessKey appears more than once",
            id="duplicate-key",
        ),
        pytest.param(
            f"{PORTAL};ENDPOINT={ENDPOINT}",
            "Endpoint appears more than once",
            id="duplicate-in-other-case",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME};{KEY.rstrip('=')}",
            "part 3 is not of the form Key=Value",
            id="key-without-its-name-or-padding",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME};={KEY}",
            "part 3 is not of the form Key=Value",
            id="value-without-name",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME};{KEY};{KEY}",
            "appears more than once",
            id="bare-key-twice-split-at-its-padding",
        ),
        pytest.param(
            f"Endpoint=not a url;SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}",
            "Endpoint must be a URL",
            id="endpoint-not-a-url",
        ),
        pytest.param(
            f"Endpoint=ftp://ns.example.net/;SharedAccessKeyName=n;SharedAccessKey={KEY}",
            "Endpoint must be a URL",
            id="endpoint-unknown-scheme",
        ),
        pytest.param(
            f"Endpoint=sb:///path;SharedAccessKeyName=n;SharedAccessKey={KEY}",
            "Endpoint must be a URL",
            id="endpoint-without-host",
        ),
        pytest.param(
            f"Endpoint=sb://[::1/;SharedAccessKeyName=n;SharedAccessKey={KEY}",
            "Endpoint must be a URL",
            id="endpoint-broken-ipv6",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName={'n' * 257};"
            f"SharedAccessKey={KEY}",
            "SharedAccessKeyName is longer than 256",
            id="257-character-key-name",
        ),
        pytest.param(
            f"Endpoint={ENDPOINT};SharedAccessKeyName={KEY_NAME};"
            f"SharedAccessKey={KEY}{'k' * 256}",
            "SharedAccessKey is longer than 256",
            id="overlong-key",
        ),
    ],
)
def test_defects_raise_without_echoing_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ConnectionStringError) as caught:
        parse_connection_string(text)

    error = caught.value
    assert fragment in str(error)
    assert isinstance(error, ValueError)
    assert isinstance(error, NotificationHubError)
    # Neither the key nor the part of it before its `=` padding may appear.
    assert KEY not in str(error)
    assert KEY.rstrip("=") not in str(error)
    assert KEY not in repr(error)


@pytest.mark.parametrize(
    "value",
    [pytest.param(None, id="None"), pytest.param(PORTAL.encode(), id="bytes")],
)
def test_non_string_input_is_refused(value: object) -> None:
    with pytest.raises(ConnectionStringError, match="must be a str"):
        parse_connection_string(value)  # type: ignore[arg-type]


def test_256_character_key_and_key_name_are_accepted() -> None:
    parsed = parse_connection_string(
        f"Endpoint={ENDPOINT};SharedAccessKeyName={'n' * 256};"
        f"SharedAccessKey={'k' * 256}"
    )

    assert len(parsed.shared_access_key) == 256
    assert len(parsed.shared_access_key_name) == 256


def test_repr_and_str_hide_the_key() -> None:
    parsed = parse_connection_string(f"{PORTAL};EntityPath=myhub")

    assert KEY not in repr(parsed)
    assert KEY not in str(parsed)
    assert KEY_NAME in repr(parsed)
    assert "myhub" in repr(parsed)


def test_parsed_value_is_frozen() -> None:
    parsed = parse_connection_string(PORTAL)

    with pytest.raises(AttributeError):
        parsed.shared_access_key = "other"  # type: ignore[misc]


# Keys as the portal makes them (base64) and then some: anything but `;`, with no
# surrounding whitespace (the parser trims values, as the JavaScript SDK does).
_KEY_ALPHABET = st.characters(
    min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";"
)
_keys = st.text(_KEY_ALPHABET, min_size=1, max_size=256)
_key_names = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";"),
    min_size=1,
    max_size=64,
)
_hosts = st.from_regex(
    r"[a-z][a-z0-9-]{0,20}\.servicebus\.windows\.net", fullmatch=True
)
_padding = st.sampled_from(["", " ", "  ", "\t"])


_entity_paths = st.none() | st.from_regex(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True
)


@given(
    key=_keys,
    key_name=_key_names,
    host=_hosts,
    entity_path=_entity_paths,
    scheme=st.sampled_from(["sb", "https", "SB"]),
    order=st.permutations(range(4)),
    pads=st.lists(_padding, min_size=4, max_size=4),
    trailing=st.sampled_from(["", ";", ";;", "; "]),
)
def test_round_trip_of_the_values(
    key: str,
    key_name: str,
    host: str,
    entity_path: str | None,
    scheme: str,
    order: list[int],
    pads: list[str],
    trailing: str,
) -> None:
    parts = [
        f"Endpoint={scheme}://{host}/",
        f"SharedAccessKeyName={key_name}",
        f"SharedAccessKey={key}",
        f"EntityPath={entity_path}" if entity_path is not None else "",
    ]
    text = pads[0] + f"{pads[1]};{pads[2]}".join(parts[i] for i in order)
    text += pads[3] + trailing

    parsed = parse_connection_string(text)

    assert parsed == ConnectionString(
        endpoint=f"https://{host}/",
        shared_access_key_name=key_name,
        shared_access_key=key,
        entity_path=entity_path,
    )
    # The entity path names the hub when none is given, and agrees when one is.
    if entity_path is not None:
        assert resolve_hub_name(None, parsed) == entity_path
        assert resolve_hub_name(entity_path, parsed) == entity_path


SECRET = "pLaNtEdSeCrEt+/=="
_fragments = st.sampled_from(
    [
        SECRET,
        f"{SECRET}=",
        f"={SECRET}",
        f"SharedAccessKey={SECRET}",
        f"{SECRET}={SECRET}",
        f"Endpoint={SECRET}",
        f"Endpoint=sb://{SECRET}",
        "Endpoint=sb://ns.example.net/",
        "SharedAccessKeyName=rule",
        f"EntityPath={SECRET}",
        ";",
        "=",
        " ",
        "",
    ]
)


@given(
    st.lists(st.one_of(_fragments, st.text(max_size=20)), min_size=0, max_size=8).map(
        ";".join
    )
)
def test_garbage_never_escapes_as_another_error_or_echoes_a_secret(
    text: str,
) -> None:
    try:
        parsed = parse_connection_string(text)
    except ConnectionStringError as error:
        assert SECRET not in str(error)
        assert SECRET.rstrip("=") not in str(error)
    else:
        assert parsed.endpoint.endswith("/")
        assert "shared_access_key=" not in repr(parsed)
