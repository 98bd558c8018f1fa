"""
`EmulatorServer`: the emulator on a real loopback HTTPS socket.

uvicorn serves the ASGI app from a background thread that runs its own event loop,
so the server works the same under any test runner and next to any event loop of
the caller's. The listening socket is bound before the thread starts (so port 0
becomes a real port at once), and `start()` returns once uvicorn's startup, TLS
included, has finished: a startup hook sets a `threading.Event`, nothing polls.

TLS: without a certificate of the caller's, a throwaway certificate authority and a
server certificate for 127.0.0.1, ::1 and localhost are made with trustme on every
start; `ca_path` is the CA's PEM for clients to trust.

Connection resets: when the app raises `ConnectionReset` (a fault it was told to
inject), a middleware here finds the request's TCP connection and aborts it with
SO_LINGER 0, so the client sees a real RST instead of any HTTP response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, cast

import anyio.to_thread
import trustme
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._app import Emulator
from ._faults import ConnectionReset

__all__ = ["EmulatorServer"]

logger = logging.getLogger("notifhub_async.emulator")

DEFAULT_HOST = "127.0.0.1"
# Requests still running when stop() is called get this long to finish (seconds).
_GRACEFUL_SHUTDOWN_SECONDS = 2
# Names and addresses every generated server certificate covers.
_CERTIFICATE_NAMES = ("127.0.0.1", "::1", "localhost")
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
# SO_LINGER on with a zero timeout: close() then sends RST instead of FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


class _Connection(Protocol):
    """What the reset middleware reads from a uvicorn HTTP protocol object."""

    client: tuple[str, int] | None
    transport: asyncio.Transport


@dataclass(frozen=True, slots=True)
class _TlsFiles:
    certfile: str
    keyfile: str
    ca_path: str


class EmulatorServer:
    """
    Serve an `Emulator` over HTTPS on loopback, from a background thread.

        with EmulatorServer() as server:
            hub = AsyncNotificationHub(
                server.connection_string(), "myhub", verify=server.ssl_context()
            )

    Args:
        emulator: the app to serve (default: a new `Emulator()` with one hub,
            "myhub"). Its state stays readable from the caller's thread.
        host: the address to listen on.
        port: the port; 0 picks a free one (see `port` once started).
        certfile, keyfile: the caller's own server certificate (PEM, with any
            intermediates) and its private key; both or neither. Without them a
            throwaway CA and certificate are generated on every start.
        ca_dir: where to write the generated CA and certificate (kept after stop);
            by default a temporary directory that `stop()` removes.
    """

    def __init__(
        self,
        emulator: Emulator | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
        ca_dir: str | None = None,
    ) -> None:
        if (certfile is None) != (keyfile is None):
            raise ValueError("pass both certfile and keyfile, or neither")

        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {port}")

        self.emulator = emulator if emulator is not None else Emulator()
        self._host = host
        self._requested_port = port
        self._certfile = certfile
        self._keyfile = keyfile
        self._ca_dir = ca_dir
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._uvicorn: _UvicornServer | None = None
        self._temporary_directory: tempfile.TemporaryDirectory[str] | None = None
        self._tls: _TlsFiles | None = None
        self._port = 0

    def __repr__(self) -> str:
        state = f"endpoint={self.endpoint!r}" if self.running else "stopped"
        return f"EmulatorServer({state})"

    # -- addresses -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between a successful `start()` and `stop()`."""
        return self._thread is not None

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port the server listens on (the chosen one when 0 was asked for)."""
        self._check_running()
        return self._port

    @property
    def endpoint(self) -> str:
        """The base URL, such as `https://127.0.0.1:8443/`."""
        self._check_running()
        return f"https://{_url_host(self._host)}:{self._port}/"

    @property
    def ca_path(self) -> str:
        """
        A PEM file for clients to trust: the generated CA, or the caller's `certfile`.
        """
        self._check_running()
        assert self._tls is not None
        return self._tls.ca_path

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting `ca_path`, for the client's `verify=`."""
        context = ssl.create_default_context(cafile=self.ca_path)
        if self._certfile is not None:
            # A caller's certificate may be signed by a CA we were not given; trusting
            # the certificate itself then has to be enough.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN

        return context

    def connection_string(
        self,
        hub: str | None = None,
        rule: str = "DefaultFullSharedAccessSignature",
    ) -> str:
        """The connection string for `rule` on `hub` (default: the first hub)."""
        return self.emulator.connection_string(self.endpoint, hub, rule)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """
        Bind, start serving in a background thread, and return once listening.

        Raises:
            RuntimeError: the server is running already, or uvicorn failed to start
                (the cause is chained).
            OSError: the address could not be bound.
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the emulator server is running already")

            try:
                self._start()
            except BaseException:
                self._remove_tls_files()
                raise

    def stop(self) -> None:
        """Stop serving, wait for the thread to end and remove generated files."""
        with self._lock:
            thread, server = self._thread, self._uvicorn
            if thread is None or server is None:
                return

            # uvicorn's main loop reads this flag on every tick; it is how its own
            # signal handler asks it to shut down.
            server.should_exit = True
            thread.join()
            self._thread = None
            self._uvicorn = None
            self._remove_tls_files()

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmulatorServer:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)

    # -- internals ---------------------------------------------------------------------

    def _start(self) -> None:
        self._tls = self._prepare_tls()
        listener = _bind(self._host, self._requested_port)
        try:
            ready = threading.Event()
            server = _UvicornServer(self.emulator, self._tls, ready)
            # Loading now turns a bad certificate into an exception for the caller
            # rather than a failure inside the thread.
            server.config.load()
        except BaseException:
            listener.close()
            raise

        self._port = listener.getsockname()[1]
        runner = _Runner(server, listener, ready)
        thread = threading.Thread(
            target=runner.run, name=f"notifhub-emulator-{self._port}", daemon=True
        )
        thread.start()
        ready.wait()
        if not server.started:
            thread.join()
            failure = runner.failure
            raise RuntimeError("the emulator server failed to start") from failure

        self._thread = thread
        self._uvicorn = server
        logger.debug("emulator listening on %s", self.endpoint)

    def _prepare_tls(self) -> _TlsFiles:
        if self._certfile is not None and self._keyfile is not None:
            return _TlsFiles(self._certfile, self._keyfile, ca_path=self._certfile)

        if self._ca_dir is not None:
            directory = self._ca_dir
            os.makedirs(directory, exist_ok=True)
        else:
            self._temporary_directory = tempfile.TemporaryDirectory(
                prefix="notifhub-emulator-"
            )
            directory = self._temporary_directory.name

        return _generate_certificates(directory, self._host)

    def _remove_tls_files(self) -> None:
        if self._temporary_directory is not None:
            self._temporary_directory.cleanup()
            self._temporary_directory = None

    def _check_running(self) -> None:
        if self._thread is None:
            raise RuntimeError("the emulator server is not running; call start()")


class _UvicornServer(uvicorn.Server):
    """uvicorn's server: tells `start()` when it listens; stops without lingering."""

    def __init__(self, app: ASGIApp, tls: _TlsFiles, ready: threading.Event) -> None:
        super().__init__(_uvicorn_config(_AbortOnReset(app, self._connections), tls))
        self._ready = ready

    def _connections(self) -> list[_Connection]:
        # uvicorn keeps its live protocol objects in this set; they carry the
        # transport and the peer address that the ASGI scope does not expose.
        return list(cast(Iterable[_Connection], self.server_state.connections))

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # An idle keep-alive connection would be closed with a TLS close_notify, and
        # then wait for the client's, which a pooled idle client never sends: abort
        # those at once so stop() does not sit out the grace period.
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is None or getattr(cycle, "response_complete", False):
                connection.transport.abort()

        await super().shutdown(sockets)
        # Whatever outlived the grace period must not outlive the event loop.
        for connection in list(self.server_state.connections):
            connection.transport.abort()

        # Let the aborted transports run their connection_lost callbacks.
        await asyncio.sleep(0)


class _Runner:
    """The background thread's body: run uvicorn, keep its failure for `start()`."""

    def __init__(
        self, server: _UvicornServer, listener: socket.socket, ready: threading.Event
    ) -> None:
        self.failure: BaseException | None = None
        self._server = server
        self._listener = listener
        self._ready = ready

    def run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._listener]))
        # uvicorn reports a failed startup with SystemExit; any failure is handed to
        # start(), which raises it in the caller's thread.
        except BaseException as exc:  # noqa: BLE001
            self.failure = exc
        finally:
            self._listener.close()
            self._ready.set()


class _AbortOnReset:
    """ASGI middleware: turn the app's `ConnectionReset` into a TCP reset."""

    def __init__(
        self, app: ASGIApp, connections: Callable[[], Iterable[_Connection]]
    ) -> None:
        self._app = app
        self._connections = connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        request = _TrackedReceive(receive)
        try:
            await self._app(scope, request, send)
        except ConnectionReset as reset:
            if not reset.before_read:
                # Acted upon means read: finish reading whatever the app left.
                await request.read_to_end()

            self._abort(scope, reset)
            # uvicorn notices the lost connection through receive(); returning
            # only then keeps it from answering the aborted request with a 500.
            await request.wait_for_disconnect()

    def _abort(self, scope: Scope, reset: ConnectionReset) -> None:
        client = tuple(scope["client"]) if scope.get("client") else None
        for connection in self._connections():
            if client is not None and connection.client == client:
                transport = connection.transport
                with contextlib.suppress(OSError):
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET
                        )

                transport.abort()
                return

        raise RuntimeError("no connection to reset for this request") from reset


class _TrackedReceive:
    """An ASGI receive callable that remembers whether the body was all read."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._body_complete = False
        self._disconnected = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._disconnected = True
        elif not message.get("more_body", False):
            self._body_complete = True

        return message

    async def read_to_end(self) -> None:
        while not (self._body_complete or self._disconnected):
            await self()

    async def wait_for_disconnect(self) -> None:
        while not self._disconnected:
            await self()


def _uvicorn_config(app: ASGIApp, tls: _TlsFiles) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        ssl_certfile=tls.certfile,
        ssl_keyfile=tls.keyfile,
        # The pure-Python parser everywhere, and a plain asyncio loop: the same
        # behaviour whatever else is installed, and no event loop policy set for the
        # whole process.
        http="h11",
        loop="asyncio",
        lifespan="auto",
        # The client address in the scope must be the real peer: the reset
        # middleware finds the connection by it.
        proxy_headers=False,
        # Leave the process's logging configuration alone.
        log_config=None,
        log_level=None,
        access_log=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(socket.SOMAXCONN)
    except BaseException:
        listener.close()
        raise

    # Created with IPPROTO_TCP (socket.create_server leaves proto 0) so that
    # asyncio sets TCP_NODELAY on every accepted connection: without it, Nagle's
    # algorithm holds the response body back for the client's delayed ACK, about
    # 40 ms per request.
    return listener


def _generate_certificates(directory: str, host: str) -> _TlsFiles:
    authority = trustme.CA(organization_name="notifhub-async emulator")
    names = list(_CERTIFICATE_NAMES)
    if host not in names and host not in _WILDCARD_HOSTS:
        names.append(host)

    certificate = authority.issue_cert(*names)
    files = _TlsFiles(
        certfile=os.path.join(directory, "server.pem"),
        keyfile=os.path.join(directory, "server-key.pem"),
        ca_path=os.path.join(directory, "ca.pem"),
    )
    authority.cert_pem.write_to_path(files.ca_path)
    certificate.private_key_pem.write_to_path(files.keyfile)
    with open(files.certfile, "wb"):
        pass  # truncate what an earlier start left in ca_dir

    for pem in certificate.cert_chain_pems:
        pem.write_to_path(files.certfile, append=True)

    return files


def _url_host(host: str) -> str:
    host = _WILDCARD_HOSTS.get(host, host)
    return f"[{host}]" if ":" in host else host
