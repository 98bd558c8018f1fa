"""
The emulator's configuration: hubs, their access rules, faults and limits.

Everything is a frozen dataclass so that one configuration can start many emulators
(each gets its own state). Keys are random unless given.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, get_args

__all__ = [
    "FULL_RULE_NAME",
    "LISTEN_RULE_NAME",
    "AccessRule",
    "EmulatorConfig",
    "FaultKind",
    "FaultRule",
    "HubConfig",
    "Right",
]

Right: TypeAlias = Literal["Listen", "Send", "Manage"]
FaultKind: TypeAlias = Literal[
    "throttle",
    "throttle-403",
    "unavailable",
    "server-error",
    "server-error-after",
    "latency",
    "reset-before",
    "reset-after",
]

# The two policies the portal creates on every new hub (wire spec §1.1).
FULL_RULE_NAME = "DefaultFullSharedAccessSignature"
LISTEN_RULE_NAME = "DefaultListenSharedAccessSignature"

_RIGHTS: frozenset[str] = frozenset(get_args(Right))
_FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))


def generate_key() -> str:
    """Return a random key shaped like the portal's (base64 of 32 bytes)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True, slots=True)
class AccessRule:
    """
    A shared access policy: a name, its key and the rights it grants.

    `Manage` implies `Send` and `Listen`, as on the service (a Manage policy always
    holds the other two rights).
    """

    name: str
    key: str = field(repr=False)
    rights: frozenset[str]

    def __post_init__(self) -> None:
        if not self.name or not self.key:
            raise ValueError("an access rule needs a name and a key")

        unknown = set(self.rights) - _RIGHTS
        if unknown:
            raise ValueError(f"unknown rights {sorted(unknown)}; use {sorted(_RIGHTS)}")

    @classmethod
    def generate(cls, name: str, rights: frozenset[str] | set[str]) -> AccessRule:
        """Make a rule with a fresh random key."""
        return cls(name=name, key=generate_key(), rights=frozenset(rights))

    def grants(self, right: Right) -> bool:
        """Whether this rule allows an operation that needs `right`."""
        return right in self.rights or "Manage" in self.rights


@dataclass(frozen=True, slots=True)
class HubConfig:
    """One notification hub and the access rules defined on it."""

    name: str
    rules: tuple[AccessRule, ...]

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError("a hub name must be non-empty and contain no '/'")

        names = [rule.name for rule in self.rules]
        if len(names) != len(set(names)):
            raise ValueError(f"hub {self.name!r} has two rules with the same name")

    @classmethod
    def default(cls, name: str) -> HubConfig:
        """A hub with the portal's two default rules (Full and Listen-only)."""
        return cls(
            name=name,
            rules=(
                AccessRule.generate(FULL_RULE_NAME, {"Listen", "Send", "Manage"}),
                AccessRule.generate(LISTEN_RULE_NAME, {"Listen"}),
            ),
        )

    def rule(self, name: str) -> AccessRule | None:
        """The rule called `name`, or None."""
        for rule in self.rules:
            if rule.name == name:
                return rule

        return None


@dataclass(frozen=True, slots=True)
class FaultRule:
    """
    A fault the emulator injects into Notification Hubs API requests.

    Attributes:
        kind: "throttle" (429), "throttle-403" (403 with Retry-After, the legacy
            throttling answer), "unavailable" (503), "server-error" (500 without
            acting), "server-error-after" (act on the request, then answer 500: a
            send that was delivered although the client saw an error), "latency"
            (wait, then answer normally), "reset-before" (drop the connection before
            reading the request) or "reset-after" (read and act on the request, then
            drop the connection instead of answering).
        probability: chance that a matching request triggers the fault, drawn from
            the emulator's seeded random generator.
        count: fire at most this many times (None: no limit).
        retry_after: seconds for the Retry-After header; throttle kinds default to
            1 second, 503 sends the header only when this is set.
        latency: seconds to wait, for "latency".
        path: only requests whose path contains this string.
    """

    kind: FaultKind
    probability: float = 1.0
    count: int | None = None
    retry_after: float | None = None
    latency: float = 0.0
    path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; use one of {sorted(_FAULT_KINDS)}"
            )

        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")

        if self.count is not None and self.count < 0:
            raise ValueError("count must not be negative")

        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")

        if self.latency < 0:
            raise ValueError("latency must not be negative")


def _default_hubs() -> tuple[HubConfig, ...]:
    return (HubConfig.default("myhub"),)


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """
    Everything an emulator starts with.

    Attributes:
        hubs: the hubs it serves (default: one hub `myhub` with the default rules).
        seed: seeds the generator behind fault probabilities and generated ids.
        faults: faults active from the start (more can be added at run time).
        max_outcome_results: how many devices a test send reaches and reports
            (the service's limit is 10).
    """

    hubs: tuple[HubConfig, ...] = field(default_factory=_default_hubs)
    seed: int = 0
    faults: tuple[FaultRule, ...] = ()
    max_outcome_results: int = 10

    def __post_init__(self) -> None:
        if not self.hubs:
            raise ValueError("the emulator needs at least one hub")

        names = [hub.name.lower() for hub in self.hubs]
        if len(names) != len(set(names)):
            raise ValueError("two hubs have the same name")

        if self.max_outcome_results < 0:
            raise ValueError("max_outcome_results must not be negative")

    def hub(self, name: str) -> HubConfig | None:
        """The hub called `name` (hub names are case-insensitive), or None."""
        for hub in self.hubs:
            if hub.name.lower() == name.lower():
                return hub

        return None
