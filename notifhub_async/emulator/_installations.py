"""
Installations (wire spec §8): validate what a client PUTs and apply JSON Patch.

An installation is stored as the JSON object the service returns on GET, with its
keys in the service's order and the read-only fields (`pushChannelExpired`,
`expirationTime`) filled in; unknown and read-only fields a client sends are dropped,
as the service ignores them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._tagexpr import is_storable_tag

__all__ = [
    "PLATFORM_FORMATS",
    "InstallationInvalid",
    "apply_patch",
    "installation_handle",
    "validate_installation",
]

# Installation platform -> the ServiceBusNotification-Format of its native sends.
# Platforms are case-insensitive (docs spell APNS, SDKs apns; unconfirmed, so
# lenient); the .NET SDK sends FCM legacy as "gcm" and "fcm" is read the same way.
PLATFORM_FORMATS: Mapping[str, str] = {
    "apns": "apple",
    "gcm": "gcm",
    "fcm": "gcm",
    "fcmv1": "fcmv1",
    "wns": "windows",
    "mpns": "windowsphone",
    "adm": "adm",
    "baidu": "baidu",
    "browser": "browser",
    "xiaomi": "xiaomi",
}
_NEVER_EXPIRES = "9999-12-31T23:59:59.9999999Z"
_USER_ID = re.compile(r"[A-Za-z0-9\-_@#.:=]+")
_TEMPLATE_PARTS = ("body", "headers", "expiry", "tags")


class InstallationInvalid(ValueError):
    """The installation or patch is not acceptable; the message says why."""


def validate_installation(document: object, installation_id: str) -> dict[str, Any]:
    """
    Check a PUT body and return the installation as it will be stored.

    Raises:
        InstallationInvalid: not an object, an id that differs from the URL's, an
            unknown platform, no push channel, or a malformed user id, tag or
            template.
    """
    if not isinstance(document, dict):
        raise InstallationInvalid("The installation must be a JSON object.")

    given_id = document.get("installationId", installation_id)
    if given_id != installation_id:
        raise InstallationInvalid(
            f"The installationId '{given_id}' does not match the id in the URL "
            f"'{installation_id}'."
        )

    platform = _platform(document.get("platform"))
    installation: dict[str, Any] = {
        "installationId": installation_id,
        "pushChannel": _push_channel(document.get("pushChannel"), platform),
        "pushChannelExpired": False,
        "platform": platform,
        "expirationTime": _NEVER_EXPIRES,
    }
    _set_optional(installation, "tags", document.get("tags"), _tags)
    _set_optional(
        installation, "pushVariables", document.get("pushVariables"), _variables
    )
    _set_optional(installation, "templates", document.get("templates"), _templates)
    # TODO: WNS secondary tiles are stored unvalidated and never sent to (rarely used)
    _set_optional(
        installation, "secondaryTiles", document.get("secondaryTiles"), _object
    )
    _set_optional(installation, "userId", document.get("userId"), _user_id)
    return installation


def installation_handle(installation: Mapping[str, Any]) -> str:
    """The installation's device handle (a browser's is its push endpoint)."""
    channel = installation["pushChannel"]
    if isinstance(channel, Mapping):
        return str(channel.get("endpoint", ""))

    return str(channel)


def apply_patch(installation: Mapping[str, Any], operations: object) -> dict[str, Any]:
    """
    Apply JSON Patch operations on the documented paths; return the new installation.

    Raises:
        InstallationInvalid: not a list of operations, an unknown op or path, or a
            value that would make the installation invalid.
    """
    if not isinstance(operations, list) or not operations:
        raise InstallationInvalid(
            "The patch must be a non-empty JSON array of operations."
        )

    patched = copy.deepcopy(dict(installation))
    for operation in operations:
        _apply_one(patched, operation)

    return validate_installation(patched, patched["installationId"])


def _apply_one(installation: dict[str, Any], operation: object) -> None:
    if not isinstance(operation, dict):
        raise InstallationInvalid("Each patch operation must be a JSON object.")

    op = operation.get("op")
    path = operation.get("path")
    if op not in ("add", "remove", "replace") or not isinstance(path, str):
        raise InstallationInvalid(
            "Each patch operation needs an 'op' of add, remove or replace and a "
            "string 'path'."
        )

    # RFC 6901 escapes "/" and "~" inside a segment as "~1" and "~0".
    segments = [
        segment.replace("~1", "/").replace("~0", "~") for segment in path.split("/")
    ]
    if segments[0] != "" or len(segments) < 2:
        raise InstallationInvalid(f"The patch path '{path}' must start with '/'.")

    target = segments[1]
    rest = segments[2:]
    value = operation.get("value")
    if target in ("pushChannel", "userId") and not rest:
        _patch_scalar(installation, target, op, value)
    elif target == "tags":
        _patch_tags(installation, op, rest, value)
    elif target == "templates" and len(rest) in (1, 2):
        _patch_template(installation, op, rest, value)
    elif target == "secondaryTiles" and _patch_secondary_tile(
        installation, op, rest, value
    ):
        pass
    else:
        raise InstallationInvalid(
            f"The patch path '{path}' is not supported; use /pushChannel, /userId, "
            "/tags, /tags/{tag}, /templates/{name} or /templates/{name}/body, "
            "/headers, /expiry or /tags, and the same under "
            "/secondaryTiles/{tileId}/ (pushChannel, tags, templates)."
        )


def _patch_secondary_tile(
    installation: dict[str, Any], op: str, rest: list[str], value: object
) -> bool:
    # /secondaryTiles/{tileId}/pushChannel | /tags[/{tag}] | /templates/{name}[/..]
    # (wire spec §8): the installation's own rules, applied to the tile. False for
    # any other path under the tile.
    if len(rest) < 2:
        return False

    tile_id, part, part_rest = rest[0], rest[1], rest[2:]
    tiles: dict[str, Any] = dict(installation.get("secondaryTiles", {}))
    tile: dict[str, Any] = dict(tiles.get(tile_id, {}))
    if part == "pushChannel" and not part_rest:
        _patch_scalar(tile, part, op, value)
        tile["pushChannelExpired"] = False
    elif part == "tags":
        _patch_tags(tile, op, part_rest, value)
    elif part == "templates" and len(part_rest) in (1, 2):
        _patch_template(tile, op, part_rest, value)
    else:
        return False

    tiles[tile_id] = tile
    installation["secondaryTiles"] = tiles
    return True


def _patch_scalar(
    installation: dict[str, Any], name: str, op: str, value: object
) -> None:
    if op == "remove":
        if name == "pushChannel":
            raise InstallationInvalid("The push channel cannot be removed.")

        installation.pop(name, None)
        return

    installation[name] = value


def _patch_tags(
    installation: dict[str, Any], op: str, rest: list[str], value: object
) -> None:
    tags: list[str] = list(installation.get("tags", []))
    if rest:
        # /tags/{tag}: add or remove that one tag.
        tag = "/".join(rest)
        tags = [existing for existing in tags if existing != tag]
        if op != "remove":
            tags.append(tag)
    elif op == "remove":
        tags = []
    else:
        given = _tag_values(value)
        tags = given if op == "replace" else tags + given

    if tags:
        installation["tags"] = list(dict.fromkeys(tags))
    else:
        # Removing the last tag removes `tags` (wire spec §8).
        installation.pop("tags", None)


def _patch_template(
    installation: dict[str, Any], op: str, rest: list[str], value: object
) -> None:
    templates: dict[str, Any] = dict(installation.get("templates", {}))
    name = rest[0]
    if len(rest) == 1:
        if op == "remove":
            templates.pop(name, None)
        else:
            templates[name] = _json_value(value)
    else:
        part = rest[1]
        if part not in _TEMPLATE_PARTS or name not in templates:
            raise InstallationInvalid(
                f"The template '{name}' does not exist or has no part '{part}'."
            )

        template = dict(templates[name])
        if op == "remove":
            template.pop(part, None)
        elif part == "tags":
            template[part] = _tag_values(value)
        else:
            # "add on headers replaces current headers object" (wire spec §8).
            template[part] = value if part == "body" else _json_value(value)

        templates[name] = template

    if templates:
        installation["templates"] = templates
    else:
        installation.pop("templates", None)


def _json_value(value: object) -> object:
    # Patch values are strings in the SDK models; a JSON object or array may come
    # encoded in one ('{"body": "..."}'), or as plain JSON.
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        try:
            decoded: object = json.loads(value)
        except ValueError as exc:
            raise InstallationInvalid(
                f"The patch value is not valid JSON: {exc}."
            ) from exc

        return decoded

    return value


def _tag_values(value: object) -> list[str]:
    decoded = _json_value(value)
    if isinstance(decoded, str):
        return [decoded]

    if isinstance(decoded, list) and all(isinstance(tag, str) for tag in decoded):
        return list(decoded)

    raise InstallationInvalid("A tags patch value must be a tag or an array of tags.")


def _set_optional(
    installation: dict[str, Any],
    name: str,
    value: object,
    check: Callable[[object], Any],
) -> None:
    if value is None:
        return

    checked = check(value)
    if checked:
        installation[name] = checked


def _platform(value: object) -> str:
    platform = value.lower() if isinstance(value, str) else ""
    if platform not in PLATFORM_FORMATS:
        raise InstallationInvalid(
            f"The platform {json.dumps(value)} is not supported; use one of "
            f"{', '.join(sorted(PLATFORM_FORMATS))} (any case)."
        )

    # FCM legacy is stored as "gcm", as the .NET SDK sends it.
    return "gcm" if platform == "fcm" else platform


def _push_channel(value: object, platform: str) -> object:
    if isinstance(value, str) and value.strip():
        return value

    if (
        platform == "browser"
        and isinstance(value, dict)
        and all(
            isinstance(value.get(key), str) for key in ("endpoint", "p256dh", "auth")
        )
    ):
        return {key: value[key] for key in ("endpoint", "p256dh", "auth")}

    raise InstallationInvalid(
        "The installation needs a pushChannel (for browser: an object with "
        "endpoint, p256dh and auth)."
    )


def _tags(value: object) -> list[str]:
    if not isinstance(value, list):
        raise InstallationInvalid("tags must be an array of strings.")

    for tag in value:
        if not isinstance(tag, str) or not is_storable_tag(tag):
            raise InstallationInvalid(
                f"The tag {json.dumps(tag)} is not valid: tags are 1 to 120 "
                "printable characters without a comma."
            )

    return list(dict.fromkeys(value))


def _variables(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(item, str) for item in value.values()
    ):
        raise InstallationInvalid("pushVariables must be an object of strings.")

    return dict(value)


def _templates(value: object) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise InstallationInvalid("templates must be an object of templates.")

    return {name: _template(name, template) for name, template in value.items()}


def _template(name: str, template: object) -> dict[str, Any]:
    if not isinstance(template, dict) or not isinstance(template.get("body"), str):
        raise InstallationInvalid(f"The template '{name}' needs a string body.")

    checked: dict[str, Any] = {"body": template["body"]}
    headers = template.get("headers")
    if headers is not None:
        if not isinstance(headers, dict) or not all(
            isinstance(item, str) for item in headers.values()
        ):
            raise InstallationInvalid(
                f"The headers of template '{name}' must be an object of strings."
            )

        checked["headers"] = dict(headers)

    expiry = template.get("expiry")
    if expiry is not None:
        if not isinstance(expiry, str):
            raise InstallationInvalid(f"The expiry of template '{name}' is a string.")

        checked["expiry"] = expiry

    tags = template.get("tags")
    if tags is not None:
        checked["tags"] = _tags(tags)

    return checked


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InstallationInvalid("secondaryTiles must be an object.")

    return dict(value)


def _user_id(value: object) -> str:
    if not isinstance(value, str) or not _USER_ID.fullmatch(value):
        raise InstallationInvalid("userId must be letters, digits and -_@#.:= only.")

    return value
