"""
An independent check of SAS tokens, written from the wire spec (§1.3) alone.

It deliberately imports nothing from notifhub_async, so that a bug shared by the
signer and its tests cannot make both agree. It accepts what the service accepts:
fields in any order, upper- or lower-case percent-encoding, any scheme in `sr`,
and any resource that is a prefix of the request URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote

_PREFIX = "SharedAccessSignature "
_REQUIRED_FIELDS = frozenset({"sr", "sig", "se", "skn"})


class SasVerificationError(AssertionError):
    """The token would be refused by the service; the message says why."""


@dataclass(frozen=True)
class VerifiedToken:
    """What a valid token grants."""

    resource: str
    key_name: str
    expires_at: int


def verify_sas_token(
    authorization: str,
    *,
    key_name: str,
    key: str,
    request_url: str,
    now: float,
) -> VerifiedToken:
    """
    Check an Authorization header the way the service does, or raise.

    Raises:
        SasVerificationError: malformed, wrong key name, bad signature, expired,
            or issued for a resource that does not cover `request_url`.
    """
    fields = _fields(authorization)
    resource = unquote(fields["sr"])
    expected = hmac.new(
        key.encode("utf-8"),
        # The service signs the `sr` string exactly as it travelled, still encoded.
        f"{fields['sr']}\n{fields['se']}".encode(),
        hashlib.sha256,
    ).digest()
    try:
        signature = base64.b64decode(unquote(fields["sig"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SasVerificationError("sig is not base64") from exc

    if not hmac.compare_digest(signature, expected):
        raise SasVerificationError("signature does not match")

    if not fields["se"].isdigit():
        raise SasVerificationError("se is not a number of seconds")

    expires_at = int(fields["se"])
    if expires_at <= now:
        raise SasVerificationError("token has expired")

    if unquote(fields["skn"]) != key_name:
        raise SasVerificationError("token names another key")

    if not covers(resource, request_url):
        raise SasVerificationError("token's resource does not cover the request URL")

    return VerifiedToken(
        resource=resource, key_name=unquote(fields["skn"]), expires_at=expires_at
    )


def covers(resource: str, request_url: str) -> bool:
    """Whether a token for `resource` is good for `request_url` (case, scheme aside)."""
    scope = _without_scheme(resource.lower())
    target = _without_scheme(request_url.lower())
    if not target.startswith(scope):
        return False

    # A prefix must end at a boundary: "/hub" covers "/hub/messages", not "/hub2".
    rest = target[len(scope) :]
    return scope.endswith("/") or rest == "" or rest[0] in "/?"


def _fields(authorization: str) -> dict[str, str]:
    if not authorization.startswith(_PREFIX):
        raise SasVerificationError("not a SharedAccessSignature")

    fields: dict[str, str] = {}
    for part in authorization[len(_PREFIX) :].split("&"):
        name, separator, value = part.partition("=")
        if not separator or name in fields:
            raise SasVerificationError(f"malformed or repeated field {name!r}")

        fields[name] = value

    if set(fields) != _REQUIRED_FIELDS:
        raise SasVerificationError(f"fields are {sorted(fields)}")

    return fields


def _without_scheme(url: str) -> str:
    _, separator, rest = url.partition("://")
    return rest if separator else url
