"""
Fault injection: which fault, if any, a request meets.

Rules are tried in the order they were added. Every rule whose `path` matches draws
one number from the emulator's seeded generator, so a given seed and a given sequence
of requests always produce the same faults. All firing "latency" rules add up; of the
other kinds the first that fires wins. A rule with a `count` stops after firing that
many times.

Resets are raised as `ConnectionReset`. Through `httpx.ASGITransport` the exception
reaches the client unchanged, and because it is an `httpx.RemoteProtocolError` the
client sees what a dropped connection looks like over TCP. A real server must catch
it and close the socket without answering (`EmulatorServer` does).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import httpx

from ._config import FaultRule

__all__ = [
    "ConnectionReset",
    "FaultDecision",
    "FaultInjector",
    "fault_rule_from_json",
    "fault_rule_to_json",
]

# What a throttle fault advertises when its rule gives no Retry-After.
DEFAULT_THROTTLE_RETRY_AFTER = 1.0


class ConnectionReset(httpx.RemoteProtocolError):
    """
    The emulator drops the connection instead of answering.

    Attributes:
        before_read: True when the request body was never read (and nothing was
            done); False when the request was read and acted upon, and only the
            answer is lost.
    """

    def __init__(self, before_read: bool) -> None:
        when = "before reading the request" if before_read else "after acting on it"
        super().__init__(f"the emulator reset the connection {when}")
        self.before_read = before_read


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: wait `latency` seconds, then apply `fault`."""

    latency: float = 0.0
    fault: FaultRule | None = None


@dataclass(slots=True)
class _ActiveRule:
    rule: FaultRule
    remaining: int | None


class FaultInjector:
    """The active fault rules and the seeded generator; safe across threads."""

    def __init__(self, seed: int, rules: Iterable[FaultRule] = ()) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: list[_ActiveRule] = []
        for rule in rules:
            self.add(rule)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules that may still fire."""
        with self._lock:
            return tuple(active.rule for active in self._rules)

    def add(self, rule: FaultRule) -> None:
        """Activate `rule` after the existing ones."""
        with self._lock:
            self._rules.append(_ActiveRule(rule, rule.count))

    def clear(self) -> None:
        """Deactivate every rule."""
        with self._lock:
            self._rules.clear()

    def decide(self, path: str) -> FaultDecision:
        """Draw the faults for a request to `path`, counting the ones that fire."""
        latency = 0.0
        chosen: FaultRule | None = None
        with self._lock:
            for active in self._rules:
                rule = active.rule
                if active.remaining == 0:
                    continue

                if rule.path is not None and rule.path not in path:
                    continue

                if chosen is not None and rule.kind != "latency":
                    continue

                if self._random.random() >= rule.probability:
                    continue

                if active.remaining is not None:
                    active.remaining -= 1

                if rule.kind == "latency":
                    latency += rule.latency
                else:
                    chosen = rule

            self._rules = [
                active
                for active in self._rules
                if active.remaining is None or active.remaining > 0
            ]

        return FaultDecision(latency=latency, fault=chosen)


def fault_rule_from_json(document: Mapping[str, Any]) -> FaultRule:
    """
    Build a rule from the JSON object posted to `/_emulator/faults`.

    Raises:
        ValueError: unknown fields, wrong types or values out of range.
    """
    known = {field.name for field in fields(FaultRule)}
    unknown = set(document) - known
    if unknown:
        raise ValueError(f"unknown fault fields {sorted(unknown)}")

    kind = document.get("kind")
    if not isinstance(kind, str):
        raise ValueError("a fault needs a string 'kind'")

    return FaultRule(
        kind=kind,  # type: ignore[arg-type]  # checked by FaultRule itself
        probability=_number(document, "probability", 1.0),
        count=_optional_integer(document, "count"),
        retry_after=_optional_number(document, "retry_after"),
        latency=_number(document, "latency", 0.0),
        path=_optional_string(document, "path"),
    )


def fault_rule_to_json(rule: FaultRule) -> dict[str, Any]:
    """The JSON form of a rule, as `/_emulator/faults` lists it."""
    return {field.name: getattr(rule, field.name) for field in fields(FaultRule)}


def _number(document: Mapping[str, Any], name: str, default: float) -> float:
    value = _optional_number(document, name)
    return default if value is None else value


def _optional_number(document: Mapping[str, Any], name: str) -> float | None:
    value = document.get(name)
    if value is None:
        return None

    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"fault field '{name}' must be a number")

    return float(value)


def _optional_integer(document: Mapping[str, Any], name: str) -> int | None:
    value = document.get(name)
    if value is None:
        return None

    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"fault field '{name}' must be an integer")

    return value


def _optional_string(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None or isinstance(value, str):
        return value

    raise ValueError(f"fault field '{name}' must be a string")
