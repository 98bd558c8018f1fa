"""
Verify Shared Access Signature tokens the way the service does (wire spec §1.3).

    SharedAccessSignature sr={resource}&sig={signature}&se={expiry}&skn={rule}

Written from the spec, not from our client's signing code, so that the client is
tested against an independent reading. The fields may come in any order. The
signature is HMAC-SHA256 over `sr` exactly as sent (still percent-encoded), a
newline and `se`, keyed with the UTF-8 bytes of the rule's key. `sr` must cover the
request: once decoded and lower-cased, with its scheme ignored, it must be a prefix of
the request's host and path (whole path segments), or name the request's path
exactly plus query parameters the request carries. Upper- and lower-case
percent-encoding both work, as do audiences at the namespace root, the hub or the
full request URL, because the official SDKs sign each of those.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from ._config import AccessRule

__all__ = ["RequestTarget", "SasError", "SasToken", "authenticate", "parse_token"]

_SCHEME = "sharedaccesssignature"
_FIELDS = ("sr", "sig", "se", "skn")


class SasError(Exception):
    """The token was refused; `detail` names why and never holds a secret."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SasToken:
    """The fields of a token; `resource` and `expiry` are kept exactly as sent."""

    resource: str
    signature: bytes
    expiry: str
    key_name: str


@dataclass(frozen=True, slots=True)
class RequestTarget:
    """What a token must cover: the Host header, the decoded path, the raw query."""

    host: str
    path: str
    query: str


def parse_token(authorization: str | None) -> SasToken:
    """
    Split an Authorization header into the token's fields.

    Raises:
        SasError: the header is missing or not a well-formed SAS token.
    """
    if not authorization or not authorization.strip():
        raise SasError("MissingToken: The request has no Authorization header.")

    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != _SCHEME or not rest.strip():
        raise _malformed()

    fields: dict[str, str] = {}
    for part in rest.strip().split("&"):
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or name not in _FIELDS or name in fields:
            raise _malformed()

        fields[name] = value.strip()

    if any(not fields.get(name) for name in _FIELDS):
        raise _malformed()

    return SasToken(
        resource=fields["sr"],
        signature=_decode_signature(fields["sig"]),
        expiry=fields["se"],
        key_name=unquote(fields["skn"]),
    )


def authenticate(
    authorization: str | None,
    find_rule: Callable[[str], AccessRule | None],
    target: RequestTarget,
    now: float,
) -> AccessRule:
    """
    Check a request's token and return the access rule that signed it.

    Raises:
        SasError: the token is missing, malformed, names no rule of this hub, has a
            wrong signature, has expired, or does not cover the request.
    """
    token = parse_token(authorization)
    rule = find_rule(token.key_name)
    if rule is None:
        raise SasError(
            f"UnknownKeyName: The access rule '{token.key_name}' does not exist on "
            "this notification hub."
        )

    if not hmac.compare_digest(token.signature, _sign(token, rule.key)):
        raise SasError("InvalidSignature: The token has an invalid signature.")

    if not token.expiry.isdigit():
        raise _malformed()

    if int(token.expiry) <= now:
        raise SasError(
            f"ExpiredToken: The token expired at {token.expiry} (seconds since the "
            "Unix epoch)."
        )

    if not covers(token.resource, target):
        raise SasError(
            f"InvalidAudience: The token audience '{unquote(token.resource)}' does "
            f"not cover '{target.host}{target.path}'."
        )

    return rule


def covers(resource: str, target: RequestTarget) -> bool:
    """Whether the token audience `resource` (as sent) covers `target`."""
    # The token's own encoding is undone first, then the URI's escapes (an SDK
    # signing the full URL may have `%24top` in it), on both sides alike.
    audience = unquote(unquote(resource)).lower()
    audience = audience.partition("://")[2] if "://" in audience else audience
    audience_path, _, audience_query = audience.partition("?")
    audience_path = _with_slash(_without_default_port(audience_path))
    request_query = {
        (name.lower(), value.lower())
        for name, value in parse_qsl(target.query, keep_blank_values=True)
    }
    for host in _host_forms(target.host.lower()):
        request_path = _with_slash(host + unquote(target.path).lower())
        if not audience_query:
            if request_path.startswith(audience_path):
                return True

            continue

        # A full-URL audience (the Java SDK signs the query too): the same path,
        # and every query parameter it names present in the request.
        wanted = set(parse_qsl(audience_query, keep_blank_values=True))
        if request_path == audience_path and wanted <= request_query:
            return True

    return False


def _sign(token: SasToken, key: str) -> bytes:
    string_to_sign = f"{token.resource}\n{token.expiry}".encode()
    return hmac.new(key.encode("utf-8"), string_to_sign, hashlib.sha256).digest()


def _decode_signature(value: str) -> bytes:
    try:
        return base64.b64decode(unquote(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _malformed() from exc


def _host_forms(host: str) -> tuple[str, ...]:
    # The .NET SDK drops the port from the audience it signs.
    name, colon, port = host.rpartition(":")
    if colon and name and port.isdigit():
        return (host, name)

    return (host,)


def _without_default_port(audience_path: str) -> str:
    # "host:443/hub" names the same resource as "host/hub", which is what a
    # request without a port in its Host header is compared as.
    host, slash, path = audience_path.partition("/")
    for default in (":443", ":80"):
        if host.endswith(default):
            host = host.removesuffix(default)

    return f"{host}{slash}{path}"


def _with_slash(path: str) -> str:
    return path if path.endswith("/") else f"{path}/"


def _malformed() -> SasError:
    return SasError(
        "MalformedToken: The Authorization header is not a SharedAccessSignature "
        "token with sr, sig, se and skn fields."
    )
