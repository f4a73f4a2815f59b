"""A paced (open-loop) load generator for pre-signed requests, run as its own process.

Request ``i`` is sent at ``start + i / rate`` on a free keep-alive connection
(a new one is opened when all are busy, so a slow server does not slow the
schedule). For every request it records when it was sent (wall clock) and
how long the answer took.

    python -m bench.loadgen --port 8080 --requests reqs.bin --first 1 --count 4000 \
        --rate 400 --out timings.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path


def read_requests(path: Path, first: int, count: int) -> list[bytes]:
    """Records ``first .. first+count-1`` (1-based) of a ``<length>\\n<bytes>`` file."""
    data = path.read_bytes()
    records: list[bytes] = []
    pos, index = 0, 0
    while pos < len(data):
        newline = data.index(b"\n", pos)
        length = int(data[pos:newline])
        index += 1
        if index >= first and (count == 0 or index < first + count):
            records.append(data[newline + 1 : newline + 1 + length])
        pos = newline + 1 + length
    return records


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


async def run(
    port: int, requests: list[bytes], rate: float, connections: int
) -> list[dict[str, float]]:
    idle: list[Connection] = []
    for _ in range(connections):
        idle.append(Connection(*await asyncio.open_connection("127.0.0.1", port)))
    results: list[dict[str, float]] = [{} for _ in requests]

    async def one(index: int, raw: bytes) -> None:
        conn = idle.pop() if idle else Connection(*await asyncio.open_connection("127.0.0.1", port))
        sent_wall = time.time()
        started = time.perf_counter()
        try:
            status = await conn.exchange(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            results[index] = {
                "sent": sent_wall,
                "latency": time.perf_counter() - started,
                "status": 0,
            }
            conn.writer.close()
            return
        results[index] = {
            "sent": sent_wall,
            "latency": time.perf_counter() - started,
            "status": status,
        }
        idle.append(conn)

    tasks = []
    start = time.perf_counter() + 0.05
    for index, raw in enumerate(requests):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, raw)))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.writer.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    requests = read_requests(args.requests, args.first, args.count)
    results = asyncio.run(run(args.port, requests, args.rate, args.connections))
    args.out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
