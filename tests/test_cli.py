"""
The `notifhub send` and `notifhub send-many` commands, against the emulator on HTTPS.

Most tests call `main(argv)` in-process; the Ctrl-C and SIGTERM tests run the command
in a child process and signal it. Requests that must stay in flight are held by a
`Gate`: the emulator's sleep for latency faults, which holds each request until the
test lets it go, and counts how many it holds. Nothing waits on the clock.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import pytest

from notifhub_async import AsyncNotificationHub, Installation, SendItem
from notifhub_async import _cli_send_many as send_many_module
from notifhub_async._cli import main
from notifhub_async._cli_send_many import InvalidLine, LineReader, parse_item
from notifhub_async.emulator import (
    Emulator,
    EmulatorServer,
    FaultRule,
)

HUB = "myhub"
APPLE_PAYLOAD = '{"aps":{"alert":"Hi"}}'
DEVICE = "a1" * 32
OTHER_DEVICE = "b2" * 32
# Generous bounds that only turn a hang into a failure; nothing waits them out.
TIMEOUT = 60.0
# A secret that must never reach stdout or stderr, in bad connection strings.
CANARY = "cAnArY+kEy/9f3c7d1e2b4a6058=="


class Gate:
    """
    The emulator's sleep for latency faults: holds each request until released.

    The emulator serves from its own thread and event loop; the test thread reads
    the counts and releases requests through a lock and `call_soon_threadsafe`.
    The fault's latency is ignored: the gate alone decides how long a request waits.

    Attributes:
        pass_first: this many requests go through at once before any is held.
        groups_of: when this many are held, all of them are released.
        most_inside: the most requests inside the gate at one time.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._open = False
        self._passed = 0
        self._inside = 0
        self.pass_first = 0
        self.groups_of: int | None = None
        self.most_inside = 0

    def reset(self, *, pass_first: int = 0, groups_of: int | None = None) -> None:
        """Release everything, forget the counts and set new rules."""
        with self._condition:
            self._release_all()
            self._open = False
            self._passed = 0
            self._inside = 0
            self.most_inside = 0
            self.pass_first = pass_first
            self.groups_of = groups_of

    def open(self) -> None:
        """Release every held request and hold no more."""
        with self._condition:
            self._open = True
            self._release_all()

    @property
    def held(self) -> int:
        with self._condition:
            return len(self._held)

    def wait_until_holding(self, count: int) -> None:
        """Block the test thread until `count` requests are held."""
        with self._condition:
            holding = self._condition.wait_for(
                lambda: len(self._held) >= count, TIMEOUT
            )

        assert holding, f"the gate holds {self.held} requests, not {count}"

    async def __call__(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._condition:
            if self._open or self._passed < self.pass_first:
                self._passed += 1
                return

            self._inside += 1
            self.most_inside = max(self.most_inside, self._inside)
            self._held.append((loop, future))
            if self.groups_of is not None and len(self._held) >= self.groups_of:
                self._release_all()

            self._condition.notify_all()

        try:
            await future
        finally:
            with self._condition:
                self._inside -= 1

    def _release_all(self) -> None:
        for loop, future in self._held:
            loop.call_soon_threadsafe(_resolve, future)

        self._held.clear()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# The gate only sees requests that meet a latency fault; its latency is ignored.
HOLD_SENDS = FaultRule("latency", latency=30.0, path="/messages")


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate()


@pytest.fixture(scope="module")
def server(gate: Gate) -> Iterator[EmulatorServer]:
    with EmulatorServer(Emulator(sleep=gate)) as running:
        try:
            yield running
        finally:
            # Held requests would otherwise make stop() sit out its grace period.
            gate.open()


@pytest.fixture
def emulator(server: EmulatorServer, gate: Gate) -> Iterator[Emulator]:
    """The emulator, with no records, faults or held requests before and after."""
    server.emulator.reset()
    gate.reset()
    yield server.emulator
    gate.open()
    server.emulator.reset()


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own settings must not leak into the tests.
    monkeypatch.delenv("NOTIFHUB_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("NOTIFHUB_HUB", raising=False)


def connection(server: EmulatorServer) -> list[str]:
    return [
        "--connection-string",
        server.connection_string(HUB),
        "--hub",
        HUB,
        "--ca-file",
        server.ca_path,
    ]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def result_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def by_index(results: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    indexes = [result["index"] for result in results]
    assert len(indexes) == len(set(indexes)), "an index appears twice"
    return {result["index"]: result for result in results}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def item_line(tags: str | list[str] | None = None, **fields: Any) -> str:
    document: dict[str, Any] = {"format": "apple", "payload": {"aps": {"alert": "Hi"}}}
    if tags is not None:
        document["tags"] = tags

    document.update(fields)
    return json.dumps(document)


def install(server: EmulatorServer, *installations: Installation) -> None:
    async def write() -> None:
        async with AsyncNotificationHub(
            server.connection_string(HUB), HUB, verify=server.ssl_context()
        ) as hub:
            for installation in installations:
                await hub.create_or_update_installation(installation)

    anyio.run(write)


# -- notifhub send -----------------------------------------------------------------


def test_send_broadcasts_and_prints_the_result(
    server: EmulatorServer, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        *connection(server),
    )  # fmt: skip

    assert (status, err) == (0, "")
    printed = json.loads(out)
    [record] = emulator.records
    assert record.tags is None
    assert record.format == "apple"
    assert record.body == APPLE_PAYLOAD.encode()
    assert not record.test_send
    assert printed == {
        "status_code": 201,
        "notification_id": record.notification_id,
        "tracking_id": printed["tracking_id"],
        "correlation_id": printed["correlation_id"],
        "location": printed["location"],
        "outcome": None,
    }
    assert printed["tracking_id"]
    assert printed["location"].startswith(f"{server.endpoint}{HUB}/messages/")


def test_send_to_a_tag_expression_with_headers(
    server: EmulatorServer, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        "--tags", "sports && !news", "--header", "apns-priority:5",
        "--header", "apns-push-type: alert", *connection(server),
    )  # fmt: skip

    assert status == 0
    [record] = emulator.records
    assert record.tags == "sports && !news"
    assert record.headers["apns-priority"] == "5"
    assert record.headers["apns-push-type"] == "alert"
    assert json.loads(out)["notification_id"] == record.notification_id


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_send_reads_the_payload_from_a_file_or_stdin(
    source: str,
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    payload = '{"aps": {"alert": "from a file"}}\n'
    if source == "file":
        (tmp_path / "payload.json").write_text(payload, encoding="utf-8")
        argument = f"@{tmp_path / 'payload.json'}"
    else:
        monkeypatch.setattr(sys, "stdin", io.StringIO(payload))
        argument = "-"

    status, _, _ = run(
        capsys, "send", "--format", "apple", "--payload", argument,
        *connection(server),
    )  # fmt: skip

    assert status == 0
    # Sent as written, byte for byte.
    assert [record.body for record in emulator.records] == [payload.encode()]


def test_send_to_a_device_handle(
    server: EmulatorServer, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        "--device-handle", DEVICE, *connection(server),
    )  # fmt: skip

    assert status == 0
    [record] = emulator.records
    assert record.direct_handles == (DEVICE,)
    assert record.tags is None


def test_a_test_send_prints_the_outcome_without_device_handles(
    server: EmulatorServer, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    install(
        server,
        Installation("phone-1", "apns", DEVICE, tags=("team",)),
        Installation("phone-2", "apns", OTHER_DEVICE, tags=("team",)),
    )
    emulator.mark_handle_invalid(OTHER_DEVICE)

    status, out, _ = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        "--tags", "team", "--test", *connection(server),
    )  # fmt: skip

    assert status == 0
    [record] = emulator.records
    assert record.test_send
    outcome = json.loads(out)["outcome"]
    assert (outcome["success"], outcome["failure"]) == (1, 1)
    assert [sorted(result) for result in outcome["results"]] == [
        ["outcome", "platform", "registration_id"]
    ] * 2
    assert sorted(result["outcome"] for result in outcome["results"]) == sorted(
        target.outcome for target in record.targets
    )
    assert {result["platform"] for result in outcome["results"]} == {"apple"}
    # Device handles are personal data: shown only with --debug.
    assert DEVICE not in out
    assert OTHER_DEVICE not in out


def test_debug_shows_device_handles_and_dumps_with_the_token_redacted(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    install(server, Installation("phone-1", "apns", DEVICE, tags=("team",)))
    key = server.connection_string(HUB).rsplit("SharedAccessKey=", 1)[1]

    status, out, err = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        "--tags", "team", "--debug", *connection(server),
    )  # fmt: skip

    assert status == 0
    # --debug makes it a test send, whose outcome names the handle.
    assert [record.test_send for record in emulator.records] == [True]
    [result] = json.loads(out)["outcome"]["results"]
    assert result["pns_handle"] == DEVICE
    # Under pytest the dump goes to the log capture instead of stderr.
    dump = caplog.text
    assert f"--> POST {server.endpoint}{HUB}/messages/" in dump
    assert "Authorization: [redacted]" in dump
    assert "sig=" not in dump
    assert key not in out + err + dump


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tags", "sports &&"], "tag expression"),
        (["--tags", "   "], "--tags is empty"),
        (["--format", "applez"], "notification format"),
        (["--payload", '{"aps":'], "not valid JSON"),
        (["--payload", '{"aps":"' + "x" * 5000 + '"}'], "limit is 4096 bytes"),
        (["--format", "fcmv1", "--payload", "{}"], '"message" envelope'),
        (["--header", "Authorization:x"], "cannot be overridden"),
        (["--header", "apns-priority"], "a header is NAME:VALUE"),
        (["--test", "--device-handle", DEVICE], "--test cannot be used"),
        (["--payload", "@/nonexistent/payload.json"], "cannot read the payload"),
        (["--tags", "a", "--device-handle", DEVICE], "not allowed with"),
        (["--ca-file", "/nonexistent/ca.pem"], "cannot use --ca-file"),
        (["--max-connections", "0"], "0 is not at least 1"),
    ],
    ids=[
        "bad-tag-expression",
        "empty-tags",
        "unknown-format",
        "payload-not-json",
        "payload-too-large",
        "fcmv1-without-envelope",
        "reserved-header",
        "header-without-colon",
        "test-with-device-handle",
        "missing-payload-file",
        "tags-and-device-handle",
        "missing-ca-file",
        "no-connections",
    ],
)
def test_bad_input_exits_2_with_one_line_and_sends_nothing(
    arguments: list[str],
    message: str,
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    defaults = {"--format": "apple", "--payload": APPLE_PAYLOAD}
    for name, value in defaults.items():
        if name not in arguments:
            arguments = [*arguments, name, value]

    status, out, err = run(capsys, "send", *connection(server), *arguments)

    assert status == 2
    assert out == ""
    assert message in err
    # argparse adds its usage lines; our own errors are exactly one line.
    assert "Traceback" not in err
    if not err.startswith("usage:"):
        assert err.startswith("notifhub: error: ")
        assert err.count("\n") == 1

    assert emulator.records == []


@pytest.mark.parametrize(
    "connection_string",
    [
        f"SharedAccessKeyName=full;SharedAccessKey={CANARY}",
        f"Endpoint=sb://x.example/;SharedAccessKeyName=full;{CANARY}",
        f"Endpoint=sb://x.example/;SharedAccessKey={CANARY};SharedAccessKey={CANARY}",
        f"Endpoint=ftp://x.example/;SharedAccessKeyName=full;SharedAccessKey={CANARY}",
    ],
    ids=["no-endpoint", "key-without-name", "key-twice", "bad-scheme"],
)
@pytest.mark.parametrize("given_as", ["argument", "environment"])
def test_a_bad_connection_string_exits_2_without_showing_the_key(
    connection_string: str,
    given_as: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arguments = ["send", "--format", "apple", "--payload", APPLE_PAYLOAD]
    if given_as == "argument":
        arguments += ["--connection-string", connection_string, "--hub", HUB]
    else:
        monkeypatch.setenv("NOTIFHUB_CONNECTION_STRING", connection_string)
        monkeypatch.setenv("NOTIFHUB_HUB", HUB)

    status, out, err = run(capsys, *arguments)

    assert status == 2
    assert err.startswith("notifhub: error: connection string")
    assert err.count("\n") == 1
    assert CANARY not in out + err


@pytest.mark.parametrize(
    "mistake",
    [
        [f"--conection-string=Endpoint=sb://x/;SharedAccessKey={CANARY}"],
        [f"Endpoint=sb://x/;SharedAccessKeyName=full;SharedAccessKey={CANARY}"],
    ],
    ids=["misspelled-option", "missing-option-name"],
)
def test_argparse_never_echoes_a_key(
    mistake: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD, *mistake
    )

    assert status == 2
    assert "unrecognized arguments" in err
    # The argument is reported, but its key is blanked out.
    assert "SharedAccessKey=[redacted]" in err
    assert CANARY not in out + err


def test_without_a_connection_string_it_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys, "send", "--format", "apple", "--payload", "{}")

    assert status == 2
    assert "NOTIFHUB_CONNECTION_STRING" in err


def test_the_environment_and_entity_path_supply_the_connection(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "NOTIFHUB_CONNECTION_STRING",
        f"{server.connection_string(HUB)};EntityPath={HUB}",
    )

    status, _, _ = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        "--ca-file", server.ca_path,
    )  # fmt: skip

    assert status == 0
    assert [record.hub for record in emulator.records] == [HUB]


def test_a_refused_send_exits_1_with_the_service_error(
    server: EmulatorServer, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    listen_only = server.connection_string(HUB, "DefaultListenSharedAccessSignature")

    status, out, err = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        "--connection-string", listen_only, "--hub", HUB, "--ca-file", server.ca_path,
    )  # fmt: skip

    assert status == 1
    assert out == ""
    assert re.fullmatch(r"notifhub: error: send failed with HTTP 40[13]\b.*\n", err)
    assert emulator.records == []


def test_a_send_of_unknown_fate_says_it_was_not_resent(
    server: EmulatorServer, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.add_fault(FaultRule("server-error", count=1))

    status, _, err = run(
        capsys, "send", "--format", "apple", "--payload", APPLE_PAYLOAD,
        *connection(server),
    )  # fmt: skip

    assert status == 1
    assert "HTTP 500" in err
    assert "it was not resent" in err


def test_version_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert re.fullmatch(r"\d+\.\d+\S*\n", capsys.readouterr().out)

    assert main(["send-many", "--help"]) == 0
    assert "--concurrency" in capsys.readouterr().out

    assert main([]) == 2
    assert "send-many" in capsys.readouterr().out


def test_emulator_is_still_handed_over(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "--port", "70000"])

    assert exit_info.value.code == 2
    assert "port must be between" in capsys.readouterr().err


# -- notifhub send-many: input lines -------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"\n", "empty line"),
        (b"  \r\n", "empty line"),
        (b"not json\n", "not JSON: Expecting value at column 1"),
        (b'["apple"]\n', "not a JSON object but an array"),
        (b'{"format":"apple","payload":{},"tag":"a"}', "unknown field 'tag'"),
        (b'{"payload":{}}', "format is missing"),
        (b'{"format":"apple"}', "payload is missing"),
        (b'{"format":"apple","payload":7}', "payload is missing"),
        (b'{"format":"apple","payload":{},"tags":""}', "tags is empty"),
        (b'{"format":"apple","payload":{},"tags":["a",1]}', "tags must be"),
        (b'{"format":"apple","payload":{},"device_handle":5}', "device_handle must"),
        (b'{"format":"apple","payload":{},"headers":["a"]}', "headers must be"),
        (b'{"format":"nope","payload":{}}', "notification format"),
        (b'{"format":"fcmv1","payload":{}}', '"message" envelope'),
        (
            b'{"format":"apple","payload":{},"tags":"a","device_handle":"h"}',
            "tags or a device_handle",
        ),
        (b'{"format":"apple","payload":"\xff"}', "not UTF-8"),
        (b"[" * 100_000, "not JSON"),
    ],
    ids=[
        "empty",
        "blank",
        "not-json",
        "array",
        "unknown-field",
        "no-format",
        "no-payload",
        "number-payload",
        "empty-tags",
        "non-string-tag",
        "non-string-handle",
        "headers-not-object",
        "unknown-format",
        "fcmv1-without-envelope",
        "tags-and-handle",
        "not-utf8",
        "nested-too-deeply",
    ],
)
def test_a_bad_line_is_refused_with_its_reason(line: bytes, message: str) -> None:
    with pytest.raises(InvalidLine, match=re.escape(message)):
        parse_item(line)


def test_a_good_line_becomes_a_send_item() -> None:
    item = parse_item(
        b'\xef\xbb\xbf{"format":"apple","payload":{"aps":{}},"tags":["a","b"],'
        b'"headers":{"apns-priority":"5"}}\n'
    )

    assert isinstance(item, SendItem)
    assert item.tags == ("a", "b")
    assert item.device_handle is None
    assert item.notification.body == b'{"aps":{}}'
    assert item.notification.headers == {"apns-priority": "5"}


@pytest.mark.parametrize("read_size", [1, 7, 64 * 1024])
def test_lines_are_split_and_an_overlong_one_is_skipped_whole(
    read_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_many_module, "MAX_LINE_BYTES", 16)
    monkeypatch.setattr(send_many_module, "_READ_SIZE", read_size)
    stream = io.BytesIO(
        b"short\n" + b"x" * 50 + b"\n" + b"y" * 16 + b"\n\n" + b"z" * 17 + b"\nlast"
    )
    reader = LineReader(stream.read)

    lines = []
    while (line := reader.next_line()) is not None:
        lines.append(line)

    assert lines[0] == b"short\n"
    # A line of exactly the limit is kept; the rest of a long line is not a line.
    assert lines[2:4] == [b"y" * 16 + b"\n", b"\n"]
    assert lines[-1] == b"last"
    for overlong in (lines[1], lines[4]):
        with pytest.raises(InvalidLine, match="longer than 16 bytes"):
            parse_item(overlong)

    assert len(lines) == 6


# -- notifhub send-many: runs --------------------------------------------------------

MIXED_LINES = [
    item_line(),  # 0: a broadcast
    "not json",  # 1
    item_line(["a", "b"]),  # 2: a tag set
    item_line("a", colour="red"),  # 3: an unknown field
    item_line("a &&"),  # 4: refused by the hub's tag check, before sending
    "",  # 5
    item_line(device_handle=DEVICE),  # 6: a direct send
    json.dumps({"format": "fcmv1", "payload": {}}),  # 7: no FCM v1 envelope
    item_line("sports && !news"),  # 8: a tag expression
]
MIXED_STATUSES = {
    0: "sent",
    1: "rejected",
    2: "sent",
    3: "rejected",
    4: "rejected",
    5: "rejected",
    6: "sent",
    7: "rejected",
    8: "sent",
}


def test_send_many_gives_one_result_per_line_under_its_index(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    items = write_lines(tmp_path / "items.jsonl", MIXED_LINES)

    status, out, err = run(
        capsys, "send-many", "--input", str(items), "--concurrency", "2",
        *connection(server),
    )  # fmt: skip

    assert status == 1
    results = by_index(result_lines(out))
    assert sorted(results) == list(range(len(MIXED_LINES)))
    assert {index: result["status"] for index, result in results.items()} == (
        MIXED_STATUSES
    )
    assert results[1]["error"] == "line 2: not JSON: Expecting value at column 1"
    assert results[3]["error"].startswith("line 4: unknown field 'colour'")
    assert "tag expression" in results[4]["error"]
    assert results[5]["error"] == "line 6: empty line"
    assert results[7]["error"].startswith("line 8: ")
    sent = [result for result in results.values() if result["status"] == "sent"]
    assert [result["error"] for result in sent] == [None] * 4

    # Each sent line reached the hub once, under the notification id reported.
    recorded = {record.notification_id: record for record in emulator.records}
    assert len(recorded) == 4
    reached = {
        index: recorded[results[index]["notification_id"]] for index in (0, 2, 6, 8)
    }
    assert reached[0].tags is None
    assert reached[2].tags == "a||b"
    assert reached[6].direct_handles == (DEVICE,)
    assert reached[8].tags == "sports && !news"
    assert all(results[index]["tracking_id"] for index in reached)

    assert (
        "summary: 9 lines in " in err
        and "sent 4, throttled 0, rejected 5, failed 0, unknown_fate 0, "
        "not_attempted 0\n"
        in err
    )
    assert "stopped:" not in err


def test_send_many_exits_0_when_all_are_sent_and_writes_to_output(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    items = write_lines(
        tmp_path / "items.jsonl", [item_line(f"t{n}") for n in range(5)]
    )
    output = tmp_path / "results.jsonl"

    status, out, _ = run(
        capsys, "send-many", "--input", str(items), "--output", str(output),
        *connection(server),
    )  # fmt: skip

    assert (status, out) == (0, "")
    results = by_index(result_lines(output.read_text("utf-8")))
    assert {index: result["status"] for index, result in results.items()} == {
        index: "sent" for index in range(5)
    }
    assert sorted(record.tags or "" for record in emulator.records) == [
        f"t{n}" for n in range(5)
    ]


def test_consecutive_direct_lines_of_one_notification_share_a_batch(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    handles = [f"{n:02d}" * 32 for n in range(3)]
    items = write_lines(
        tmp_path / "items.jsonl",
        [item_line(device_handle=handle) for handle in handles],
    )

    status, out, _ = run(
        capsys, "send-many", "--input", str(items), *connection(server)
    )

    assert status == 0
    [record] = emulator.records
    assert record.direct_handles == tuple(handles)
    results = result_lines(out)
    assert {result["notification_id"] for result in results} == {record.notification_id}


def test_send_many_reads_stdin(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real pipe, as from `producer | notifhub send-many --input -`.
    text = "".join(f"{line}\n" for line in [item_line("x"), "oops", item_line("y")])
    read_end, write_end = os.pipe()
    os.write(write_end, text.encode())
    os.close(write_end)
    with open(read_end, encoding="utf-8") as pipe:
        monkeypatch.setattr(sys, "stdin", pipe)
        status, out, _ = run(capsys, "send-many", "--input", "-", *connection(server))

    assert status == 1
    statuses = {index: result["status"] for index, result in by_index(
        result_lines(out)).items()}  # fmt: skip
    assert statuses == {0: "sent", 1: "rejected", 2: "sent"}
    assert sorted(record.tags or "" for record in emulator.records) == ["x", "y"]


def test_a_send_of_unknown_fate_is_reported_with_its_tracking_id(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    emulator.add_fault(FaultRule("server-error", count=1))
    items = write_lines(
        tmp_path / "items.jsonl", [item_line(f"t{n}") for n in range(3)]
    )

    status, out, err = run(
        capsys, "send-many", "--input", str(items), "--concurrency", "1",
        *connection(server),
    )  # fmt: skip

    assert status == 1
    results = by_index(result_lines(out))
    assert [results[index]["status"] for index in range(3)] == [
        "unknown_fate",
        "sent",
        "sent",
    ]
    assert "HTTP 500" in results[0]["error"]
    assert results[0]["tracking_id"]
    assert results[0]["notification_id"] is None
    assert "unknown_fate 1" in err


class InFlight:
    """Counts the requests the client has handed to httpx and not yet seen answered."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> InFlight:
    counter = InFlight()
    original = httpx.AsyncClient.send

    async def counting_send(
        client: httpx.AsyncClient, request: httpx.Request, **options: Any
    ) -> httpx.Response:
        counter.now += 1
        counter.most = max(counter.most, counter.now)
        try:
            return await original(client, request, **options)
        finally:
            counter.now -= 1

    monkeypatch.setattr(httpx.AsyncClient, "send", counting_send)
    return counter


@pytest.mark.parametrize(
    ("options", "limit"),
    [
        (["--concurrency", "3"], 3),
        (["--concurrency", "8", "--max-connections", "2"], 2),
    ],
    ids=["concurrency", "max-connections"],
)
def test_no_more_requests_are_in_flight_than_allowed(
    options: list[str],
    limit: int,
    server: EmulatorServer,
    emulator: Emulator,
    gate: Gate,
    in_flight: InFlight,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # The emulator holds every send until `limit` of them are in, so the limit is
    # reached for certain. A client allowing more would hand further requests to
    # httpx meanwhile: starting one takes a few event loop steps, while the held
    # ones cannot finish before a network round trip.
    gate.reset(groups_of=limit)
    emulator.add_fault(HOLD_SENDS)
    count = limit * 4
    items = write_lines(
        tmp_path / "items.jsonl", [item_line(f"t{n}") for n in range(count)]
    )

    status, out, _ = run(
        capsys, "send-many", "--input", str(items), *options, *connection(server)
    )

    assert status == 0
    assert len(result_lines(out)) == count
    assert len(emulator.records) == count
    assert in_flight.most == limit
    assert gate.most_inside == limit


def test_the_progress_line_is_drawn_when_asked_for(
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    items = write_lines(tmp_path / "items.jsonl", [item_line(), "x", item_line()])
    arguments = ["send-many", "--input", str(items), *connection(server)]

    _, _, forced = run(capsys, *arguments, "--progress")
    _, _, refused = run(capsys, *arguments, "--no-progress")
    # Captured stderr is not a terminal, so the default is off.
    _, _, default = run(capsys, *arguments)

    # The last frame is drawn at the end, and the line ended before the summary.
    assert re.search(r"\rsent 2 / done 3 \(failed 1\) \d+/s *\nsummary: ", forced)
    for quiet in (refused, default):
        assert "\r" not in quiet
        assert quiet.startswith("summary: 3 lines")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "the following arguments are required: --input"),
        (["--input", "/nonexistent/items.jsonl"], "cannot open --input"),
        (["--input", "-", "--output", "/nonexistent/dir/out"], "cannot open --output"),
        (["--input", "-", "--concurrency", "0"], "0 is not at least 1"),
        (["--input", "-", "--transport", "curl"], "invalid choice"),
    ],
    ids=["no-input", "missing-input", "bad-output", "no-concurrency", "bad-transport"],
)
def test_send_many_usage_errors_exit_2(
    arguments: list[str],
    message: str,
    server: EmulatorServer,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "send-many", *arguments, *connection(server))

    assert status == 2
    assert out == ""
    assert message in err
    assert emulator.records == []


def test_send_many_with_a_bad_connection_string_shows_no_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = write_lines(tmp_path / "items.jsonl", [item_line()])

    status, out, err = run(
        capsys, "send-many", "--input", str(items), "--hub", HUB,
        "--connection-string", f"Endpoint=sb://x/;SharedAccessKey={CANARY}",
    )  # fmt: skip

    assert status == 2
    assert "SharedAccessKeyName is missing" in err
    assert CANARY not in out + err


# -- Ctrl-C and SIGTERM, in a child process ------------------------------------------


class ChildOutput:
    """A child's stdout, read line by line on a thread so the test can wait on it."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)

        self._queue.put(None)

    def wait_for_lines(self, count: int) -> None:
        while len(self.lines) < count:
            line = self._queue.get(timeout=TIMEOUT)
            assert line is not None, f"stdout ended after {self.lines}"
            self.lines.append(line)

    def read_to_end(self) -> None:
        while (line := self._queue.get(timeout=TIMEOUT)) is not None:
            self.lines.append(line)

        self._reader.join(TIMEOUT)


@contextmanager
def child_send_many(
    server: EmulatorServer, stderr_path: Path, *arguments: str, stdin: int
) -> Iterator[subprocess.Popen[str]]:
    """`notifhub send-many` in a child process; killed if still running at the end."""
    command = [
        sys.executable, "-m", "notifhub_async._cli", "send-many", *arguments,
        "--ca-file", server.ca_path,
    ]  # fmt: skip
    environment = {
        **os.environ,
        "NOTIFHUB_CONNECTION_STRING": server.connection_string(HUB),
        "NOTIFHUB_HUB": HUB,
    }
    with stderr_path.open("w") as stderr_file:
        child = subprocess.Popen(
            command,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            env=environment,
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()

            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()


PASSED_SENDS = 5
CONCURRENCY = 4


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signal_number", "source"),
    [(signal.SIGINT, "file"), (signal.SIGTERM, "open-pipe")],
    ids=["sigint-file", "sigterm-pipe"],
)
def test_a_signal_stops_the_run_and_reports_every_line_read(
    signal_number: signal.Signals,
    source: str,
    server: EmulatorServer,
    emulator: Emulator,
    gate: Gate,
    tmp_path: Path,
) -> None:
    # The first sends go through, so results appear; then every send is held,
    # so that CONCURRENCY requests are in flight when the signal arrives.
    gate.reset(pass_first=PASSED_SENDS)
    emulator.add_fault(HOLD_SENDS)
    lines = [item_line(f"t{n}") for n in range(10_000 if source == "file" else 40)]
    if source == "file":
        input_argument = str(write_lines(tmp_path / "items.jsonl", lines))
    else:
        # A pipe that stays open, as from `tail -f`: reading it would block.
        input_argument = "-"

    stderr_path = tmp_path / "stderr.txt"
    with child_send_many(
        server, stderr_path,
        "--input", input_argument, "--concurrency", str(CONCURRENCY), "--progress",
        stdin=subprocess.PIPE if source == "open-pipe" else subprocess.DEVNULL,
    ) as child:  # fmt: skip
        assert child.stdout is not None
        if child.stdin is not None:
            child.stdin.write("".join(f"{line}\n" for line in lines))
            child.stdin.flush()

        output = ChildOutput(child.stdout)
        output.wait_for_lines(PASSED_SENDS)
        gate.wait_until_holding(CONCURRENCY)

        child.send_signal(signal_number)
        status = child.wait(timeout=TIMEOUT)
        output.read_to_end()

    assert status == 128 + signal_number
    results = by_index([json.loads(line) for line in output.lines])
    read = len(results)
    # Every line read has its result, numbered from 0 without a gap.
    assert sorted(results) == list(range(read))
    assert PASSED_SENDS + CONCURRENCY < read < len(lines)
    statuses = [results[index]["status"] for index in range(read)]
    assert statuses[:PASSED_SENDS] == ["sent"] * PASSED_SENDS
    # The held requests had left, so their fate is unknown; the rest never left.
    assert sorted(statuses[PASSED_SENDS:]) == sorted(
        ["unknown_fate"] * CONCURRENCY
        + ["not_attempted"] * (read - PASSED_SENDS - CONCURRENCY)
    )
    # Only lines 0-4 can be the first five requests: with 4 in flight, a sixth
    # leaves only when one of them has completed.
    assert sorted(record.tags or "" for record in emulator.records) == [
        f"t{n}" for n in range(PASSED_SENDS)
    ]

    err = stderr_path.read_text()
    assert "Traceback" not in err
    assert f"sent {PASSED_SENDS} / done {read} (failed {read - PASSED_SENDS})" in err
    assert (
        f"summary: {read} lines in " in err
        and f"sent {PASSED_SENDS}, throttled 0, rejected 0, failed 0, "
        f"unknown_fate {CONCURRENCY}, "
        f"not_attempted {read - PASSED_SENDS - CONCURRENCY}\n"
        in err
    )
    assert f"interrupted by {signal_number.name}\n" in err
    assert err.endswith(f"stopped: items from line {read + 1} on were not read\n")


@pytest.mark.slow
def test_a_reader_that_goes_away_stops_the_run_quietly(
    server: EmulatorServer, emulator: Emulator, tmp_path: Path
) -> None:
    # More results than the pipe holds, so the child is still writing when the
    # reader (say `head -1`) closes its end.
    items = write_lines(tmp_path / "items.jsonl", [item_line()] * 10_000)
    stderr_path = tmp_path / "stderr.txt"
    with child_send_many(
        server, stderr_path, "--input", str(items), stdin=subprocess.DEVNULL
    ) as child:
        assert child.stdout is not None
        first = json.loads(child.stdout.readline())
        child.stdout.close()
        status = child.wait(timeout=TIMEOUT)

    assert first["status"] == "sent"
    assert status == 1
    err = stderr_path.read_text()
    assert "error: cannot write results: [Errno 32] Broken pipe\n" in err
    assert re.search(r"stopped: items from line \d+ on were not read\n$", err)
    # Nothing else: no traceback, no "Exception ignored" at exit.
    assert "Traceback" not in err
    assert "Exception ignored" not in err
