"""
Parse Notification Hubs connection strings.

A connection string is a `;`-separated list of `Key=Value` parts (wire spec §1.1):

    Endpoint=sb://{namespace}.servicebus.windows.net/;SharedAccessKeyName={rule};
    SharedAccessKey={key}[;EntityPath={hub}]

The parts may come in any order, values may contain `=` (keys are base64), and the
portal's trailing `;` is tolerated. Errors name the defect but never echo a value,
because the value that failed to parse may be the key itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._errors import ConnectionStringError

__all__ = ["ConnectionString", "parse_connection_string", "resolve_hub_name"]

# The .NET SDK refuses longer key names and keys client-side; so do we.
_MAX_KEY_NAME_LENGTH = 256
_MAX_KEY_LENGTH = 256
# Constants.NotificationHubNameMaximumLength in the .NET SDK.
_MAX_HUB_NAME_LENGTH = 260

_ENDPOINT = "endpoint"
_KEY_NAME = "sharedaccesskeyname"
_KEY = "sharedaccesskey"
_ENTITY_PATH = "entitypath"
_CANONICAL_NAMES = {
    _ENDPOINT: "Endpoint",
    _KEY_NAME: "SharedAccessKeyName",
    _KEY: "SharedAccessKey",
    _ENTITY_PATH: "EntityPath",
}
_ALLOWED_SCHEMES = {"sb": "https", "https": "https", "http": "http"}
_HUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


@dataclass(frozen=True, slots=True)
class ConnectionString:
    """
    The parts of a parsed connection string.

    `endpoint` is normalised to `https://{host}/` (`sb://` becomes `https://`; a
    plain `http://` endpoint is kept for local emulators). The key is left out of the
    repr so that the object can be logged safely.
    """

    endpoint: str
    shared_access_key_name: str
    shared_access_key: str = field(repr=False)
    entity_path: str | None = None

    @property
    def host(self) -> str:
        """The namespace host, for example `contoso.servicebus.windows.net`."""
        return urlsplit(self.endpoint).netloc


def parse_connection_string(connection_string: str) -> ConnectionString:
    """
    Parse a connection string, whatever the order of its parts.

    Raises:
        ConnectionStringError: the string is empty, a part has no `=`, a key appears
            twice, a required key is missing or empty, or the endpoint is not a URL.
    """
    if not isinstance(connection_string, str):
        raise ConnectionStringError(
            f"connection string must be a str, not {type(connection_string).__name__}"
        )

    values = _split_parts(connection_string)
    for required in (_ENDPOINT, _KEY_NAME, _KEY):
        if not values.get(required):
            state = "is empty" if required in values else "is missing"
            raise ConnectionStringError(
                f"connection string: {_CANONICAL_NAMES[required]} {state}"
            )

    key_name = values[_KEY_NAME]
    key = values[_KEY]
    if len(key_name) > _MAX_KEY_NAME_LENGTH:
        raise ConnectionStringError(
            f"connection string: SharedAccessKeyName is longer than "
            f"{_MAX_KEY_NAME_LENGTH} characters"
        )

    if len(key) > _MAX_KEY_LENGTH:
        raise ConnectionStringError(
            f"connection string: SharedAccessKey is longer than {_MAX_KEY_LENGTH} "
            "characters"
        )

    entity_path = values.get(_ENTITY_PATH) or None
    return ConnectionString(
        endpoint=_normalise_endpoint(values[_ENDPOINT]),
        shared_access_key_name=key_name,
        shared_access_key=key,
        entity_path=entity_path,
    )


def resolve_hub_name(hub_name: str | None, connection: ConnectionString) -> str:
    """
    Choose the hub: the explicit name, else the connection string's EntityPath.

    Raises:
        ConnectionStringError: neither is given, they disagree, or the name is not a
            plausible hub path.
    """
    entity_path = connection.entity_path
    if hub_name is None or hub_name == "":
        if entity_path is None:
            raise ConnectionStringError(
                "no hub name: pass hub_name or put EntityPath in the connection string"
            )

        hub_name = entity_path
    elif entity_path is not None and entity_path.strip("/") != hub_name.strip("/"):
        raise ConnectionStringError(
            f"hub_name {hub_name!r} differs from the connection string's EntityPath "
            f"{entity_path!r}"
        )

    hub_name = hub_name.strip("/")
    if len(hub_name) > _MAX_HUB_NAME_LENGTH or not _HUB_NAME.fullmatch(hub_name):
        raise ConnectionStringError(
            f"hub name {hub_name!r} is not valid: use at most {_MAX_HUB_NAME_LENGTH} "
            "letters, digits, '.', '_', '-' and '/'"
        )

    return hub_name


def _split_parts(connection_string: str) -> dict[str, str]:
    values: dict[str, str] = {}
    parts = connection_string.strip().split(";")
    for position, part in enumerate(parts, start=1):
        if not part.strip():
            continue

        name, separator, value = part.partition("=")
        name = name.strip()
        if not separator or not name:
            # Never echo the part: it may be a key that lost its name.
            raise ConnectionStringError(
                f"connection string: part {position} is not of the form Key=Value"
            )

        # Key names are matched case-insensitively, as the .NET SDK does.
        lowered = name.lower()
        if lowered in values:
            # An unknown name is not echoed either: it may be a key that lost its
            # `SharedAccessKey=` prefix and was split at its own `=` padding.
            repeated = _CANONICAL_NAMES.get(lowered, f"the key name of part {position}")
            raise ConnectionStringError(
                f"connection string: {repeated} appears more than once"
            )

        # Unknown keys are ignored, like the JavaScript SDK does.
        values[lowered] = value.strip()

    if not values:
        raise ConnectionStringError("connection string is empty")

    return values


def _normalise_endpoint(endpoint: str) -> str:
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        parts = None

    scheme = _ALLOWED_SCHEMES.get(parts.scheme.lower()) if parts else None
    if parts is None or scheme is None or not parts.hostname:
        raise ConnectionStringError(
            "connection string: Endpoint must be a URL such as "
            "sb://{namespace}.servicebus.windows.net/"
        )

    return f"{scheme}://{parts.netloc.lower()}/"
