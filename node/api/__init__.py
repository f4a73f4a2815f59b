"""The Mastodon-compatible client API of a node, with OAuth 2.0 and live streaming.

:func:`register` (called by the composition root) adds every endpoint of the
routers below to a node's app, bound to that node's runtime. Handlers call
the same services as the web pages; see :mod:`node.api.routing` for how an
endpoint is declared and :mod:`node.api.openapi` for the served document.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Quart, Response, request

from node.api import (
    accounts,
    conversations,
    fedwall_admin,  # noqa: F401 (importing it adds its paths to openapi.PATHS)
    instance,
    markers,
    notifications,
    oauth,
    openapi,
    search,
    statuses,
    streaming,
    timelines,
)
from node.api.errors import ApiError
from node.api.routing import Api, Endpoint, error_response, json_response, make_view
from node.runtime import Runtime

__all__ = ["Api", "register"]

ROUTERS = (
    oauth.router,
    instance.router,
    accounts.router,
    statuses.router,
    timelines.router,
    notifications.router,
    conversations.router,
    search.router,
    markers.router,
    streaming.router,
)
# Paths answered with CORS headers, so browser-based clients can use them.
_CORS_PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke", "/oauth/userinfo", "/.well-known/oauth")


def endpoints() -> list[Endpoint]:
    return [endpoint for router in ROUTERS for endpoint in router.endpoints]


def register(app: Quart, runtime: Runtime) -> Api:
    """Add the client API to a node's app; returns the node's :class:`Api`."""
    api = Api(runtime)
    bp = Blueprint("api", __name__)
    for endpoint in endpoints():
        view = make_view(api, endpoint)
        # Rails, and so Mastodon, accepts a trailing slash; Mastodon.py sends some.
        bp.add_url_rule(
            endpoint.path, view.__name__, view, methods=list(endpoint.methods), strict_slashes=False
        )

    document = openapi.build(runtime.site.base_url, instance.fedwall_version(), endpoints())

    @bp.get("/api/v1/fedwall/openapi.json")
    async def openapi_document() -> Response:
        return json_response(document)

    oauth.add_pages(bp, api)
    streaming.add_websocket(bp, api)

    @bp.route("/api/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_endpoint(rest: str) -> Response:
        return error_response(ApiError(404, "Record not found"))

    @bp.after_request
    async def cors(response: Response) -> Response:
        if request.path.startswith(_CORS_PREFIXES):
            response.headers.setdefault("Access-Control-Allow-Origin", "*")
            response.headers.setdefault(
                "Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key"
            )
            response.headers.setdefault(
                "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            )
            response.headers.setdefault(
                "Access-Control-Expose-Headers",
                "Link, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset",
            )
        return response

    app.register_blueprint(bp)
    app.extensions["fedwall.api"] = api
    return api


def api_of(app: Quart) -> Api:
    """The :class:`Api` of an app built by :func:`node.app.create_app`."""
    found: Any = app.extensions["fedwall.api"]
    assert isinstance(found, Api)
    return found
