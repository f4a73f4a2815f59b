"""A lightweight peer that serves actor documents (and so their keys) for first-contact actors.

A plain asyncio HTTP/1.1 server with keep-alive: ``GET <path>`` answers the
document stored for that path (``application/activity+json``), anything else 404.

    python -m bench.keyserver --port 9000 --documents actors.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path


async def handle(
    documents: dict[str, bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            body = documents.get(target.split("?", 1)[0]) if method == "GET" else None
            if body is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve(port: int, documents: dict[str, bytes]) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(documents, r, w), "127.0.0.1", port, backlog=512
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--documents", type=Path, required=True, help="JSON: {path: document}")
    args = parser.parse_args()
    raw = json.loads(args.documents.read_text())
    documents = {path: json.dumps(doc).encode() for path, doc in raw.items()}
    asyncio.run(serve(args.port, documents))


if __name__ == "__main__":
    main()
