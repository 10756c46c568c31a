"""A switchable TCP proxy for the fault matrix (issue 20): one port on 127.0.0.1 in front of a real
server, whose behaviour a test switches at any moment.

Modes (what a client of the proxy sees):
  pass     every byte forwarded both ways, at once
  down     nothing listens: connections are refused; open ones are cut (a dead server)
  hang     connections are accepted but no byte moves either way, new or open ones (a network
           partition, a server stuck in a lock); when the mode changes, held bytes move on
  slow     every chunk is delayed by `latency` seconds each way
  garbage  open connections are cut; new ones answer whatever the client sends with `payload`
           (default: bytes no protocol starts with); `close_after_garbage` hangs up after it
  restart  open connections are cut and nothing listens for `down_for` seconds, then `pass`

The proxy runs its own asyncio loop in a daemon thread, so the sources under test (on the test's
loop) and the servers (their own threads or processes) never share a loop with it. `upstream`
can be changed while running (the TLS cell points it at an endpoint that wants a client
certificate). No sleeps: every switch returns once the proxy is in the new mode; `mode` says
when a restart is back to `pass`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any

MODES = ("pass", "down", "hang", "slow", "garbage", "restart")
# Starts with no RESP type byte, no TLS record type, no HTTP status line, no PostgreSQL message.
GARBAGE = b"\x00\x9f\x1c\xfe garbage from a peer that speaks no known protocol \xde\xad\xbe\xef\r\n"
HTML_200 = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 62\r\n"
    b"Connection: close\r\n\r\n"
    b"<html><body><h1>Welcome to nginx!</h1></body></html>\n\n\n\n\n\n\n\n\n\n"
)
CHUNK = 65536


class FaultProxy:
    """127.0.0.1:`port` -> `upstream` (host, port), in one of MODES."""

    def __init__(self, upstream_host: str, upstream_port: int, *, latency: float = 1.0) -> None:
        self.upstream: tuple[str, int] = (upstream_host, upstream_port)
        self.latency = latency
        self.payload = GARBAGE
        self.close_after_garbage = False
        self.mode = "pass"
        self.port = 0
        self.accepted = 0  # connections accepted so far
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-proxy", daemon=True
        )
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._changed: asyncio.Event | None = None
        self._reopen: asyncio.TimerHandle | None = None

    # -- control (any thread) ----------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen on a free port and serve in the background thread."""
        self._thread.start()
        self._run(self._listen())
        return self

    def stop(self) -> None:
        """Cut every connection, stop listening, end the thread."""
        if not self._thread.is_alive():
            return
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_mode(self, mode: str, **options: Any) -> None:
        """Switch to `mode` (see the module docstring); options: latency, payload,
        close_after_garbage, down_for (restart)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self._run(self._switch(mode, options))

    def pass_through(self) -> None:
        """Back to forwarding everything (the fault's end)."""
        self.set_mode("pass")

    # -- the loop's side ---------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                if sock is not None:  # RST, as a killed process's socket would send
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
            writer.transport.abort()
        self._writers.clear()

    def _set(self, mode: str) -> None:
        self.mode = mode
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    async def _switch(self, mode: str, options: dict[str, Any]) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        self.latency = float(options.get("latency", self.latency))
        self.payload = options.get("payload", GARBAGE)
        self.close_after_garbage = bool(options.get("close_after_garbage", False))
        if mode in ("down", "garbage", "restart"):
            self._cut_all()
        if mode in ("down", "restart"):
            await self._close_listener()
        elif self._server is None:
            await self._listen()
        self._set(mode)
        if mode == "restart":
            self._reopen = self._loop.call_later(
                float(options.get("down_for", 1.0)), lambda: asyncio.ensure_future(self._back_up())
            )

    async def _back_up(self) -> None:
        self._reopen = None
        await self._listen()
        self._set("pass")

    async def _shutdown(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        await self._close_listener()
        self._cut_all()
        self._set("down")  # held chunks are dropped: every handler ends on its own
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    async def _gate(self) -> bool:
        """Hold a chunk while hanging, delay it while slow; False when the connection must end."""
        while self.mode == "hang":
            assert self._changed is not None
            await self._changed.wait()
        if self.mode == "slow":
            await asyncio.sleep(self.latency)
        return self.mode in ("pass", "slow")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            if self.mode == "garbage":
                await self._garbage(reader, writer)
                return
            if not await self._gate():
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(CHUNK):
                if not await self._gate():
                    break
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    async def _garbage(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(CHUNK):
            writer.write(self.payload)
            await writer.drain()
            if self.close_after_garbage:
                writer.close()
                return
