"""uvicorn's httptools protocol with one write per response instead of two.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, and the body separately: two `write` syscalls and two TCP
segments (two wake-ups of the client) per response. On loopback each write also runs
the receiver's TCP path in our process, so with small single-event posts those writes
were the largest single item in the service's profile. Here the transport handed to
uvicorn joins all writes made in one event-loop step and writes them once, at the end
of the step (`call_soon`); closing flushes first. Nothing else changes.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        real = cast(asyncio.Transport, transport)
        super().connection_made(cast(asyncio.Transport, _CoalescingTransport(real, self.loop)))
