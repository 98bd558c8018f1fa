"""
Loggers and the `debug=True` dump.

Library logs go to `notifhub_async` (DEBUG per attempt, INFO per scheduled retry) and
never hold query strings, bodies, device handles or the Authorization header. The
dump that `debug=True` asks for goes to `notifhub_async.dump`: it shows headers and
bodies, because that is what the caller asked to see, but the SAS token is always
replaced by `[redacted]`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._transport import Reply

__all__ = ["dump_exchange", "enable_dump", "logger"]

logger = logging.getLogger("notifhub_async")
dump_logger = logging.getLogger("notifhub_async.dump")

REDACTED = "[redacted]"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})
_MAX_DUMPED_BODY = 64 * 1024


class _StderrFallbackHandler(logging.Handler):
    """
    Writes the dump to stderr, but only while no other handler would show it (none
    at all, or only handlers whose level is above DEBUG).

    The check happens per record, so an application that configures logging after
    creating a debug hub gets the dump once, through its own handlers. `sys.stderr`
    is looked up per record too, so a later redirection is followed.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if _shown_elsewhere(record, besides=self):
            return

        try:
            sys.stderr.write(f"{self.format(record)}\n")
        except (OSError, ValueError):
            self.handleError(record)


_stderr_fallback = _StderrFallbackHandler()
_stderr_fallback.setFormatter(logging.Formatter("%(message)s"))


def enable_dump() -> None:
    """
    Make the dump visible on stderr even when the application set up no logging.

    When the application configured handlers (on the root logger or ours), the dump
    propagates to them instead, so it is not printed twice.
    """
    dump_logger.setLevel(logging.DEBUG)
    if _stderr_fallback not in dump_logger.handlers:
        dump_logger.addHandler(_stderr_fallback)


def dump_exchange(
    method: str,
    url: str,
    request_headers: Mapping[str, str],
    request_body: bytes | None,
    reply: Reply | None,
    error: BaseException | None = None,
) -> None:
    """Write one request and its response (or failure) to the dump logger."""
    if not dump_logger.isEnabledFor(logging.DEBUG):
        return

    lines = [f"--> {method} {url}"]
    lines.extend(_header_lines(request_headers))
    lines.append("")
    lines.append(_body_text(request_body or b""))
    if reply is not None:
        lines.append(f"<-- {reply.status_code} {reply.reason_phrase}")
        lines.extend(_header_lines(reply.headers))
        lines.append("")
        lines.append(_body_text(reply.content))
    elif error is not None:
        lines.append(f"<-- no response: {type(error).__name__}: {error}")

    dump_logger.debug("%s", "\n".join(lines))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` with credentials replaced by `[redacted]`."""
    return {
        name: REDACTED if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }


def _header_lines(headers: Mapping[str, str]) -> list[str]:
    return [f"{name}: {value}" for name, value in redact_headers(headers).items()]


def _body_text(body: bytes) -> str:
    if not body:
        return "(empty body)"

    text = body[:_MAX_DUMPED_BODY].decode("utf-8", errors="replace")
    if len(body) > _MAX_DUMPED_BODY:
        text += f"\n... ({len(body) - _MAX_DUMPED_BODY} more bytes)"

    return text


def _shown_elsewhere(record: logging.LogRecord, besides: logging.Handler) -> bool:
    # A handler whose level is above the record's (a root handler at INFO, say)
    # would not show the dump: it does not count.
    current: logging.Logger | None = dump_logger
    while current is not None:
        if any(
            handler is not besides and record.levelno >= handler.level
            for handler in current.handlers
        ):
            return True

        current = current.parent if current.propagate else None

    return False
