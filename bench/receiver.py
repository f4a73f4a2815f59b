"""Lightweight peers for the fan-out benchmark: one process listening on several ports.

Each port is one peer's shared inbox. ``POST /inbox`` is verified like a real
peer would (draft-cavage signature with the sender's public key, digest, host)
and answered ``202`` (``401`` when it does not verify); the time of every
acknowledgement is appended to ``--acks`` as a JSON line. ``POST /bare`` is
answered ``202`` without any work (to time one bare request). A port listed in
the file ``--hung`` at the moment a request arrives reads the request and never
answers (a peer that is down without closing connections).

    python -m bench.receiver --ports 9001,9002 --public-key author.pem \
        --acks acks.jsonl --hung hung.txt
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import signal
import time
from pathlib import Path
from typing import IO, Any

from federation.errors import SignatureError
from federation.signatures import (
    HttpRequestView,
    check_covered_components,
    load_public_key_pem,
    parse_signature,
    verify_request,
)


class Receiver:
    def __init__(self, public_key: Any, acks: IO[str], hung_file: Path) -> None:
        self.public_key = public_key
        self.acks = acks
        self.hung_file = hung_file

    def hung(self, port: int) -> bool:
        try:
            return str(port) in self.hung_file.read_text().split()
        except OSError:
            return False

    def verified(
        self, port: int, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> bool:
        view = HttpRequestView(method, f"http://127.0.0.1:{port}{target}", headers, body)
        try:
            parsed = parse_signature(view)
            verify_request(view, parsed, self.public_key, dt.datetime.now(dt.UTC))
            check_covered_components(parsed, view)
        except SignatureError:
            return False
        return True

    async def handle(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if target == "/bare":
                    writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                elif self.hung(port):
                    await asyncio.Event().wait()  # never answers
                elif method == "POST" and self.verified(port, method, target, headers, body):
                    writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                    activity = json.loads(body).get("id")
                    self.acks.write(
                        json.dumps({"port": port, "t": time.time(), "id": activity}) + "\n"
                    )
                    self.acks.flush()
                else:
                    writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def serve(ports: list[int], receiver: Receiver) -> None:
    servers = []
    for port in ports:
        servers.append(
            await asyncio.start_server(
                functools.partial(receiver.handle, port), "127.0.0.1", port, backlog=256
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", required=True, help="comma-separated")
    parser.add_argument("--public-key", type=Path, required=True, help="the sender's public PEM")
    parser.add_argument("--acks", type=Path, required=True)
    parser.add_argument("--hung", type=Path, required=True)
    args = parser.parse_args()
    key = load_public_key_pem(args.public_key.read_text())
    with args.acks.open("a") as acks:
        receiver = Receiver(key, acks, args.hung)
        asyncio.run(serve([int(p) for p in args.ports.split(",")], receiver))


if __name__ == "__main__":
    main()
