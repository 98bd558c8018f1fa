"""
The `notifhub` command.

    notifhub send --format F --payload P [--tags EXPR | --device-handle H] ...
    notifhub send-many --input FILE|- [--concurrency N] [--output FILE] ...
    notifhub emulator [--port N] [--hub NAME ...]   run the local emulator
    notifhub --version

`send` and `send-many` take the connection options of `HubOptions`; docs/cli.md
describes the commands, their input and output, and their exit statuses.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import anyio

from ._cli_common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandParser,
    HubOptions,
    UsageError,
    add_connection_options,
    report_error,
)
from ._cli_send_many import SendManyOptions, add_send_many_parser, run_send_many
from ._client import AsyncNotificationHub
from ._errors import NotificationHubError
from ._models import SendResult
from ._notification import Notification, NotificationFormat
from ._version import __version__

__all__ = ["main", "send_result_json"]

# Formats whose payloads are XML (or any bytes, for wns/raw); all others are JSON.
_NOT_JSON_FORMATS = frozenset(
    {NotificationFormat.WINDOWS, NotificationFormat.WINDOWS_PHONE}
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["emulator"]:
        return _emulator(arguments[1:])

    parser = _parser()
    try:
        namespace = parser.parse_args(arguments)
    except SystemExit as exit_request:
        # --help, --version or a usage error: argparse has said what it had to.
        code = exit_request.code
        return code if isinstance(code, int) else EXIT_USAGE

    try:
        if namespace.command == "send":
            return _send(namespace)

        if namespace.command == "send-many":
            return run_send_many(
                HubOptions.from_arguments(namespace),
                SendManyOptions.from_arguments(namespace),
            )
    except UsageError as error:
        report_error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Ctrl-C while no handler of ours listens (during `send`, or a second one).
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

    parser.print_help()
    return EXIT_USAGE


# -- notifhub send ---------------------------------------------------------------------


def _send(arguments: argparse.Namespace) -> int:
    if arguments.test and arguments.device_handle is not None:
        raise UsageError("--test cannot be used with --device-handle")

    if arguments.tags is not None and not arguments.tags.strip():
        # "" means a broadcast to the library; an empty variable must not do that.
        raise UsageError("--tags is empty: leave it out to broadcast")

    notification = _notification(arguments)
    hub = HubOptions.from_arguments(arguments).build(debug=arguments.debug)
    try:
        result = anyio.run(_send_one, hub, notification, arguments)
    except NotificationHubError as error:
        report_error(_describe_failure(error))
        # A ValueError without a status was refused before any I/O: bad input.
        refused_locally = isinstance(error, ValueError) and error.status_code is None
        return EXIT_USAGE if refused_locally else EXIT_FAILED

    document = send_result_json(result, include_handles=arguments.debug)
    print(json.dumps(document, indent=2))
    return EXIT_OK


async def _send_one(
    hub: AsyncNotificationHub,
    notification: Notification,
    arguments: argparse.Namespace,
) -> SendResult:
    async with hub:
        if arguments.device_handle is not None:
            return await hub.send_direct_notification(
                notification, arguments.device_handle
            )

        return await hub.send_notification(
            notification, arguments.tags, test_send=arguments.test
        )


def _notification(arguments: argparse.Namespace) -> Notification:
    try:
        notification_format = NotificationFormat.parse(arguments.format)
    except NotificationHubError as error:
        raise UsageError(str(error)) from error

    payload = _read_payload(arguments.payload)
    if notification_format not in _NOT_JSON_FORMATS:
        # Sent as written, but checked: the service would only answer 400.
        try:
            json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise UsageError(
                f"--payload is not valid JSON, as {notification_format.value} "
                f"payloads must be: {error}"
            ) from error

    try:
        return Notification(notification_format, payload, dict(arguments.header))
    except NotificationHubError as error:
        raise UsageError(str(error)) from error


def _read_payload(value: str) -> str:
    if value == "-":
        return sys.stdin.read()

    if not value.startswith("@"):
        return value

    path = value[1:]
    try:
        with open(path, encoding="utf-8-sig") as payload_file:
            return payload_file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the payload file {path}: {error}") from error


def send_result_json(result: SendResult, *, include_handles: bool) -> dict[str, Any]:
    """A `SendResult` as JSON; device handles only when asked for (personal data)."""
    outcome: dict[str, Any] | None = None
    if result.outcome is not None:
        registrations = []
        for registration in result.outcome.results:
            entry = {
                "platform": registration.platform,
                "registration_id": registration.registration_id,
                "outcome": registration.outcome,
            }
            if include_handles:
                entry["pns_handle"] = registration.pns_handle

            registrations.append(entry)

        outcome = {
            "success": result.outcome.success,
            "failure": result.outcome.failure,
            "results": registrations,
        }

    return {
        "status_code": result.status_code,
        "notification_id": result.notification_id,
        "tracking_id": result.tracking_id,
        "correlation_id": result.correlation_id,
        "location": result.location,
        "outcome": outcome,
    }


def _describe_failure(error: NotificationHubError) -> str:
    if error.fate_unknown:
        return f"{error} (the hub may have accepted it; it was not resent)"

    return str(error)


# -- the parser ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="notifhub", description="Tools for Azure Notification Hubs."
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_send_parser(commands)
    add_send_many_parser(commands)
    # Listed for --help only: main() hands `emulator` over before parsing.
    commands.add_parser(
        "emulator",
        help="run the local Notification Hubs emulator over HTTPS",
        add_help=False,
    )
    return parser


def _add_send_parser(
    commands: argparse._SubParsersAction[CommandParser],
) -> None:
    send = commands.add_parser(
        "send",
        help="send one notification",
        description="Send one notification and print the service's answer as JSON.",
    )
    send.add_argument(
        "--format",
        required=True,
        help="the platform format: "
        + ", ".join(member.value for member in NotificationFormat),
    )
    send.add_argument(
        "--payload",
        required=True,
        metavar="TEXT|@FILE|-",
        help="the payload as text, @FILE to read a file, or - to read stdin",
    )
    audience = send.add_mutually_exclusive_group()
    audience.add_argument(
        "--tags",
        metavar="EXPR",
        help="a tag or tag expression, such as 'sports && !news' (default: every "
        "device)",
    )
    audience.add_argument(
        "--device-handle", metavar="HANDLE", help="send to this device handle only"
    )
    send.add_argument(
        "--header",
        action="append",
        type=_header,
        default=[],
        metavar="NAME:VALUE",
        help="a platform header, such as apns-priority:5 (repeatable)",
    )
    send.add_argument(
        "--test",
        action="store_true",
        help="a test send: the answer lists the outcome per device (at most 10)",
    )
    send.add_argument(
        "--debug",
        action="store_true",
        help="a test send; also dump each request and response on stderr (the "
        "token redacted) and show device handles in the outcome",
    )
    add_connection_options(send)


def _header(text: str) -> tuple[str, str]:
    name, separator, value = text.partition(":")
    if not separator or not name.strip():
        raise argparse.ArgumentTypeError("a header is NAME:VALUE")

    return name.strip(), value.strip()


def _emulator(arguments: list[str]) -> int:
    try:
        from .emulator.__main__ import main as emulator_main
    except ImportError:
        report_error(
            "notifhub emulator needs the extra: pip install 'notifhub-async[emulator]'"
        )
        return EXIT_USAGE

    return emulator_main(arguments, prog="notifhub emulator")


if __name__ == "__main__":
    sys.exit(main())
