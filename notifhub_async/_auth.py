"""
Shared Access Signature tokens (wire spec §1.3).

    SharedAccessSignature sr={resource}&sig={signature}&se={expiry}&skn={key name}

`resource` is the lower-cased, percent-encoded URI the token covers; the signature is
HMAC-SHA256 over `resource + "\\n" + expiry`, keyed with the UTF-8 bytes of the key as
written in the connection string (not base64-decoded), then base64 and
percent-encoded. Signing is a pure function of its inputs and an injected clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote

__all__ = ["SasTokenProvider", "generate_sas_token"]

DEFAULT_TOKEN_TTL = 3600.0
DEFAULT_REFRESH_MARGIN = 300.0


def generate_sas_token(
    resource_uri: str, key_name: str, key: str, expires_at: int
) -> str:
    """
    Build a SAS token for `resource_uri` that expires at `expires_at` (Unix seconds).

    Args:
        resource_uri: the URI the token covers; every URI below it is covered too.
        key_name: the access rule's name (`SharedAccessKeyName`).
        key: the access rule's key (`SharedAccessKey`), used as UTF-8 bytes.
        expires_at: expiry as whole seconds since the Unix epoch.

    Returns:
        The value for the `Authorization` header.
    """
    resource = quote(resource_uri.lower(), safe="")
    string_to_sign = f"{resource}\n{expires_at}".encode()
    digest = hmac.new(key.encode(), string_to_sign, hashlib.sha256).digest()
    signature = quote(base64.b64encode(digest).decode("ascii"), safe="")
    return (
        f"SharedAccessSignature sr={resource}&sig={signature}"
        f"&se={expires_at}&skn={quote(key_name, safe='')}"
    )


class SasTokenProvider:
    """
    Hand out one cached token until less than `refresh_margin` of it remains.

    Minting is synchronous and never awaits, so any number of concurrent senders on
    one event loop share one token: the first caller after expiry mints, the rest
    reuse it.
    """

    __slots__ = (
        "_clock",
        "_expires_at",
        "_key",
        "_key_name",
        "_refresh_margin",
        "_resource_uri",
        "_token",
        "_ttl",
    )

    def __init__(
        self,
        resource_uri: str,
        key_name: str,
        key: str,
        *,
        ttl: float = DEFAULT_TOKEN_TTL,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0 or refresh_margin < 0 or refresh_margin >= ttl:
            raise ValueError(
                "token ttl must be positive and larger than the refresh margin"
            )

        self._resource_uri = resource_uri
        self._key_name = key_name
        self._key = key
        self._ttl = ttl
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0

    def __repr__(self) -> str:
        return f"SasTokenProvider(resource_uri={self._resource_uri!r})"

    @property
    def expires_at(self) -> int:
        """Unix second at which the cached token expires (0 before the first)."""
        return self._expires_at

    def token(self) -> str:
        """Return a token valid for at least `refresh_margin` more seconds."""
        now = self._clock()
        if self._token is None or now >= self._expires_at - self._refresh_margin:
            self._expires_at = int(now + self._ttl)
            self._token = generate_sas_token(
                self._resource_uri, self._key_name, self._key, self._expires_at
            )

        return self._token
