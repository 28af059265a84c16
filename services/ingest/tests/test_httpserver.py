"""`httpserver.CoalescingHttpToolsProtocol` under a real uvicorn on a real socket:
responses are complete, in order, on keep-alive connections, and a response followed
by a close is flushed before the close."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.types import Receive, Scope, Send

from ingest.httpserver import CoalescingHttpToolsProtocol
from msp_devstack.testkit import wait_for_async


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    size = int(scope["path"].strip("/") or 0)
    body = b"x" * size
    headers = [(b"content-length", str(size).encode())]
    if size == 3:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def test_responses_are_whole_in_order_and_flushed_before_close() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_for_async(lambda: server.started, timeout=30, message="uvicorn did not start")
        async with asyncio.timeout(30):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            sizes = [0, 10, 200_000, 7]  # one pipelined burst, one keep-alive connection
            writer.write(b"".join(f"GET /{n} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for n in sizes))
            for n in sizes:
                assert await read_response(reader) == (200, b"x" * n)
            writer.write(b"GET /3 HTTP/1.1\r\nHost: t\r\n\r\n")  # answered, then closed
            assert await read_response(reader) == (200, b"xxx")
            assert await reader.read() == b""
            writer.close()
    finally:
        server.should_exit = True
        await task
