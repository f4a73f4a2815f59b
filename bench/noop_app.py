"""The baseline server: Quart on Hypercorn, one process, configured as ``fedwall serve`` is.

Its endpoints do nothing: ``POST /inbox`` reads the body and answers ``202``;
``GET /api/v1/timelines/home`` and ``GET /home`` answer an empty page. It exists
only for the benchmarks, to measure what the stack itself costs in the same run.

    python -m bench.noop_app --bind 127.0.0.1:8999
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from quart import Quart, Response, request


def create_app() -> Quart:
    app = Quart("fedwall-bench-noop", static_folder=None)

    @app.post("/inbox")
    @app.post("/users/<username>/inbox")
    async def inbox(username: str | None = None) -> Response:
        await request.get_data()
        return Response(status=202)

    @app.get("/api/v1/timelines/home")
    async def home_api() -> Response:
        return Response(b"[]", content_type="application/json")

    @app.get("/home")
    async def home_page() -> Response:
        return Response(b"<!doctype html><title>home</title>", content_type="text/html")

    return app


async def serve(bind: str) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    # The same settings as node.cli.cmd_serve: no access log, errors through logging.
    config = Config()
    config.bind = [bind]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await hypercorn_serve(create_app(), config, shutdown_trigger=stop.wait)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args.bind))


if __name__ == "__main__":
    main()
