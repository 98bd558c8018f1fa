"""A base for enums whose values are the service's wire names."""

from __future__ import annotations

import enum
from typing import TypeVar

from ._errors import InvalidNotificationError

__all__ = ["WireName"]

_Member = TypeVar("_Member", bound="WireName")


class WireName(str, enum.Enum):
    """A str enum of wire names, parsed from any case and printed as the wire name."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _describe(cls) -> str:
        return cls.__name__

    @classmethod
    def parse(cls: type[_Member], value: _Member | str) -> _Member:
        """
        Accept a member or its wire name in any case (`fcmV1` is `fcmv1`).

        Raises:
            InvalidNotificationError: not one of the members, naming the value and
                the accepted names.
        """
        if isinstance(value, cls):
            return value

        if isinstance(value, str):
            wanted = value.strip().lower()
            for member in cls:
                if member.value == wanted:
                    return member

        known = ", ".join(member.value for member in cls)
        raise InvalidNotificationError(
            f"unknown {cls._describe()} {value!r}; use one of: {known}"
        )
