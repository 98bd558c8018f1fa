"""
What the `notifhub` commands share: exit statuses, connection options, usage errors.
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
from dataclasses import dataclass, field
from typing import NoReturn, cast

from ._client import DEFAULT_MAX_CONNECTIONS, AsyncNotificationHub, Transport
from ._errors import NotificationHubError

__all__ = [
    "CONNECTION_STRING_VARIABLE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HUB_VARIABLE",
    "CommandParser",
    "HubOptions",
    "UsageError",
    "add_connection_options",
    "positive_integer",
    "report_error",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# What a shell reports for a process ended by SIGINT (Ctrl-C): 128 + 2.
EXIT_INTERRUPTED = 130

CONNECTION_STRING_VARIABLE = "NOTIFHUB_CONNECTION_STRING"
HUB_VARIABLE = "NOTIFHUB_HUB"

# argparse echoes what it cannot place ("unrecognized arguments: ..."), and a
# mistyped option may carry a connection string or a SAS token: blank their secrets.
_SECRET_IN_TEXT = re.compile(r"(?i)((?:SharedAccessKey|sig)\s*=\s*)[^;&\s'\"]*")


class UsageError(Exception):
    """A problem with the command line or its input: one line on stderr, status 2."""


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose error messages never show a key or a signature."""

    def error(self, message: str) -> NoReturn:
        super().error(redact(message))


@dataclass(frozen=True, slots=True)
class HubOptions:
    """The connection options of `send` and `send-many`."""

    connection_string: str = field(repr=False)
    hub_name: str | None
    ca_file: str | None
    transport: Transport
    max_connections: int

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> HubOptions:
        """
        Read the options, defaulting to the environment.

        Raises:
            UsageError: no connection string at all.
        """
        connection_string = arguments.connection_string or os.environ.get(
            CONNECTION_STRING_VARIABLE
        )
        if not connection_string:
            raise UsageError(
                "no connection string: pass --connection-string or set "
                f"{CONNECTION_STRING_VARIABLE}"
            )

        return cls(
            connection_string=connection_string,
            hub_name=arguments.hub or os.environ.get(HUB_VARIABLE) or None,
            ca_file=arguments.ca_file,
            transport=cast(Transport, arguments.transport),
            max_connections=arguments.max_connections,
        )

    def build(self, debug: bool = False) -> AsyncNotificationHub:
        """
        The hub these options describe.

        Raises:
            UsageError: an unusable connection string, hub name, CA file or
                transport; the library's messages never hold the key.
        """
        verify: ssl.SSLContext | bool = True
        if self.ca_file is not None:
            verify = _trusting(self.ca_file)

        try:
            return AsyncNotificationHub(
                self.connection_string,
                self.hub_name,
                debug,
                max_connections=self.max_connections,
                verify=verify,
                transport=self.transport,
            )
        except (NotificationHubError, ImportError) as error:
            raise UsageError(str(error)) from error


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that `HubOptions.from_arguments` reads."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--connection-string",
        metavar="TEXT",
        help=f"the hub's connection string (default: ${CONNECTION_STRING_VARIABLE}, "
        "which, unlike an argument, other users cannot see in the process list)",
    )
    group.add_argument(
        "--hub",
        metavar="NAME",
        help=f"the hub (default: ${HUB_VARIABLE}, else the connection string's "
        "EntityPath)",
    )
    group.add_argument(
        "--ca-file",
        metavar="PEM",
        help="also trust this CA certificate, such as the emulator's",
    )
    group.add_argument(
        "--transport",
        choices=["httpx", "aiohttp"],
        default="httpx",
        help="the HTTP transport (default: httpx; aiohttp needs the "
        "notifhub-async[aiohttp] extra)",
    )
    group.add_argument(
        "--max-connections",
        type=positive_integer,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="connections to the hub, and so requests in flight at once "
        f"(default: {DEFAULT_MAX_CONNECTIONS})",
    )


def positive_integer(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None

    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")

    return value


def report_error(message: str) -> None:
    """Write one `notifhub: error: ...` line on stderr."""
    one_line = " ".join(redact(message).split())
    sys.stderr.write(f"notifhub: error: {one_line}\n")
    sys.stderr.flush()


def redact(text: str) -> str:
    """`text` with the values of `SharedAccessKey=` and `sig=` blanked out."""
    return _SECRET_IN_TEXT.sub(r"\1[redacted]", text)


def _trusting(ca_file: str) -> ssl.SSLContext:
    # The system's CAs plus this one, so that the same options also reach Azure.
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"cannot use --ca-file {ca_file}: {error}") from error

    return context
