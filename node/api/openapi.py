"""The OpenAPI 3.1 document of the node's client API, served at ``/api/v1/fedwall/openapi.json``.

Fedwall's own extensions are described by hand in :data:`PATHS` and
:data:`SCHEMAS`; other modules add theirs by updating these dicts at import
time (e.g. ``PATHS["/api/v1/fedwall/preview"] = {...}``). The Mastodon-compatible
endpoints are listed from the routers themselves, so the list never drifts
from what the node answers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from node.api.routing import Endpoint

LABEL_DESCRIPTION = (
    "The post's classification label, one of the node's labels (by default public, internal, "
    "confidential, restricted; ordered from least to most sensitive). Boundary policy uses it "
    "to decide which peer nodes may receive the post. Omitted: the node's default label."
)

SCHEMAS: dict[str, Any] = {
    "FedwallStatusExtension": {
        "type": "object",
        "description": "Added to every Mastodon Status entity as its `fedwall` attribute.",
        "properties": {
            "label": {"type": "string", "description": LABEL_DESCRIPTION},
            "visibility": {
                "type": "string",
                "enum": ["public", "node", "followers", "direct"],
                "description": "Fedwall's own visibility. Mastodon's `visibility` shows `node` "
                "(people signed in on this node) as `unlisted`, `followers` as `private`.",
            },
        },
        "required": ["label", "visibility"],
    },
    "FedwallStatusParameters": {
        "type": "object",
        "description": "Accepted by POST /api/v1/statuses and PUT /api/v1/statuses/{id}: as a "
        "JSON object `fedwall` or, form-encoded, as `fedwall[label]`.",
        "properties": {"label": {"type": "string", "description": LABEL_DESCRIPTION}},
    },
    "Error": {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "error_description": {
                "type": "string",
                "description": "Only on OAuth endpoints (RFC 6749).",
            },
        },
        "required": ["error"],
    },
}

_STATUS_FIELDS = {
    "status": {"type": "string"},
    "visibility": {
        "type": "string",
        "enum": ["public", "unlisted", "private", "direct", "node", "local", "followers"],
        "description": "Mastodon's values; `unlisted`, `node` and `local` all mean node-only.",
    },
    "in_reply_to_id": {"type": "string"},
    "spoiler_text": {"type": "string"},
    "sensitive": {"type": "boolean"},
    "language": {"type": "string"},
    "fedwall": {"$ref": "#/components/schemas/FedwallStatusParameters"},
}

PATHS: dict[str, Any] = {
    "/api/v1/statuses": {
        "post": {
            "summary": "Post a status (Mastodon), with Fedwall's classification label",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "schema": {"type": "string", "maxLength": 200},
                    "description": "Repeating a key within an hour returns the first status.",
                }
            ],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": _STATUS_FIELDS}
                    },
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "properties": _STATUS_FIELDS}
                    },
                }
            },
            "responses": {
                "200": {"description": "The Status; its `fedwall` holds the label."},
                "422": {
                    "description": "Invalid visibility or label, too long, empty, …; nothing "
                    "was created.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
            "security": [{"OAuth2": ["write:statuses"]}],
        },
    },
    "/api/v1/statuses/{status_id}": {
        "put": {
            "summary": "Edit a status (Mastodon); `fedwall.label` changes its label",
            "parameters": [
                {"name": "status_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "content": {
                    "application/json": {"schema": {"type": "object", "properties": _STATUS_FIELDS}}
                }
            },
            "responses": {"200": {"description": "The edited Status."}},
            "security": [{"OAuth2": ["write:statuses"]}],
        },
    },
    "/api/v1/fedwall/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    },
}


def _openapi_path(path: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)


def build(base_url: str, version: str, endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The full document for a node at ``base_url``."""
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        path = _openapi_path(endpoint.path)
        for method in endpoint.methods:
            doc = (endpoint.handler.__doc__ or "").strip().splitlines()
            operation: dict[str, Any] = {
                "summary": doc[0] if doc else endpoint.handler.__name__.replace("_", " "),
                "x-mastodon-compatible": not path.startswith("/api/v1/fedwall"),
                "responses": {"200": {"description": "OK"}},
            }
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", path)
            ]
            if parameters:
                operation["parameters"] = parameters
            if endpoint.access in ("user", "app") or endpoint.scopes:
                operation["security"] = [{"OAuth2": list(endpoint.scopes)}]
            paths.setdefault(path, {})[method.lower()] = operation
    for path, item in copy.deepcopy(PATHS).items():
        paths.setdefault(path, {}).update(item)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Fedwall client API",
            "version": version,
            "description": "Mastodon's client API (level 4.3) plus Fedwall's extensions under "
            "/api/v1/fedwall and the `fedwall` object on statuses.",
        },
        "servers": [{"url": base_url}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "OAuth2": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": f"{base_url}/oauth/authorize",
                            "tokenUrl": f"{base_url}/oauth/token",
                            "refreshUrl": f"{base_url}/oauth/token",
                            "scopes": {},
                        },
                        "clientCredentials": {"tokenUrl": f"{base_url}/oauth/token", "scopes": {}},
                    },
                }
            },
        },
    }
