"""
The `notifhub` command.

    notifhub emulator [--port N] [--hub NAME ...]   run the local emulator
    notifhub --version
"""

from __future__ import annotations

import argparse
import sys

from ._version import __version__

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="notifhub", description="Tools for Azure Notification Hubs."
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "emulator",
        help="run the local Notification Hubs emulator over HTTPS",
        add_help=False,
    )
    known, rest = parser.parse_known_args(arguments)
    if known.command == "emulator":
        try:
            from .emulator.__main__ import main as emulator_main
        except ImportError:
            print(
                "notifhub emulator needs the extra: pip install "
                "'notifhub-async[emulator]'",
                file=sys.stderr,
            )
            return 2

        return emulator_main(rest)

    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
