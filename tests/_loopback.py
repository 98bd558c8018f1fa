"""A counting HTTP/1.1 server on 127.0.0.1 for tests of real connection handling."""

from __future__ import annotations

import asyncio


class CountingServer:
    """
    HTTP/1.1 on 127.0.0.1 answering 201; counts connections and concurrency.

    A request whose path starts with /hold waits until `release` is set; one whose
    path starts with /drop closes the connection without answering.
    """

    def __init__(self) -> None:
        self.connections = 0
        # The request line and headers of every request, in arrival order.
        self.heads: list[bytes] = []
        self.open_connections = 0
        self.max_open_connections = 0
        # Set whenever no connection is open.
        self.no_connections = asyncio.Event()
        self.no_connections.set()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.holding = 0
        self.release = asyncio.Event()
        self.all_held = asyncio.Event()
        self.expected_holds = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self.open_connections += 1
        self.no_connections.clear()
        self.max_open_connections = max(
            self.max_open_connections, self.open_connections
        )
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                path = head.split(b" ", 2)[1]
                await reader.readexactly(_content_length(head))
                self.requests += 1
                if path.startswith(b"/drop"):
                    return

                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                if path.startswith(b"/hold"):
                    self.holding += 1
                    if self.holding == self.expected_holds:
                        self.all_held.set()

                    await self.release.wait()

                self.in_flight -= 1
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_connections -= 1
            if not self.open_connections:
                self.no_connections.set()

            writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)

    return 0
