"""The composition root: the one place that wires ``federation`` and ``webui`` into a node."""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, g, jsonify

from node.config import Settings
from node.runtime import Runtime


def create_app(settings: Settings, runtime: Runtime | None = None) -> Quart:
    """Build the Quart application of one node. Nothing here is shared between two apps."""
    runtime = runtime or Runtime(settings)
    app = Quart("fedwall", static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # Endpoints enforce their own, smaller caps; this bounds what any request may send.
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.extensions["fedwall"] = runtime

    @app.before_serving
    async def start() -> None:
        await runtime.start()

    @app.after_serving
    async def stop() -> None:
        await runtime.stop()

    @app.before_request
    async def activate_database() -> None:
        runtime.db.activate()
        g.runtime = runtime

    @app.before_websocket
    async def activate_database_ws() -> None:
        runtime.db.activate()
        g.runtime = runtime

    @app.get("/healthz")
    async def healthz() -> Any:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Any:
        if await runtime.db.ping():
            policy = await runtime.site.policy.current()
            return jsonify(
                {
                    "status": "ready",
                    "database": runtime.db.dialect,
                    "policy_version": policy.version,
                }
            )
        return jsonify({"status": "unavailable", "database": runtime.db.dialect}), 503

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    # The protocol and the pages are adapters around the domain: wired here only.
    from federation import register as register_federation

    register_federation(app, runtime)

    from node.api import register as register_api

    register_api(app, runtime)

    from webui import register as register_webui

    register_webui(app, runtime)

    # The periodic directory sync, when directory_sync_interval is set.
    from node.directory import register as register_directory

    register_directory(runtime)

    from node.api.fedwall_admin import build_blueprint as build_policy_admin_api

    app.register_blueprint(build_policy_admin_api(runtime))
    return app


def runtime_of(app: Quart) -> Runtime:
    runtime: Runtime = app.extensions["fedwall"]
    return runtime
