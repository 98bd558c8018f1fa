"""
`send_many`: a bounded, streaming fan-out with exactly one result per input item.

One producer task reads the caller's items (a lazy iterable or async iterable of any
length) into a small buffer; `concurrency` worker tasks send them through the hub.
Only the buffered and in-flight items are held in memory, so a generator of a
million items runs in flat memory when results are streamed to `on_result` instead
of kept.

Every item read yields one `ItemResult`: sent, or the typed reason it was not.
Direct sends of one notification to consecutive device handles are grouped into
batch requests of up to 1000 handles; each of those items gets the batch's result.
From an async source, a batch waits at most BATCH_LINGER for its next handle.
"""

from __future__ import annotations

import contextvars
import enum
from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import (
    InvalidNotificationError,
    NotificationHubError,
    ServerError,
    ThrottledError,
)
from ._models import SendResult
from ._notification import MAX_BATCH_HANDLES, Notification, check_device_handle

if TYPE_CHECKING:
    from ._client import AsyncNotificationHub, Tags

AttemptEvent: TypeAlias = Literal["sent", "refused", "unknown"]
"""
What the hub reports of each attempt: "sent" as it hands the request to the
transport, then "refused" if the answer says it was not acted on (throttled, 503, a
connection that never carried it) or "unknown" if it may have been.
"""

# The longest a held direct-send batch waits for more handles from an async source.
BATCH_LINGER = 0.05

# Set around each item, so that a cancelled fan-out can tell an item that never
# left, or was only ever refused, from one whose fate is unknown.
attempt_hook: contextvars.ContextVar[Callable[[AttemptEvent], None] | None] = (
    contextvars.ContextVar("notifhub_async_attempt_hook", default=None)
)

__all__ = [
    "AttemptEvent",
    "BulkItem",
    "BulkProgress",
    "BulkReport",
    "ItemResult",
    "ItemStatus",
    "SendItem",
    "attempt_hook",
    "run_send_many",
]


class ItemStatus(str, enum.Enum):
    """What became of one item of a `send_many` call."""

    SENT = "sent"
    """The service accepted it."""
    THROTTLED = "throttled"
    """Still throttled after the retries: send it again later."""
    REJECTED = "rejected"
    """Invalid input or refused by the service (4xx): resending will not help."""
    FAILED = "failed"
    """Not processed (503, connection failure) even after retries, or a bug."""
    UNKNOWN_FATE = "unknown_fate"
    """It may have been delivered (timeout, 500/502/504); it was not resent."""
    NOT_ATTEMPTED = "not_attempted"
    """
    Not delivered: the call stopped (cancelled, timed out) before the item was sent,
    or while it waited to retry after answers that said it was not acted on.
    """

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class SendItem:
    """
    One send of a fan-out: a notification and its audience.

    Args:
        notification: what to send.
        tags: None for a broadcast, a tag expression, or a set of tags.
        device_handle: send directly to this device handle instead (tags must then
            be None); consecutive direct items with the same notification object
            travel together in batch requests.
    """

    notification: Notification
    tags: Tags = None
    device_handle: str | None = None

    def __post_init__(self) -> None:
        if self.device_handle is not None and self.tags is not None:
            raise InvalidNotificationError(
                "a SendItem takes tags or a device_handle, not both"
            )


BulkItem: TypeAlias = "SendItem | Notification | tuple[Notification, Tags]"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """
    The result of one input item, tied to its position.

    Attributes:
        index: the item's position in the input, from 0.
        status: what became of it.
        result: the service's answer when `status` is SENT.
        error: the exception that ended it otherwise (a `NotificationHubError`, or
            another exception for a bug); None for NOT_ATTEMPTED, and for
            UNKNOWN_FATE when the call was stopped while the request was out.
    """

    index: int
    status: ItemStatus
    result: SendResult | None = None
    error: BaseException | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the item was sent."""
        return self.status is ItemStatus.SENT


@dataclass(frozen=True, slots=True)
class BulkProgress:
    """How far a fan-out has come; passed to the `on_progress` callback."""

    completed: int
    sent: int

    @property
    def failed(self) -> int:
        """Items completed without being sent."""
        return self.completed - self.sent


@dataclass(frozen=True, slots=True)
class BulkReport:
    """
    The summary of a `send_many` call.

    Attributes:
        total: items read from the input (all of them, unless the call stopped).
        counts: items per status; every status is present.
        results: every `ItemResult` in input order, when `keep_results` was True.
        stopped_early: `stop_after` ran out; items from `total` on were never read.
    """

    total: int
    counts: Mapping[ItemStatus, int]
    results: tuple[ItemResult, ...] = ()
    stopped_early: bool = False

    @property
    def sent(self) -> int:
        """Items the service accepted."""
        return self.counts[ItemStatus.SENT]

    @property
    def all_sent(self) -> bool:
        """True when every item read was sent and the call was not cut short."""
        return self.sent == self.total and not self.stopped_early


@dataclass(slots=True, eq=False)
class _Work:
    """A unit for one worker: one item, or a batch of direct items."""

    indexes: list[int]
    item: SendItem | None
    handles: list[str] | None = None
    error: NotificationHubError | None = None
    # An attempt is out now; an earlier one may have been acted on.
    in_flight: bool = False
    maybe_delivered: bool = False

    def observe(self, event: AttemptEvent) -> None:
        self.in_flight = event == "sent"
        if event == "unknown":
            self.maybe_delivered = True

    @property
    def may_have_arrived(self) -> bool:
        return self.in_flight or self.maybe_delivered


class _Fanout:
    """The state of one `send_many` call."""

    def __init__(
        self,
        hub: AsyncNotificationHub,
        on_result: Callable[[ItemResult], object] | None,
        on_progress: Callable[[BulkProgress], object] | None,
        keep_results: bool,
    ) -> None:
        self.hub = hub
        self.on_result = on_result
        self.on_progress = on_progress
        self.keep_results = keep_results
        self.results: list[ItemResult] = []
        self.counts: Counter[ItemStatus] = Counter()
        self.total = 0
        self.completed = 0
        self.pending: dict[int, _Work] = {}
        self.batch: _Work | None = None
        self.timers: anyio.abc.TaskGroup | None = None
        self.fatal: BaseException | None = None
        self.scope = anyio.CancelScope()

    # -- reading the caller's items ----------------------------------------------

    async def produce(
        self,
        items: Iterable[BulkItem] | AsyncIterable[BulkItem],
        send_stream: MemoryObjectSendStream[_Work],
    ) -> None:
        async with send_stream, anyio.create_task_group() as timers:
            # A sync iterable hands over its next item at once; an async one may
            # pause between items, so a held batch gets a timer (_flush_later).
            self.timers = timers if isinstance(items, AsyncIterable) else None
            try:
                if isinstance(items, AsyncIterable):
                    async for raw in items:
                        await self._accept(raw, send_stream)
                else:
                    for raw in items:
                        await self._accept(raw, send_stream)
            except Exception as error:  # noqa: BLE001 - re-raised by run_send_many
                # The caller's iterator failed. Reading stops, but the items it had
                # already handed over (at most `concurrency`, buffered or in flight)
                # are sent and reported rather than abandoned mid-request as
                # unknown fate; run_send_many then raises the error.
                self.fatal = error

            if self.batch is not None:
                await send_stream.send(self.batch)
                self.batch = None

    async def _accept(
        self, raw: object, send_stream: MemoryObjectSendStream[_Work]
    ) -> None:
        index = self.total
        self.total += 1
        work = _work_for(index, raw)
        batch = self.batch
        if batch is not None and _joins(batch, work):
            assert batch.handles is not None and work.item is not None
            batch.indexes.append(index)
            batch.handles.append(work.item.device_handle or "")
            return

        if batch is not None:
            self.batch = None
            await send_stream.send(batch)

        self.pending[index] = work
        if work.item is not None and work.item.device_handle is not None:
            # Held back until the next item shows whether it joins the batch.
            work.handles = [work.item.device_handle]
            self.batch = work
            if self.timers is not None:
                self.timers.start_soon(self._flush_later, work, send_stream)

            return

        await send_stream.send(work)

    async def _flush_later(
        self, batch: _Work, send_stream: MemoryObjectSendStream[_Work]
    ) -> None:
        # A batch waits at most BATCH_LINGER for more handles from a slow source.
        await anyio.sleep(BATCH_LINGER)
        if self.batch is not batch:
            return

        self.batch = None
        try:
            await send_stream.send(batch)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The fan-out is stopping; the batch is still pending and reported.
            pass

    def stop(self, error: BaseException) -> None:
        if self.fatal is None:
            self.fatal = error

        self.scope.cancel()

    # -- sending -------------------------------------------------------------------

    async def consume(self, receive_stream: MemoryObjectReceiveStream[_Work]) -> None:
        try:
            async with receive_stream:
                async for work in receive_stream:
                    await self._execute(work)
        except Exception as error:  # noqa: BLE001 - re-raised by run_send_many
            # Only the caller's own callbacks can raise here.
            self.stop(error)

    async def _execute(self, work: _Work) -> None:
        if work.error is not None or work.item is None:
            self.finish(work, ItemStatus.REJECTED, error=work.error)
            return

        token = attempt_hook.set(work.observe)
        try:
            result = await self._send(work, work.item)
        except NotificationHubError as error:
            self.finish(work, status_for(error), error=error)
        except Exception as error:  # noqa: BLE001 - one item must not end the fan-out
            self.finish(work, ItemStatus.FAILED, error=error)
        else:
            self.finish(work, ItemStatus.SENT, result=result)
        finally:
            attempt_hook.reset(token)

    async def _send(self, work: _Work, item: SendItem) -> SendResult:
        if work.handles is not None and len(work.handles) > 1:
            return await self.hub.send_direct_chunk(item.notification, work.handles)

        if item.device_handle is not None:
            return await self.hub.send_direct_notification(
                item.notification, item.device_handle
            )

        return await self.hub.send_notification(item.notification, item.tags)

    # -- results -------------------------------------------------------------------

    def finish(
        self,
        work: _Work,
        status: ItemStatus,
        *,
        result: SendResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.pending.pop(work.indexes[0], None)
        callback_error: Exception | None = None
        for index in work.indexes:
            item_result = ItemResult(index, status, result, error)
            self.counts[status] += 1
            self.completed += 1
            if self.keep_results:
                self.results.append(item_result)

            if self.on_result is not None and callback_error is None:
                try:
                    self.on_result(item_result)
                except Exception as failure:  # noqa: BLE001 - raised below
                    # Every item of a batch is still counted before it escapes.
                    callback_error = failure

        if callback_error is not None:
            raise callback_error

        if self.on_progress is not None:
            self.on_progress(BulkProgress(self.completed, self.counts[ItemStatus.SENT]))

    def finish_pending(self) -> None:
        # Items read but not finished when the call stopped: one with a request out,
        # or one an earlier attempt may have reached, may have arrived; the others
        # never left or were only refused (waiting out a 429 or 503, say).
        for work in list(self.pending.values()):
            status = (
                ItemStatus.UNKNOWN_FATE
                if work.may_have_arrived
                else ItemStatus.NOT_ATTEMPTED
            )
            self.finish(work, status)

    def report(self, stopped_early: bool) -> BulkReport:
        counts = {status: self.counts[status] for status in ItemStatus}
        results = tuple(sorted(self.results, key=lambda result: result.index))
        return BulkReport(self.total, counts, results, stopped_early)


async def run_send_many(
    hub: AsyncNotificationHub,
    items: Iterable[BulkItem] | AsyncIterable[BulkItem],
    *,
    concurrency: int,
    on_result: Callable[[ItemResult], object] | None,
    on_progress: Callable[[BulkProgress], object] | None,
    keep_results: bool,
    stop_after: float | None,
) -> BulkReport:
    """The body of `AsyncNotificationHub.send_many` (documented there)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")

    fanout = _Fanout(hub, on_result, on_progress, keep_results)
    send_stream, receive_stream = anyio.create_memory_object_stream[_Work](
        max_buffer_size=concurrency
    )
    if stop_after is not None:
        fanout.scope.deadline = anyio.current_time() + stop_after

    stopped_early = False
    try:
        with fanout.scope as scope:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(fanout.produce, items, send_stream)
                async with receive_stream:
                    for _ in range(concurrency):
                        task_group.start_soon(fanout.consume, receive_stream.clone())

        stopped_early = scope.cancelled_caught and fanout.fatal is None
    finally:
        fanout.finish_pending()

    if fanout.fatal is not None:
        raise fanout.fatal

    return fanout.report(stopped_early)


def status_for(error: NotificationHubError) -> ItemStatus:
    """The item status an error ends in."""
    if isinstance(error, ThrottledError):
        return ItemStatus.THROTTLED

    if error.fate_unknown:
        return ItemStatus.UNKNOWN_FATE

    # 408 is a 4xx, but it says the service did not get to the request in time.
    if isinstance(error, ServerError):
        return ItemStatus.FAILED

    if isinstance(error, ValueError) or (
        error.status_code is not None and 400 <= error.status_code < 500
    ):
        return ItemStatus.REJECTED

    return ItemStatus.FAILED


def _work_for(index: int, raw: object) -> _Work:
    try:
        item = _normalise(raw)
        if item.device_handle is not None:
            # Checked per item, so that one bad handle rejects only its own item,
            # not the batch of up to 1000 it would have travelled with.
            check_device_handle(item.notification, item.device_handle)
    except NotificationHubError as error:
        return _Work([index], None, error=error)

    return _Work([index], item)


def _normalise(raw: object) -> SendItem:
    if isinstance(raw, SendItem):
        return raw

    if isinstance(raw, Notification):
        return SendItem(raw)

    if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], Notification):
        return SendItem(raw[0], raw[1])

    raise InvalidNotificationError(
        "send_many items are SendItem, Notification or (Notification, tags), not "
        f"{type(raw).__name__}"
    )


def _joins(batch: _Work, work: _Work) -> bool:
    return (
        work.item is not None
        and batch.item is not None
        and work.item.device_handle is not None
        and work.item.notification is batch.item.notification
        and batch.handles is not None
        and len(batch.handles) < MAX_BATCH_HANDLES
    )
