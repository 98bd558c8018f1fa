"""
A loopback HTTPS sink that answers every request the way Notification Hubs answers a
send: `201 Created` with `Location` and `TrackingId` headers and an empty body.

It runs in its own process, so the CPU a benchmark measures is the client's alone,
and it does as little as it can per request so that it is never the bottleneck:

- `raw` (the default): an `asyncio.Protocol` that finds the end of each request
  (headers, then `Content-Length` bytes) and writes one pre-built response. It
  parses nothing else and checks nothing.
- `aiohttp`: the same answer from an `aiohttp.web` application, about twice the
  CPU per request; kept so the two can be compared.

The parent talks to it through a pipe: the child prints `listening <port>`, then
answers `stats` with one JSON line (requests, connections accepted, CPU seconds).
It exits when its stdin closes (the parent exited or closed it), after `quit`, or
after `--max-seconds`, whichever comes first. It listens on 127.0.0.1 only.

Run `python -m benchmarks.sink` to measure the sink's own ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import selectors
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeAlias

import trustme

from ._harness import HUB_NAME, Workload, run_workers

__all__ = ["SinkProcess", "SinkStats", "main", "measure_ceiling"]

ServerKind: TypeAlias = Literal["raw", "aiohttp"]

_HOST = "127.0.0.1"
_ROOT = Path(__file__).resolve().parent.parent
# A request head larger than this is not a client under test: drop the connection.
_MAX_BUFFERED_BYTES = 1024 * 1024
# Clients under test never pipeline; more complete requests in one read than this is
# not one of them either.
_MAX_REQUESTS_PER_READ = 256
_MAX_CONTROL_COMMANDS = 1_000_000
_STARTUP_TIMEOUT = 30.0
_REPLY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Counters the sink reports; subtract two snapshots to measure a run."""

    requests: int
    connections: int
    cpu_seconds: float
    wall_seconds: float

    def __sub__(self, earlier: SinkStats) -> SinkStats:
        return SinkStats(
            requests=self.requests - earlier.requests,
            connections=self.connections - earlier.connections,
            cpu_seconds=self.cpu_seconds - earlier.cpu_seconds,
            wall_seconds=self.wall_seconds - earlier.wall_seconds,
        )

    @property
    def cpu_microseconds_per_request(self) -> float:
        """The sink's CPU per answered request."""
        return self.cpu_seconds / self.requests * 1e6 if self.requests else 0.0


# -- the parent's handle ---------------------------------------------------------------


class SinkProcess:
    """
    Start the sink in a child process with a throwaway CA; stop it on exit.

    Use as a context manager. `connection_string` and `ca_file` are what a client
    needs to reach it.
    """

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        server: ServerKind = "raw",
        max_seconds: float = 1800.0,
    ) -> None:
        self._latency_ms = latency_ms
        self._server = server
        self._max_seconds = max_seconds
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._selector: selectors.DefaultSelector | None = None
        self.port = 0
        self.ca_file = ""

    def __enter__(self) -> SinkProcess:
        self._directory = tempfile.TemporaryDirectory(prefix="notifhub-bench-")
        directory = Path(self._directory.name)
        authority = trustme.CA()
        certificate = authority.issue_cert(_HOST)
        ca_path = directory / "ca.pem"
        chain_path = directory / "server.pem"
        authority.cert_pem.write_to_path(str(ca_path))
        certificate.private_key_and_cert_chain_pem.write_to_path(str(chain_path))
        self.ca_file = str(ca_path)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.sink",
                "serve",
                "--certificate",
                str(chain_path),
                "--latency-ms",
                str(self._latency_ms),
                "--server",
                self._server,
                "--max-seconds",
                str(self._max_seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=_ROOT,
        )
        assert self._process.stdout is not None
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._process.stdout, selectors.EVENT_READ)
        words = self._read_line(_STARTUP_TIMEOUT).split()
        if len(words) != 2 or words[0] != "listening":
            self.__exit__(None, None, None)
            raise RuntimeError(f"sink did not start: {' '.join(words)!r}")

        self.port = int(words[1])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is not None:
            # Closing stdin is the stop signal; a child that does not go is killed.
            if self._process.stdin is not None:
                with contextlib.suppress(OSError):
                    self._process.stdin.close()

            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)

            if self._process.stdout is not None:
                self._process.stdout.close()

            self._process = None

        if self._selector is not None:
            self._selector.close()
            self._selector = None

        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    @property
    def url(self) -> str:
        """The sink's base URL."""
        return f"https://{_HOST}:{self.port}/"

    @property
    def connection_string(self) -> str:
        """A Notification Hubs connection string that points at the sink."""
        return f"Endpoint={self.url};SharedAccessKeyName=x;SharedAccessKey=y"

    def stats(self) -> SinkStats:
        """Ask the running sink for its counters."""
        process = self._running()
        assert process.stdin is not None
        process.stdin.write(b"stats\n")
        process.stdin.flush()
        fields = json.loads(self._read_line(_REPLY_TIMEOUT))
        return SinkStats(
            requests=int(fields["requests"]),
            connections=int(fields["connections"]),
            cpu_seconds=float(fields["cpu_seconds"]),
            wall_seconds=float(fields["wall_seconds"]),
        )

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the sink is not running")

        return self._process

    def _read_line(self, timeout: float) -> str:
        process = self._running()
        assert process.stdout is not None and self._selector is not None
        if not self._selector.select(timeout):
            raise RuntimeError(f"the sink did not answer within {timeout:.0f} s")

        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the sink exited")

        return line.decode().strip()


# -- the child -------------------------------------------------------------------------


class _Counters:
    __slots__ = ("connections", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0


def _canned_response(port: int) -> bytes:
    # One notification id and tracking id for every answer: clients under test do
    # the same work whatever the values are, and the sink stays cheap.
    notification_id = "6234567890123456789-1234567890123456789-1"
    location = (
        f"https://{_HOST}:{port}/{HUB_NAME}/messages/{notification_id}"
        "?api-version=2020-06"
    )
    lines = [
        "HTTP/1.1 201 Created",
        "Content-Length: 0",
        f"Location: {location}",
        f"TrackingId: {uuid.uuid4()}",
        "Server: notifhub-benchmark-sink",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def _complete_request_length(buffer: bytearray) -> int | None:
    """Length of the first complete request in `buffer`, or None if incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None

    body_start = head_end + 4
    head = bytes(buffer[:head_end]).lower()
    length_at = head.find(b"\r\ncontent-length:")
    if length_at >= 0:
        value_end = head.find(b"\r\n", length_at + 2)
        value = head[length_at + 17 : value_end if value_end >= 0 else len(head)]
        total = body_start + int(value)
    elif b"\r\ntransfer-encoding:" in head:
        # No client under test sends chunked bodies; the last chunk is enough.
        last_chunk = buffer.find(b"0\r\n\r\n", body_start - 2)
        if last_chunk < 0:
            return None

        total = last_chunk + 5
    else:
        total = body_start

    return total if len(buffer) >= total else None


class _RawSinkProtocol(asyncio.Protocol):
    def __init__(self, counters: _Counters, response: bytes, latency: float) -> None:
        self._counters = counters
        self._response = response
        self._latency = latency
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._counters.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        answered = 0
        for _ in range(_MAX_REQUESTS_PER_READ):
            length = _complete_request_length(buffer)
            if length is None:
                break

            del buffer[:length]
            answered += 1

        if answered:
            self._counters.requests += answered
            self._answer(self._response * answered)

        if len(buffer) > _MAX_BUFFERED_BYTES and self._transport is not None:
            self._transport.close()

    def _answer(self, data: bytes) -> None:
        if self._latency > 0:
            asyncio.get_running_loop().call_later(self._latency, self._write, data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


async def _start_raw(
    context: ssl.SSLContext, counters: _Counters, latency: float
) -> tuple[int, Any]:
    loop = asyncio.get_running_loop()
    response = b""

    def protocol() -> _RawSinkProtocol:
        return _RawSinkProtocol(counters, response, latency)

    server = await loop.create_server(protocol, _HOST, 0, ssl=context, backlog=1024)
    port = int(server.sockets[0].getsockname()[1])
    # The response names the port, known only now; no connection can exist yet.
    response = _canned_response(port)
    return port, server


async def _start_aiohttp(
    context: ssl.SSLContext, counters: _Counters, latency: float
) -> tuple[int, Any]:
    from aiohttp import web

    headers: dict[str, str] = {}

    async def answer(request: web.Request) -> web.Response:
        counters.requests += 1
        if latency > 0:
            await asyncio.sleep(latency)

        return web.Response(status=201, headers=headers)

    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, _HOST, 0, ssl_context=context, backlog=1024)
    await site.start()
    port = int(runner.addresses[0][1])
    response = _canned_response(port).decode("ascii").split("\r\n")
    for line in response[2:]:
        if line.startswith(("Location", "TrackingId")):
            name, _, value = line.partition(": ")
            headers[name] = value

    return port, runner


def _write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _serve(arguments: argparse.Namespace) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(arguments.certificate)
    counters = _Counters()
    latency = max(0.0, arguments.latency_ms / 1000)
    start = _start_raw if arguments.server == "raw" else _start_aiohttp
    port, server = await start(context, counters, latency)
    started = time.perf_counter()
    cpu_started = time.process_time()
    _write_line(f"listening {port}")

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )

    async def obey() -> None:
        for _ in range(_MAX_CONTROL_COMMANDS):
            command = (await reader.readline()).strip()
            if command == b"stats":
                stats = {
                    "requests": counters.requests,
                    "connections": counters.connections,
                    "cpu_seconds": time.process_time() - cpu_started,
                    "wall_seconds": time.perf_counter() - started,
                }
                _write_line(json.dumps(stats))
            elif command == b"quit" or reader.at_eof():
                return

    try:
        await asyncio.wait_for(obey(), arguments.max_seconds)
    except TimeoutError:
        pass
    finally:
        if arguments.server == "raw":
            server.close()
        else:
            await server.cleanup()


def _serve_main(arguments: argparse.Namespace) -> None:
    # Detach from the parent's terminal signals: the parent decides when we stop.
    with contextlib.suppress(OSError):
        os.setpgrp()

    asyncio.run(_serve(arguments))


# -- the ceiling -----------------------------------------------------------------------


def measure_ceiling(
    sink: SinkProcess, *, sends: int, budget_seconds: float, pair: bool = True
) -> dict[str, float]:
    """
    Measure how fast the sink can answer, loading it with raw aiohttp (the fastest
    client here) at 256 sends in flight.

    Returns the sink's CPU per request and the rate that allows on one core, the
    rate one client process reached and, with `pair`, two client processes at once.
    """
    workload = Workload(
        client="aiohttp",
        port=sink.port,
        ca_file=sink.ca_file,
        sends=sends,
        in_flight=256,
        connections=64,
        budget_seconds=budget_seconds,
    )
    before = sink.stats()
    (single,) = run_workers([workload])
    per_request = (sink.stats() - before).cpu_microseconds_per_request
    ceiling = {
        "sink_cpu_us_per_request": per_request,
        "sink_cpu_ceiling_per_second": 1e6 / per_request if per_request else 0.0,
        "one_client_sends_per_second": single.sends_per_second,
    }
    if pair:
        measurements = run_workers([workload, workload])
        ceiling["two_clients_sends_per_second"] = sum(
            measurement.sends_per_second for measurement in measurements
        )

    return ceiling


def _ceiling_main(arguments: argparse.Namespace) -> None:
    for server in ("raw", "aiohttp"):
        kind: ServerKind = "raw" if server == "raw" else "aiohttp"
        with SinkProcess(server=kind) as sink:
            ceiling = measure_ceiling(
                sink, sends=arguments.sends, budget_seconds=arguments.budget
            )

        print(f"sink server={server}")
        for name, value in ceiling.items():
            print(f"  {name:34} {value:10.1f}")


def main(argv: list[str] | None = None) -> None:
    """Serve (as the child) or measure the sink's ceiling (the default)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sink")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the sink (used by SinkProcess)")
    serve.add_argument("--certificate", required=True)
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--server", choices=["raw", "aiohttp"], default="raw")
    serve.add_argument("--max-seconds", type=float, default=1800.0)
    ceiling = commands.add_parser("ceiling", help="measure the sink's ceiling")
    ceiling.add_argument("--sends", type=int, default=20_000)
    ceiling.add_argument("--budget", type=float, default=4.0)
    arguments = parser.parse_args(argv)
    if arguments.command == "serve":
        _serve_main(arguments)
    else:
        if arguments.command is None:
            arguments = parser.parse_args(["ceiling", *(argv or [])])

        _ceiling_main(arguments)


if __name__ == "__main__":
    main()
