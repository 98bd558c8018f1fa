"""
`EmulatorServer`: the HTTPS socket, its thread, its certificates and real resets.

These tests serve a tiny stand-in ASGI app, so that they exercise the server alone;
the emulator itself over HTTPS is in test_emulator_integration.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, cast

import httpx
import pytest
import trustme
from starlette.types import Receive, Scope, Send

from notifhub_async import AsyncNotificationHub, RetryPolicy, ThrottledError
from notifhub_async.emulator import ConnectionReset, Emulator, EmulatorServer
from notifhub_async.emulator.__main__ import _is_loopback, main

# What a client may see when the server resets the connection under it.
CONNECTION_DROPPED = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class StandInApp:
    """
    An ASGI app in place of the emulator.

    `/echo` answers 200 with what it saw; `/reset-before` resets without reading
    the request; `/reset-after` reads it, then resets; `/reset-after-unread` claims
    to have read it but leaves the body for the server to drain.
    """

    def __init__(self) -> None:
        self.bodies_read: list[bytes] = []
        self.connection_string_calls: list[tuple[str, str | None, str]] = []

    def connection_string(
        self, endpoint: str, hub: str | None = None, rule: str = "Full"
    ) -> str:
        self.connection_string_calls.append((endpoint, hub, rule))
        return f"Endpoint={endpoint};SharedAccessKeyName={rule};SharedAccessKey=k"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return

        path = scope["path"]
        if path == "/reset-before":
            raise ConnectionReset(before_read=True)

        if path == "/reset-after-unread":
            raise ConnectionReset(before_read=False)

        body = await _read_body(receive)
        self.bodies_read.append(body)
        if path == "/reset-after":
            raise ConnectionReset(before_read=False)

        answer = {"scheme": scope["scheme"], "client": list(scope["client"])}
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def serving(
    app: StandInApp,
    *,
    port: int = 0,
    certfile: str | None = None,
    keyfile: str | None = None,
    ca_dir: str | None = None,
) -> EmulatorServer:
    return EmulatorServer(
        cast(Emulator, app),
        port=port,
        certfile=certfile,
        keyfile=keyfile,
        ca_dir=ca_dir,
    )


def emulator_threads() -> set[str]:
    return {
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("notifhub-emulator-")
    }


@pytest.fixture(scope="module")
def app() -> StandInApp:
    return StandInApp()


@pytest.fixture(scope="module")
def server(app: StandInApp) -> Iterator[EmulatorServer]:
    with serving(app) as running:
        yield running


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, verify=server.ssl_context()) as http:
        yield http


# -- listening and TLS -----------------------------------------------------------------


def test_port_zero_becomes_a_real_port_in_the_endpoint(server: EmulatorServer) -> None:
    assert server.port > 0
    assert server.endpoint == f"https://127.0.0.1:{server.port}/"
    assert server.running


def test_serves_the_app_over_https(client: httpx.Client) -> None:
    response = client.post("echo", content=b"hello")

    assert response.status_code == 200
    assert response.json()["scheme"] == "https"
    assert response.url.scheme == "https"


def test_scope_client_is_the_real_peer(client: httpx.Client) -> None:
    answer = client.post("echo", headers={"X-Forwarded-For": "203.0.113.9"}).json()

    # Proxy headers are ignored: the reset middleware relies on the real address.
    assert answer["client"][0] == "127.0.0.1"


def test_the_ca_is_required_to_trust_the_server(server: EmulatorServer) -> None:
    with httpx.Client(verify=True) as untrusting:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.get(f"{server.endpoint}echo")


def test_certificate_also_covers_localhost(server: EmulatorServer) -> None:
    url = f"https://localhost:{server.port}/echo"
    with httpx.Client(verify=server.ssl_context()) as http:
        assert http.post(url).status_code == 200


def test_ca_path_is_a_ca_certificate(server: EmulatorServer) -> None:
    context = ssl.create_default_context(cafile=server.ca_path)

    assert context.cert_store_stats()["x509_ca"] == 1


def test_connection_string_asks_the_emulator_for_this_endpoint(
    server: EmulatorServer, app: StandInApp
) -> None:
    text = server.connection_string("otherhub", "ListenRule")

    assert app.connection_string_calls[-1] == (
        server.endpoint,
        "otherhub",
        "ListenRule",
    )
    assert text.startswith(f"Endpoint={server.endpoint};")


# -- resets ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["reset-before", "reset-after", "reset-after-unread"])
def test_a_reset_drops_the_connection_without_any_response(
    client: httpx.Client, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        with pytest.raises(CONNECTION_DROPPED):
            client.post(path, content=b"x" * 100)

        # The next request gets a new connection and a normal answer.
        assert client.post("echo").status_code == 200

    # uvicorn neither answered 500 nor complained about the app.
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_reset_after_reading_lets_the_app_read_the_whole_body(
    client: httpx.Client, app: StandInApp
) -> None:
    body = b"payload " * 20_000

    with pytest.raises(CONNECTION_DROPPED):
        client.post("reset-after", content=body)

    assert app.bodies_read[-1] == body


@pytest.mark.parametrize("path", ["reset-before", "reset-after"])
def test_a_reset_is_a_tcp_rst(server: EmulatorServer, path: str) -> None:
    request = f"POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"

    # An orderly close would read as end-of-file; only a reset raises ECONNRESET.
    with pytest.raises(ConnectionResetError):
        exchange_over_raw_tls(server, request.encode())


def exchange_over_raw_tls(server: EmulatorServer, request: bytes) -> None:
    """
    Send `request` over TLS and read the raw TCP stream until it ends.

    TLS runs over memory buffers so that reads hit the plain socket: an SSLSocket
    would report a reset and an orderly close alike, as b"".
    """
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = server.ssl_context().wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    # The timeout only turns a hang into a failure; nothing waits for it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))

        tls.write(request)
        raw.sendall(outgoing.read())
        while data := raw.recv(65536):
            incoming.write(data)


# -- lifecycle -------------------------------------------------------------------------


def test_stop_ends_the_thread_closes_the_socket_and_removes_files() -> None:
    threads_before = emulator_threads()
    server = serving(StandInApp())
    server.start()
    port = server.port
    directory = Path(server.ca_path).parent
    assert emulator_threads() - threads_before == {f"notifhub-emulator-{port}"}

    server.stop()

    assert emulator_threads() == threads_before
    assert not directory.exists()
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=10).close()


def test_stop_does_not_wait_for_idle_keep_alive_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    threads_before = emulator_threads()
    server = serving(StandInApp())
    server.start()
    with httpx.Client(base_url=server.endpoint, verify=server.ssl_context()) as http:
        assert http.post("echo").status_code == 200
        with caplog.at_level(logging.INFO, logger="uvicorn.error"):
            # The client still holds its pooled connection.
            server.stop()

        with pytest.raises(httpx.ConnectError):
            http.post("echo")

    messages = [record.getMessage() for record in caplog.records]
    assert not any("Waiting for connections to close" in text for text in messages)
    assert not any("graceful shutdown exceeded" in text for text in messages)
    assert emulator_threads() == threads_before


def test_stop_is_idempotent_and_a_server_can_start_again() -> None:
    server = serving(StandInApp())
    server.stop()
    with server:
        first_ca = Path(server.ca_path).read_bytes()

    server.stop()
    with server:
        with httpx.Client(verify=server.ssl_context()) as http:
            assert http.post(f"{server.endpoint}echo").status_code == 200

        # Every start makes a new throwaway CA.
        assert Path(server.ca_path).read_bytes() != first_ca


def test_starting_twice_is_refused(server: EmulatorServer) -> None:
    with pytest.raises(RuntimeError, match="running already"):
        server.start()


def test_addresses_need_a_running_server() -> None:
    server = serving(StandInApp())

    for name in ("port", "endpoint", "ca_path"):
        with pytest.raises(RuntimeError, match="not running"):
            getattr(server, name)

    assert repr(server) == "EmulatorServer(stopped)"


@pytest.mark.asyncio
async def test_async_context_manager_starts_and_stops() -> None:
    threads_before = emulator_threads()
    server = serving(StandInApp())

    async with server:
        async with httpx.AsyncClient(verify=server.ssl_context()) as http:
            response = await http.post(f"{server.endpoint}echo")

        assert response.status_code == 200

    assert not server.running
    assert emulator_threads() == threads_before


def test_a_busy_port_raises_and_leaves_nothing_behind() -> None:
    threads_before = emulator_threads()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = serving(StandInApp(), port=taken.getsockname()[1])

        with pytest.raises(OSError):
            server.start()

    assert not server.running
    assert emulator_threads() == threads_before


def test_a_bad_certificate_raises_from_start(tmp_path: Path) -> None:
    threads_before = emulator_threads()
    certfile = tmp_path / "cert.pem"
    certfile.write_text("not a certificate")
    server = serving(StandInApp(), certfile=str(certfile), keyfile=str(certfile))

    with pytest.raises(ssl.SSLError):
        server.start()

    assert not server.running
    assert emulator_threads() == threads_before


def test_port_out_of_range_and_half_a_certificate_are_refused() -> None:
    with pytest.raises(ValueError, match="port"):
        EmulatorServer(cast(Emulator, StandInApp()), port=70000)

    with pytest.raises(ValueError, match="certfile and keyfile"):
        EmulatorServer(cast(Emulator, StandInApp()), certfile="cert.pem")


# -- certificates ----------------------------------------------------------------------


def test_ca_dir_receives_the_certificates_and_keeps_them(tmp_path: Path) -> None:
    with serving(StandInApp(), ca_dir=str(tmp_path)) as server:
        assert server.ca_path == str(tmp_path / "ca.pem")
        with httpx.Client(verify=server.ssl_context()) as http:
            assert http.post(f"{server.endpoint}echo").status_code == 200

    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "ca.pem",
        "server-key.pem",
        "server.pem",
    ]


def test_the_callers_own_certificate_is_served(tmp_path: Path) -> None:
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))

    with serving(StandInApp(), certfile=str(certfile), keyfile=str(keyfile)) as server:
        assert server.ca_path == str(certfile)
        # Trusting the certificate itself works (ssl_context), and so does
        # trusting the caller's CA.
        with httpx.Client(verify=server.ssl_context()) as http:
            assert http.post(f"{server.endpoint}echo").status_code == 200

        trusting_ca = ssl.create_default_context()
        authority.configure_trust(trusting_ca)
        with httpx.Client(verify=trusting_ca) as http:
            assert http.post(f"{server.endpoint}echo").status_code == 200

    # The caller's files are the caller's: left in place.
    assert certfile.exists()
    assert keyfile.exists()


# -- python -m notifhub_async.emulator -------------------------------------------------

# Generous bounds that only turn a hang into a failure; nothing waits them out.
PROCESS_TIMEOUT = 60.0


class CommandLine:
    """The emulator running as a child process, its stdout read line by line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.output: list[str] = []
        self._finished = False
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(process.stdout,), daemon=True
        )
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))

        self._lines.put(None)

    def read_until(self, prefix: str) -> str:
        """Collect lines until one starts with `prefix`, and return it."""
        while True:
            line = self._lines.get(timeout=PROCESS_TIMEOUT)
            assert line is not None, f"exited early: {self.output}"
            self.output.append(line)
            if line.lstrip().startswith(prefix):
                return line

    def finish(self) -> None:
        """Wait for the process and the reader; collect the rest of stdout."""
        if self._finished:
            return

        self.process.wait(timeout=PROCESS_TIMEOUT)
        while (line := self._lines.get(timeout=PROCESS_TIMEOUT)) is not None:
            self.output.append(line)

        self._reader.join()
        self._finished = True

    def value_after(self, prefix: str) -> str:
        return self.read_until(prefix).split(prefix, 1)[1].strip()


# `python -m notifhub_async.emulator` and `notifhub emulator` (the same code as the
# `notifhub` script, run through the package's __main__).
EMULATOR_MODULE = ("-m", "notifhub_async.emulator")
NOTIFHUB_EMULATOR = ("-m", "notifhub_async", "emulator")


@contextmanager
def command_line(
    *arguments: str, program: tuple[str, ...] = EMULATOR_MODULE
) -> Iterator[CommandLine]:
    process = subprocess.Popen(
        [sys.executable, *program, *arguments],
        stdout=subprocess.PIPE,
        # Merged, so that a traceback shows up in the output the tests collect.
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    running = CommandLine(process)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()

        running.finish()
        assert process.stdout is not None
        process.stdout.close()


async def send_one(connection_string: str, hub_name: str, ca_path: str) -> str | None:
    verify = ssl.create_default_context(cafile=ca_path)
    async with AsyncNotificationHub(connection_string, hub_name, verify=verify) as hub:
        result = await hub.send_apple_notification({"aps": {"alert": "hi"}}, "news")

    return result.notification_id


def test_command_line_serves_and_stops_cleanly_on_sigint() -> None:
    with command_line("--hub", "first", "--hub", "second", "--seed", "7") as cli:
        endpoint = cli.value_after("Notification Hubs emulator listening on")
        ca_path = cli.value_after("CA certificate:")
        assert cli.read_until("Hub first") == "Hub first:"
        cli.read_until("Full:")
        cli.read_until("Listen:")
        assert cli.read_until("Hub second") == "Hub second:"
        full = cli.value_after("Full:")
        listen = cli.value_after("Listen:")
        cli.read_until("Press Ctrl-C")

        assert endpoint.startswith("https://127.0.0.1:")
        assert full.startswith(f"Endpoint={endpoint};")
        assert "SharedAccessKeyName=DefaultFullSharedAccessSignature" in full
        assert "SharedAccessKeyName=DefaultListenSharedAccessSignature" in listen
        notification_id = asyncio.run(send_one(full, "second", ca_path))
        assert notification_id

        cli.process.send_signal(signal.SIGINT)
        cli.finish()

        assert cli.process.returncode == 0
        assert cli.output[-1] == "Emulator stopped."
        # The generated CA lived in a temporary directory, removed on the way out.
        assert not Path(ca_path).exists()


async def send_throttled(connection_string: str, ca_path: str) -> ThrottledError:
    verify = ssl.create_default_context(cafile=ca_path)
    no_retries = RetryPolicy(max_retries=0)
    async with AsyncNotificationHub(
        connection_string, "myhub", verify=verify, retry=no_retries
    ) as hub:
        with pytest.raises(ThrottledError) as caught:
            await hub.send_apple_notification({"aps": {"alert": "hi"}})

    return caught.value


@pytest.mark.parametrize(
    "program", [EMULATOR_MODULE, NOTIFHUB_EMULATOR], ids=["module", "notifhub"]
)
def test_command_line_stops_cleanly_on_sigterm(
    tmp_path: Path, program: tuple[str, ...]
) -> None:
    arguments = ("--ca-dir", str(tmp_path), "--fault", "throttle,retry_after=7")
    with command_line(*arguments, program=program) as cli:
        ca_path = cli.value_after("CA certificate:")
        assert ca_path == str(tmp_path / "ca.pem")
        full = cli.value_after("Full:")
        cli.read_until("Press Ctrl-C")
        # The fault given on the command line is active.
        throttled = asyncio.run(send_throttled(full, ca_path))
        assert throttled.status_code == 429
        assert throttled.retry_after == 7

        cli.process.send_signal(signal.SIGTERM)
        cli.finish()

        assert cli.process.returncode == 0
        assert cli.output[-1] == "Emulator stopped."
        # Files written to --ca-dir are kept.
        assert (tmp_path / "ca.pem").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--cert", "cert.pem"], "both certfile and keyfile"),
        (["--hub", "a/b"], "hub name"),
        (["--port", "70000"], "port must be between"),
        (["--fault", "meltdown"], "unknown fault kind"),
        (["--fault", "throttle,colour=red"], "use name=value"),
        (["--fault", "throttle,probability=2"], "probability"),
        (["--latency", "-1"], "latency must not be negative"),
    ],
    ids=[
        "cert-without-key",
        "bad-hub",
        "bad-port",
        "bad-kind",
        "bad-setting",
        "bad-probability",
        "negative-latency",
    ],
)
def test_command_line_refuses_bad_arguments(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_command_line_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        assert main(["--port", str(port)]) == 1

    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("emulator.example", False),
    ],
)
def test_only_loopback_hosts_escape_the_exposure_warning(
    host: str, loopback: bool
) -> None:
    assert _is_loopback(host) is loopback
