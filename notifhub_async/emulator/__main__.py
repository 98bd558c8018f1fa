"""
`python -m notifhub_async.emulator`: run the emulator on loopback HTTPS until Ctrl-C.

It prints the endpoint, each hub's connection strings (Full and Listen-only) and the
CA certificate to trust, then serves until SIGINT or SIGTERM and exits 0.
`notifhub emulator` runs the same `main`.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

import anyio

from ._app import Emulator
from ._config import (
    FULL_RULE_NAME,
    LISTEN_RULE_NAME,
    EmulatorConfig,
    FaultKind,
    FaultRule,
    HubConfig,
)
from ._server import DEFAULT_HOST, EmulatorServer

__all__ = ["main"]

# How to read each `--fault` setting; the names are FaultRule's fields.
_FAULT_SETTINGS: dict[str, Callable[[str], Any]] = {
    "probability": float,
    "count": int,
    "retry_after": float,
    "latency": float,
    "path": str,
}


def main(
    argv: Sequence[str] | None = None, prog: str = "python -m notifhub_async.emulator"
) -> int:
    """
    Run the emulator in the foreground; return the process exit status.

    Args:
        argv: the command-line arguments without the program name (default:
            `sys.argv[1:]`).
        prog: the command's name in usage and error messages.
    """
    parser = _parser(prog)
    arguments = parser.parse_args(argv)
    faults: list[FaultRule] = list(arguments.fault or ())
    try:
        if arguments.latency is not None:
            faults.append(FaultRule("latency", latency=arguments.latency))

        config = EmulatorConfig(
            hubs=tuple(HubConfig.default(name) for name in arguments.hub or ["myhub"]),
            seed=arguments.seed,
            faults=tuple(faults),
        )
        server = EmulatorServer(
            Emulator(config),
            host=arguments.host,
            port=arguments.port,
            certfile=arguments.cert,
            keyfile=arguments.key,
            ca_dir=arguments.ca_dir,
        )
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2, like any usage error

    if not _is_loopback(arguments.host):
        print(
            f"warning: {arguments.host} is not a loopback address; anyone who can "
            "reach it can read the records and inject faults through /_emulator/",
            file=sys.stderr,
        )

    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot serve on {_address(arguments)}: {exc}", file=sys.stderr)
        return 1

    try:
        anyio.run(_announce_and_wait, server)
    finally:
        server.stop()

    print("Emulator stopped.", flush=True)
    return 0


async def _announce_and_wait(server: EmulatorServer) -> None:
    # Listen for signals before announcing anything, so that a signal sent the
    # moment the connection strings appear already finds its handler.
    # TODO: Windows lacks asyncio signal handlers, so Ctrl-C there ends in a traceback
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        _announce(server)
        async for _ in signals:
            return


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(arguments: argparse.Namespace) -> str:
    return f"{arguments.host}:{arguments.port}"


def _announce(server: EmulatorServer) -> None:
    print(f"Notification Hubs emulator listening on {server.endpoint}")
    print(f"CA certificate: {server.ca_path}")
    for hub in server.emulator.config.hubs:
        print(f"Hub {hub.name}:")
        for label, rule in (("Full:  ", FULL_RULE_NAME), ("Listen:", LISTEN_RULE_NAME)):
            print(f"  {label} {server.connection_string(hub.name, rule)}")

    print("Press Ctrl-C to stop.", flush=True)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A local Azure Notification Hubs emulator on HTTPS, for tests.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (0: any free port)"
    )
    parser.add_argument(
        "--hub",
        action="append",
        metavar="NAME",
        help="a hub to serve; repeat for more (default: myhub)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for fault probabilities and ids"
    )
    parser.add_argument("--cert", help="your own server certificate (PEM)")
    parser.add_argument("--key", help="the private key of --cert (PEM)")
    parser.add_argument(
        "--ca-dir",
        help="write the generated CA and certificate here (default: a temporary "
        "directory removed on exit)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        type=_fault,
        metavar="KIND[,name=value...]",
        help="inject a fault, for example 'throttle,probability=0.1,retry_after=2' "
        "or 'latency,latency=0.05'; kinds: throttle, throttle-403, unavailable, "
        "server-error, server-error-after, latency, reset-before, reset-after",
    )
    parser.add_argument(
        "--latency",
        type=float,
        metavar="SECONDS",
        help="add this delay to every request (same as --fault latency,latency=S)",
    )
    return parser


def _fault(text: str) -> FaultRule:
    kind, *settings = (part.strip() for part in text.split(","))
    values: dict[str, Any] = {}
    try:
        for setting in settings:
            name, separator, value = setting.partition("=")
            if not separator or name not in _FAULT_SETTINGS:
                raise ValueError(
                    f"{setting!r}: use name=value with a name among "
                    f"{', '.join(sorted(_FAULT_SETTINGS))}"
                )

            values[name] = _FAULT_SETTINGS[name](value)

        # FaultRule checks the kind and the values.
        return FaultRule(cast(FaultKind, kind), **values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


if __name__ == "__main__":
    sys.exit(main())
