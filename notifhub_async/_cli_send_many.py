"""
`notifhub send-many`: JSON Lines in, one result line per input line out.

Each input line is one item of a `send_many` fan-out; its index is its line number
minus one. Lines are read lazily and results are written as they complete, so
memory stays flat whatever the input's length. A line that cannot become an item is
still handed to `send_many`, as a placeholder it rejects, so that the numbering holds
and its result line says what was wrong with it.

SIGINT and SIGTERM cancel the fan-out: `send_many` then reports every item read
(not attempted, or unknown fate if its request had left), the summary says from
which line on nothing was read, and the exit status is 128 plus the signal number.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import queue
import signal
import stat
import sys
import threading
import time
from collections import Counter
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, TextIO, cast

import anyio
from anyio.abc import TaskStatus

from ._bulk import BulkItem, BulkProgress, ItemResult, ItemStatus, SendItem
from ._cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandParser,
    HubOptions,
    UsageError,
    add_connection_options,
    positive_integer,
)
from ._client import AsyncNotificationHub
from ._errors import NotificationHubError
from ._notification import Notification

__all__ = [
    "MAX_LINE_BYTES",
    "InputLines",
    "InvalidLine",
    "LineReader",
    "SendManyOptions",
    "add_send_many_parser",
    "parse_item",
    "run_send_many",
]

# Far above the largest item (a 64 KB payload, escaped, plus its fields); a longer
# line is refused without being held whole.
MAX_LINE_BYTES = 1024 * 1024
# Bytes per read of the input.
_READ_SIZE = 64 * 1024
# Lines a pipe's reader thread may hold before the fan-out takes them.
_PIPE_READ_AHEAD = 64
# The progress line is redrawn at most this often (seconds).
_REDRAW_INTERVAL = 0.1
_ITEM_FIELDS = ("format", "payload", "tags", "device_handle", "headers")


class InvalidLine(Exception):
    """An input line that cannot become an item; the message says why."""


class _LineTooLong:
    """What the line reader returns for a line over `MAX_LINE_BYTES`."""


_TOO_LONG = _LineTooLong()
# Stands in for a line that is not an item: send_many rejects any object that is
# not an item, which gives the line its REJECTED result under its own index.
_NOT_AN_ITEM = object()

Line = bytes | _LineTooLong


@dataclass(frozen=True, slots=True)
class SendManyOptions:
    """What `send-many` was asked to do, besides connecting."""

    input_path: str
    output_path: str | None
    concurrency: int | None
    progress: bool

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> SendManyOptions:
        """Read the options; progress defaults to on when stderr is a terminal."""
        progress = arguments.progress
        if progress is None:
            progress = sys.stderr.isatty()

        output = arguments.output
        return cls(
            input_path=arguments.input,
            output_path=None if output in (None, "-") else output,
            concurrency=arguments.concurrency,
            progress=bool(progress),
        )


def add_send_many_parser(
    commands: argparse._SubParsersAction[CommandParser],
) -> None:
    """Add the `send-many` command to the `notifhub` parser."""
    send_many = commands.add_parser(
        "send-many",
        help="send the notifications of a JSON Lines file, many at once",
        description="Send one notification per input line (a JSON object with "
        "format, payload and optionally tags, device_handle, headers) and write one "
        "JSON result line per input line, as results complete.",
    )
    send_many.add_argument(
        "--input",
        required=True,
        metavar="FILE|-",
        help="the JSON Lines input, or - for stdin",
    )
    send_many.add_argument(
        "--output",
        metavar="FILE",
        help="where to write the result lines (default: stdout)",
    )
    send_many.add_argument(
        "--concurrency",
        type=positive_integer,
        metavar="N",
        help="items in progress at once (default: --max-connections)",
    )
    send_many.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress line on stderr (default: when stderr is a terminal)",
    )
    add_connection_options(send_many)


def run_send_many(hub_options: HubOptions, options: SendManyOptions) -> int:
    """
    Run `send-many`; returns the exit status.

    Raises:
        UsageError: the hub options, the input or the output cannot be used.
    """
    with (
        InputLines.open(options.input_path) as lines,
        _open_output(options.output_path) as output,
    ):
        # Built last, so that nothing is left to close when the files fail.
        hub = hub_options.build()
        run = _Run(lines, output, options.progress)
        try:
            anyio.run(run.fan_out, hub, options.concurrency)
        except KeyboardInterrupt:
            # A second Ctrl-C, after our handler stood down: quit at once.
            run.received.append(signal.SIGINT)

        run.progress.finish()
        return run.summarise()


# -- input ---------------------------------------------------------------------------


class InputLines:
    """
    The input, read one line at a time, with how far the reading got.

    A regular file is read in the event loop's thread (its reads do not block for
    long). Anything else (a pipe, a terminal) is read by a daemon thread, so that a
    source that pauses neither stalls the sends in flight nor holds up Ctrl-C.

    Attributes:
        lines_read: lines handed to the fan-out so far.
        exhausted: the end of the input was reached.
    """

    def __init__(self, stream: BinaryIO, owned: bool) -> None:
        self.lines_read = 0
        self.exhausted = False
        self._stream = stream
        self._owned = owned
        self._problems: dict[int, str] = {}
        self._cache = _NotificationCache()
        descriptor = _descriptor(stream)
        if descriptor is not None and stat.S_ISREG(os.fstat(descriptor).st_mode):
            self._reader = LineReader(stream.read)
            self._pipe: _PipeReader | None = None
        elif descriptor is not None:
            # os.read, not the buffered stream: a daemon thread blocked inside
            # sys.stdin's buffer would hold its lock, and the interpreter aborts
            # when it finds that lock taken at exit.
            self._reader = LineReader(functools.partial(os.read, descriptor))
            self._pipe = _PipeReader(self._reader)
        else:
            self._reader = LineReader(stream.read)
            self._pipe = _PipeReader(self._reader)

    @classmethod
    def open(cls, path: str) -> InputLines:
        """
        Open `path`, or stdin for `-`.

        Raises:
            UsageError: the file cannot be opened.
        """
        if path == "-":
            return cls(sys.stdin.buffer, owned=False)

        try:
            return cls(open(path, "rb"), owned=True)
        except OSError as error:
            raise UsageError(f"cannot open --input {path}: {error}") from error

    def __enter__(self) -> InputLines:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading; close the file if it is ours."""
        if self._pipe is not None:
            self._pipe.close()

        if self._owned:
            self._stream.close()

    def items(self) -> Iterable[object] | AsyncIterable[object]:
        """The items, one per line: a `SendItem`, or a placeholder for a bad line."""
        if self._pipe is not None:
            return _PipeItems(self, self._pipe)

        return _FileItems(self, self._reader)

    def take_problem(self, index: int) -> str | None:
        """Why the line of item `index` is not an item (once), or None."""
        return self._problems.pop(index, None)

    def item(self, line: Line) -> object:
        """Count one line and turn it into an item (or a placeholder)."""
        # No await between counting a line and handing it over: a line counted as
        # read always reaches send_many, which then owes it a result.
        index = self.lines_read
        self.lines_read += 1
        try:
            return parse_item(line, self._cache)
        except InvalidLine as error:
            self._problems[index] = f"line {index + 1}: {error}"
            return _NOT_AN_ITEM


class LineReader:
    """
    Splits a byte stream into lines, holding at most about `MAX_LINE_BYTES`.

    Args:
        read: returns up to n bytes, and b"" only at the end of the stream.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._buffer = bytearray()
        # Where to look for the next newline: the bytes before it have none.
        self._searched = 0
        self._ended = False

    def next_line(self) -> Line | None:
        """The next line with its newline, `_TOO_LONG`, or None at the end."""
        too_long = False
        while True:
            newline = self._buffer.find(b"\n", self._searched)
            if newline >= 0:
                line = bytes(self._buffer[: newline + 1])
                # Cheap: CPython drops a bytearray's head without moving the rest.
                del self._buffer[: newline + 1]
                self._searched = 0
                return _TOO_LONG if too_long or newline > MAX_LINE_BYTES else line

            if len(self._buffer) > MAX_LINE_BYTES:
                # Skip the rest of the long line without holding it.
                too_long = True
                self._buffer.clear()

            self._searched = len(self._buffer)
            if self._ended:
                return self._last(too_long)

            chunk = self._read(_READ_SIZE)
            if chunk:
                self._buffer += chunk
            else:
                self._ended = True

    def _last(self, too_long: bool) -> Line | None:
        if too_long:
            return _TOO_LONG

        if not self._buffer:
            return None

        # The last line, without a newline.
        line = bytes(self._buffer)
        self._buffer.clear()
        return line


class _FileItems(Iterator[object]):
    def __init__(self, lines: InputLines, reader: LineReader) -> None:
        self._lines = lines
        self._reader = reader

    def __next__(self) -> object:
        line = self._reader.next_line()
        if line is None:
            self._lines.exhausted = True
            raise StopIteration

        return self._lines.item(line)


class _PipeItems(AsyncIterator[object]):
    def __init__(self, lines: InputLines, pipe: _PipeReader) -> None:
        self._lines = lines
        self._pipe = pipe

    def __aiter__(self) -> _PipeItems:
        return self

    async def __anext__(self) -> object:
        line = await self._pipe.get()
        if line is None:
            self._lines.exhausted = True
            raise StopAsyncIteration

        return self._lines.item(line)


class _PipeReader:
    """A daemon thread that reads lines ahead into a small queue."""

    def __init__(self, reader: LineReader) -> None:
        self._queue: queue.Queue[Line | BaseException | None] = queue.Queue(
            maxsize=_PIPE_READ_AHEAD
        )
        # A daemon, so that a read that never returns cannot keep the process alive.
        self._thread = threading.Thread(
            target=self._pump, args=(reader,), name="notifhub-input", daemon=True
        )
        self._thread.start()

    def _pump(self, reader: LineReader) -> None:
        try:
            while (line := reader.next_line()) is not None:
                self._queue.put(line)
        except (OSError, ValueError) as error:
            self._queue.put(error)
            return

        self._queue.put(None)

    async def get(self) -> Line | None:
        """The next line, or None at the end; re-raises a read error."""
        try:
            entry = self._queue.get_nowait()
        except queue.Empty:
            # Abandoned on cancellation: Ctrl-C must not wait for a line that a
            # pipe may never send. close() wakes the abandoned thread.
            entry = await anyio.to_thread.run_sync(
                self._queue.get, abandon_on_cancel=True
            )

        if isinstance(entry, BaseException):
            raise entry

        return entry

    def close(self) -> None:
        # Wakes a worker thread abandoned in get(), which would otherwise keep the
        # interpreter from exiting; if the queue is full, nobody is waiting on it.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)


def _descriptor(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError):
        # io.UnsupportedOperation (an OSError and a ValueError): an in-memory stream.
        return None


# -- lines to items ------------------------------------------------------------------


def parse_item(line: Line, cache: _NotificationCache | None = None) -> SendItem:
    """
    Turn one input line into a `SendItem`.

    Raises:
        InvalidLine: the line is empty, too long, not UTF-8, not a JSON object, has
            unknown or mistyped fields, or its notification or audience is invalid.
    """
    document = _json_object(line)
    unknown = sorted(set(document) - set(_ITEM_FIELDS))
    if unknown:
        raise InvalidLine(
            f"unknown field {_shorten(unknown[0])!r}; the fields are "
            + ", ".join(_ITEM_FIELDS)
        )

    notification_format = document.get("format")
    if not isinstance(notification_format, str):
        raise InvalidLine("format is missing or not a string")

    payload = document.get("payload")
    if not isinstance(payload, dict | list | str):
        raise InvalidLine("payload is missing, or not an object, array or string")

    tags = _tags(document.get("tags"))
    device_handle = document.get("device_handle")
    if device_handle is not None and not isinstance(device_handle, str):
        raise InvalidLine("device_handle must be a string")

    headers = document.get("headers")
    if headers is not None and not isinstance(headers, dict):
        raise InvalidLine("headers must be an object of names to string values")

    try:
        notification = (cache or _NotificationCache()).notification(
            notification_format, payload, headers
        )
        return SendItem(notification, tags, device_handle)
    except NotificationHubError as error:
        raise InvalidLine(str(error)) from error


def _json_object(line: Line) -> dict[str, Any]:
    if isinstance(line, _LineTooLong):
        raise InvalidLine(f"longer than {MAX_LINE_BYTES} bytes")

    try:
        text = line.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as error:
        raise InvalidLine(f"not UTF-8 (byte {error.start + 1})") from None

    if not text.strip():
        raise InvalidLine("empty line")

    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidLine(f"not JSON: {error.msg} at column {error.colno}") from None
    except RecursionError:
        raise InvalidLine("not JSON: nested too deeply") from None

    if not isinstance(document, dict):
        raise InvalidLine(f"not a JSON object but {_json_kind(document)}")

    return document


def _tags(value: object) -> str | tuple[str, ...] | None:
    if value is None:
        return None

    if isinstance(value, str):
        if not value.strip():
            # "" would broadcast to every device: a broadcast must be asked for.
            raise InvalidLine("tags is empty: leave it out, or null, to broadcast")

        return value

    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return tuple(value)

    raise InvalidLine("tags must be a tag expression, a list of tags, or null")


class _NotificationCache:
    """
    Gives consecutive lines with the same notification one `Notification` object.

    send_many puts consecutive direct sends of one notification object into batch
    requests; lines parse into new objects, so equal ones are shared here. Equality
    is decided on the encoded bytes (JSON's 1 and true compare equal in Python).
    """

    def __init__(self) -> None:
        self._last: Notification | None = None

    def notification(
        self, notification_format: str, payload: Any, headers: Mapping[str, str] | None
    ) -> Notification:
        notification = Notification(notification_format, payload, headers)
        last = self._last
        if (
            last is not None
            and last.format is notification.format
            and last.body == notification.body
            and last.wire_headers == notification.wire_headers
        ):
            return last

        self._last = notification
        return notification


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"

    if isinstance(value, str):
        return "a string"

    return "a number, boolean or null"


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


# -- output --------------------------------------------------------------------------


@contextlib.contextmanager
def _open_output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return

    try:
        output = open(path, "w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise UsageError(f"cannot open --output {path}: {error}") from error

    with output:
        yield output


class _ResultWriter:
    """Writes one JSON line per result and counts them per status."""

    def __init__(self, lines: InputLines, output: IO[str]) -> None:
        self.counts: Counter[ItemStatus] = Counter()
        self.failure: OSError | None = None
        self.on_failure: Callable[[], object] = lambda: None
        self._lines = lines
        self._output = output

    def write(self, item_result: ItemResult) -> None:
        self.counts[item_result.status] += 1
        record = result_json(item_result, self._lines.take_problem(item_result.index))
        if self.failure is not None:
            return

        try:
            self._output.write(json.dumps(record) + "\n")
            # Flushed per line: a reader (a pipe, tail -f) sees each result when it
            # completes, and nothing is lost if the process is killed.
            self._output.flush()
        except OSError as error:
            # Raising here would only reach send_many; stop the run instead and
            # report the failure once.
            self.failure = error
            self.on_failure()


def result_json(item_result: ItemResult, problem: str | None) -> dict[str, Any]:
    """The output line of one result (`problem`: why its line is not an item)."""
    sent = item_result.result
    error = item_result.error
    tracking_id = sent.tracking_id if sent is not None else None
    if isinstance(error, NotificationHubError):
        tracking_id = error.tracking_id

    error_text: str | None = None
    if item_result.status is ItemStatus.REJECTED and problem is not None:
        error_text = problem
    elif isinstance(error, NotificationHubError):
        error_text = str(error)
    elif error is not None:
        error_text = f"{type(error).__name__}: {error}"

    return {
        "index": item_result.index,
        "status": item_result.status.value,
        "notification_id": sent.notification_id if sent is not None else None,
        "tracking_id": tracking_id,
        "error": error_text,
    }


class _ProgressLine:
    """`sent X / done Y (failed Z) R/s` on stderr, redrawn at most 10 times a second."""

    def __init__(self, enabled: bool, clock: Callable[[], float]) -> None:
        self._enabled = enabled
        self._clock = clock
        self._started = clock()
        self._last_drawn = -_REDRAW_INTERVAL
        self._width = 0
        self._latest = BulkProgress(0, 0)

    def update(self, progress: BulkProgress) -> None:
        self._latest = progress
        if not self._enabled:
            return

        now = self._clock()
        if now - self._last_drawn >= _REDRAW_INTERVAL:
            self._last_drawn = now
            self._draw(progress, now)

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self._enabled:
            self._draw(self._latest, self._clock())
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self, progress: BulkProgress, now: float) -> None:
        rate = progress.completed / max(now - self._started, 1e-9)
        text = (
            f"sent {progress.sent} / done {progress.completed} "
            f"(failed {progress.failed}) {rate:.0f}/s"
        )
        # Spaces rub out the end of a longer previous line.
        sys.stderr.write(f"\r{text}{' ' * max(self._width - len(text), 0)}")
        sys.stderr.flush()
        self._width = len(text)


# -- the run -------------------------------------------------------------------------


class _Run:
    """One `send-many` run: the input, the writer, the progress line and signals."""

    def __init__(self, lines: InputLines, output: IO[str], progress: bool) -> None:
        self.lines = lines
        self.writer = _ResultWriter(lines, output)
        self.progress = _ProgressLine(progress, time.monotonic)
        self.received: list[signal.Signals] = []
        self.input_error: OSError | None = None
        self._started = time.monotonic()

    async def fan_out(self, hub: AsyncNotificationHub, concurrency: int | None) -> None:
        """Send every item, until the input ends or a signal arrives."""
        send_scope = anyio.CancelScope()
        self.writer.on_failure = send_scope.cancel
        async with hub, anyio.create_task_group() as task_group:
            # Started before the first send, so that no signal finds no handler.
            await task_group.start(self._watch_signals, send_scope)
            with send_scope:
                try:
                    await hub.send_many(
                        # send_many rejects the placeholders of bad lines (above).
                        cast(
                            "Iterable[BulkItem] | AsyncIterable[BulkItem]",
                            self.lines.items(),
                        ),
                        concurrency=concurrency,
                        on_result=self.writer.write,
                        on_progress=self.progress.update,
                        keep_results=False,
                    )
                except OSError as error:
                    # Reading a pipe failed; the items read have their results.
                    self.input_error = error

            task_group.cancel_scope.cancel()

    async def _watch_signals(
        self,
        send_scope: anyio.CancelScope,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        with contextlib.ExitStack() as stack:
            try:
                signals = stack.enter_context(
                    anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
                )
            except (NotImplementedError, ValueError, RuntimeError):
                # TODO: without asyncio signal handlers (Windows, or a thread other
                # than the main one) Ctrl-C interrupts at once, so the items in
                # flight get no result line and SIGTERM is not caught.
                task_status.started()
                return

            task_status.started()
            async for received in signals:
                self.received.append(signal.Signals(received))
                send_scope.cancel()
                # Leaving restores the default handlers: a second Ctrl-C quits.
                return

    def summarise(self) -> int:
        """Write the summary on stderr; return the exit status."""
        counts = self.writer.counts
        lines_read = self.lines.lines_read
        elapsed = time.monotonic() - self._started
        per_status = ", ".join(f"{status} {counts[status]}" for status in ItemStatus)
        messages = [
            f"summary: {lines_read} lines in {elapsed:.2f} s "
            f"({lines_read / max(elapsed, 1e-9):.0f}/s): {per_status}"
        ]
        if self.writer.failure is not None:
            messages.append(f"error: cannot write results: {self.writer.failure}")

        if self.input_error is not None:
            messages.append(f"error: cannot read the input: {self.input_error}")

        if self.received:
            messages.append(f"interrupted by {self.received[0].name}")

        if not self.lines.exhausted:
            messages.append(
                f"stopped: items from line {lines_read + 1} on were not read"
            )

        sys.stderr.write("".join(f"{message}\n" for message in messages))
        sys.stderr.flush()
        if self.received:
            return 128 + int(self.received[0])

        all_sent = counts[ItemStatus.SENT] == lines_read and self.lines.exhausted
        return EXIT_OK if all_sent else EXIT_FAILED
