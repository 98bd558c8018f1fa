"""SAS tokens: the algorithm pinned by a known answer, checked independently."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from urllib.parse import quote

import pytest

import notifhub_async._auth as auth
from notifhub_async import SasTokenProvider, generate_sas_token

from ._sas_verifier import SasVerificationError, covers, verify_sas_token

HUB_URL = "https://contoso.servicebus.windows.net/myhub"
KEY_NAME = "DefaultFullSharedAccessSignature"
KEY = "SGVsbG8rV29ybGQvS2V5PT0="
EXPIRY = 1_700_003_600
# Worked out once and pinned: any change to the algorithm changes this string.
PINNED_SIGNATURE = "y3ozo1SuQEEnkNxeYmMjQzpuEH1TyI9JLHnljwr%2BdPM%3D"


class StepClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_known_answer_pinned() -> None:
    token = generate_sas_token(
        "https://Contoso.servicebus.windows.net/MyHub", KEY_NAME, KEY, EXPIRY
    )

    assert token == (
        "SharedAccessSignature "
        "sr=https%3A%2F%2Fcontoso.servicebus.windows.net%2Fmyhub"
        f"&sig={PINNED_SIGNATURE}&se=1700003600&skn=DefaultFullSharedAccessSignature"
    )


def test_known_answer_recomputed_step_by_step() -> None:
    # Spec §1.3, one step per line: lower-case, percent-encode, sign the encoded
    # resource, newline, expiry; key as UTF-8 bytes; base64; percent-encode.
    resource = "https://contoso.servicebus.windows.net/myhub"
    encoded_resource = "https%3A%2F%2Fcontoso.servicebus.windows.net%2Fmyhub"
    string_to_sign = encoded_resource + "\n" + "1700003600"
    digest = hmac.new(
        KEY.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).digest()
    signature = base64.b64encode(digest).decode("ascii")
    encoded_signature = (
        signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    )

    assert encoded_signature == PINNED_SIGNATURE
    assert generate_sas_token(resource, KEY_NAME, KEY, EXPIRY) == (
        f"SharedAccessSignature sr={encoded_resource}&sig={encoded_signature}"
        f"&se=1700003600&skn={KEY_NAME}"
    )


def test_key_is_used_as_text_not_base64_decoded() -> None:
    token = generate_sas_token(HUB_URL, KEY_NAME, KEY, EXPIRY)
    wrong = hmac.new(
        base64.b64decode(KEY),
        b"https%3A%2F%2Fcontoso.servicebus.windows.net%2Fmyhub\n1700003600",
        hashlib.sha256,
    ).digest()

    assert quote(base64.b64encode(wrong).decode(), safe="") not in token


@pytest.mark.parametrize(
    ("key_name", "key"),
    [
        pytest.param(KEY_NAME, KEY, id="portal-like"),
        pytest.param("my rule&co", KEY, id="key-name-needing-encoding"),
        pytest.param(KEY_NAME, "k\u00e9y-with-non-ascii", id="non-ascii-key"),
        pytest.param(KEY_NAME, "a+b/c==", id="key-with-base64-symbols"),
    ],
)
def test_service_side_verifier_accepts_our_tokens(key_name: str, key: str) -> None:
    token = generate_sas_token(HUB_URL, key_name, key, EXPIRY)

    verified = verify_sas_token(
        token,
        key_name=key_name,
        key=key,
        request_url=f"{HUB_URL}/messages/?api-version=2020-06&test",
        now=EXPIRY - 1,
    )

    assert verified.resource == HUB_URL
    assert verified.key_name == key_name
    assert verified.expires_at == EXPIRY


@pytest.mark.parametrize(
    "request_url",
    [
        pytest.param(f"{HUB_URL}/messages/?api-version=2020-06", id="send"),
        pytest.param(f"{HUB_URL}/messages/$batch?direct", id="batch"),
        pytest.param(f"{HUB_URL}/installations/abc", id="installation"),
        pytest.param(f"{HUB_URL}?api-version=2020-06", id="hub-itself-with-query"),
        pytest.param(HUB_URL.upper(), id="other-case"),
        pytest.param("http://contoso.servicebus.windows.net/myhub/x", id="http"),
        pytest.param("sb://contoso.servicebus.windows.net/myhub/x", id="sb"),
    ],
)
def test_one_hub_token_covers_every_operation_on_the_hub(request_url: str) -> None:
    token = generate_sas_token(HUB_URL, KEY_NAME, KEY, EXPIRY)

    verify_sas_token(token, key_name=KEY_NAME, key=KEY, request_url=request_url, now=0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"key": "other-key"}, "signature", id="wrong-key"),
        pytest.param({"key_name": "Listen"}, "another key", id="wrong-key-name"),
        pytest.param({"now": EXPIRY}, "expired", id="expires-at-now"),
        pytest.param({"now": EXPIRY + 1}, "expired", id="expired"),
        pytest.param(
            {"request_url": "https://contoso.servicebus.windows.net/myhub2/messages"},
            "cover",
            id="hub-sharing-a-prefix",
        ),
        pytest.param(
            {"request_url": "https://fabrikam.servicebus.windows.net/myhub"},
            "cover",
            id="other-namespace",
        ),
    ],
)
def test_service_side_verifier_refuses(change: dict[str, object], reason: str) -> None:
    arguments: dict[str, object] = {
        "key_name": KEY_NAME,
        "key": KEY,
        "request_url": f"{HUB_URL}/messages/",
        "now": EXPIRY - 1,
        **change,
    }
    token = generate_sas_token(HUB_URL, KEY_NAME, KEY, EXPIRY)

    with pytest.raises(SasVerificationError, match=reason):
        verify_sas_token(token, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("se=1700003600", "se=1700007200", id="extended-expiry"),
        pytest.param("myhub&", "otherhub&", id="other-resource"),
        pytest.param("sig=y3", "sig=z3", id="altered-signature"),
    ],
)
def test_tampered_tokens_fail(old: str, new: str) -> None:
    token = generate_sas_token(HUB_URL, KEY_NAME, KEY, EXPIRY).replace(old, new)

    with pytest.raises(SasVerificationError, match="signature"):
        verify_sas_token(token, key_name=KEY_NAME, key=KEY, request_url=HUB_URL, now=0)


def test_verifier_takes_fields_in_any_order_and_lower_case_hex() -> None:
    # The Python sample's field order and .NET's lower-case percent-encoding,
    # built here without the library: the service signs `sr` exactly as sent.
    sr = "https%3a%2f%2fcontoso.servicebus.windows.net%2fmyhub"
    digest = hmac.new(KEY.encode(), f"{sr}\n{EXPIRY}".encode(), hashlib.sha256).digest()
    sig = re.sub(
        "%[0-9A-F]{2}",
        lambda escape: escape.group().lower(),
        quote(base64.b64encode(digest).decode(), safe=""),
    )
    assert "%2b" in sig or "%2f" in sig or "%3d" in sig
    token = f"SharedAccessSignature sig={sig}&se={EXPIRY}&skn={KEY_NAME}&sr={sr}"

    verified = verify_sas_token(
        token, key_name=KEY_NAME, key=KEY, request_url=f"{HUB_URL}/messages", now=0
    )

    assert verified.resource == HUB_URL


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("Bearer abc", id="other-scheme"),
        pytest.param("SharedAccessSignature sr=a&sig=b&se=1", id="missing-skn"),
        pytest.param(
            "SharedAccessSignature sr=a&sr=a&sig=b&se=1&skn=n", id="repeated-field"
        ),
    ],
)
def test_verifier_refuses_malformed_tokens(token: str) -> None:
    with pytest.raises(SasVerificationError):
        verify_sas_token(token, key_name="n", key="k", request_url="a", now=0)


@pytest.mark.parametrize(
    ("resource", "url", "expected"),
    [
        pytest.param("https://ns/hub", "https://ns/hub", True, id="same"),
        pytest.param("https://ns/hub", "https://ns/hub/messages", True, id="below"),
        pytest.param("https://ns/", "https://ns/hub/messages", True, id="namespace"),
        pytest.param("sb://ns/hub", "https://ns/hub/x", True, id="scheme-ignored"),
        pytest.param("https://ns/hub", "https://ns/hubs", False, id="sibling"),
        pytest.param("https://ns/hub/x", "https://ns/hub", False, id="above"),
    ],
)
def test_verifier_prefix_rule(resource: str, url: str, expected: bool) -> None:
    assert covers(resource, url) is expected


def test_provider_mints_one_token_per_lifetime() -> None:
    clock = StepClock(1_000.0)
    provider = SasTokenProvider(
        HUB_URL, KEY_NAME, KEY, ttl=3600, refresh_margin=300, clock=clock
    )

    first = provider.token()

    assert provider.expires_at == 4_600
    assert "&se=4600&" in first
    verify_sas_token(first, key_name=KEY_NAME, key=KEY, request_url=HUB_URL, now=1e3)

    # More than the margin left: the cached token, the very same string.
    clock.now = 4_600 - 300 - 0.001
    assert provider.token() is first

    # The margin reached: a fresh token that again lives exactly ttl seconds.
    clock.now = 4_600 - 300
    second = provider.token()
    assert second != first
    assert provider.expires_at == 4_300 + 3600
    verify_sas_token(
        second, key_name=KEY_NAME, key=KEY, request_url=HUB_URL, now=clock.now
    )
    assert provider.token() is second


def test_provider_expiry_is_whole_seconds_from_a_fractional_clock() -> None:
    provider = SasTokenProvider(
        HUB_URL, KEY_NAME, KEY, ttl=3600, clock=StepClock(1_000.75)
    )

    assert "&se=4600&" in provider.token()
    assert provider.expires_at == 4_600


def test_provider_refreshes_after_the_clock_jumps_past_expiry() -> None:
    clock = StepClock(0.0)
    provider = SasTokenProvider(
        HUB_URL, KEY_NAME, KEY, ttl=60, refresh_margin=10, clock=clock
    )
    first = provider.token()

    clock.now = 10_000.0
    later = provider.token()

    assert later != first
    verify_sas_token(later, key_name=KEY_NAME, key=KEY, request_url=HUB_URL, now=1e4)


def test_provider_defaults_are_one_hour_and_five_minutes() -> None:
    clock = StepClock(0.0)
    provider = SasTokenProvider(HUB_URL, KEY_NAME, KEY, clock=clock)
    first = provider.token()

    assert provider.expires_at == 3600
    clock.now = 3600 - 300 - 1
    assert provider.token() is first
    clock.now = 3600 - 300
    assert provider.token() is not first


@pytest.mark.parametrize(
    ("ttl", "margin"),
    [
        pytest.param(300, 300, id="ttl-equal-to-margin"),
        pytest.param(100, 300, id="ttl-below-margin"),
        pytest.param(0, 0, id="zero-ttl"),
        pytest.param(-1, 0, id="negative-ttl"),
        pytest.param(3600, -1, id="negative-margin"),
    ],
)
def test_provider_refuses_a_lifetime_not_above_the_margin(
    ttl: float, margin: float
) -> None:
    with pytest.raises(ValueError, match="ttl"):
        SasTokenProvider(HUB_URL, KEY_NAME, KEY, ttl=ttl, refresh_margin=margin)


def test_provider_repr_hides_the_key_and_token() -> None:
    provider = SasTokenProvider(HUB_URL, KEY_NAME, "s3cret-key", clock=StepClock(0))
    token = provider.token()
    signature = token.split("sig=")[1].split("&")[0]

    for text in (repr(provider), str(provider)):
        assert "s3cret-key" not in text
        assert signature not in text
        assert HUB_URL in text


@pytest.mark.asyncio
async def test_ten_thousand_concurrent_callers_share_one_mint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    minted: list[str] = []
    real_generate = auth.generate_sas_token

    def counting_generate(
        resource_uri: str, key_name: str, key: str, expires_at: int
    ) -> str:
        token = real_generate(resource_uri, key_name, key, expires_at)
        minted.append(token)
        return token

    monkeypatch.setattr(auth, "generate_sas_token", counting_generate)
    provider = SasTokenProvider(HUB_URL, KEY_NAME, KEY, clock=StepClock(0.0))

    async def caller() -> str:
        await asyncio.sleep(0)
        return provider.token()

    tokens = await asyncio.gather(*(caller() for _ in range(10_000)))

    assert len(minted) == 1
    assert set(tokens) == {minted[0]}
