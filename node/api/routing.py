"""How an API endpoint is declared and called: access, scopes, rate limits, params, answers.

Each API module declares its endpoints on a module-level :class:`Router` (a
static table, no runtime state). :func:`node.api.register` builds one Quart
blueprint per node from these tables, binding each handler to that node's
:class:`Api`. A handler receives a :class:`Call` and returns JSON-able data, a
:class:`Paged` list (answered with Mastodon's ``Link`` header) or a Response.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from quart import Response, request
from werkzeug.datastructures import MultiDict

from node.api.entities import ANONYMOUS_READER
from node.api.errors import ApiError, from_domain, invalid_token, outside_scopes, user_required
from node.api.ratelimit import RateLimiter, Verdict
from node.errors import FedwallError
from node.models import Account
from node.runtime import Runtime
from node.services import tokens
from node.services.pagination import PageRequest
from node.services.tokens import TokenGrant
from node.site import Site

log = logging.getLogger(__name__)

# "none": tokens are not looked at (OAuth endpoints authenticate the client
# instead); "public": a token is optional (checked when given); "app": any
# valid token; "user": a token that acts for an account.
Access = Literal["none", "public", "app", "user"]
Reply = Any
Handler = Callable[..., Awaitable[Reply]]

PAGINATION_CURSORS = ("max_id", "since_id", "min_id")


@dataclass
class Api:
    """The client API of one node: its runtime, rate limiter and streaming settings."""

    runtime: Runtime
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # Seconds between SSE keep-alive comments (Mastodon sends one every 15 s).
    heartbeat_seconds: float = 15.0

    @property
    def site(self) -> Site:
        return self.runtime.site


@dataclass(frozen=True)
class Endpoint:
    methods: tuple[str, ...]
    path: str
    handler: Handler
    access: Access
    # Any one of these scopes (or a parent of it) is enough; empty: no scope needed.
    scopes: tuple[str, ...]
    bucket: str


class Router:
    """A table of endpoints, filled by decorators at import time."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        methods: str | Iterable[str],
        path: str,
        *,
        access: Access = "user",
        scope: str | tuple[str, ...] = (),
        bucket: str = "api",
    ) -> Callable[[Handler], Handler]:
        method_list = (methods,) if isinstance(methods, str) else tuple(methods)
        scopes = (scope,) if isinstance(scope, str) else scope

        def decorate(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method_list, path, handler, access, scopes, bucket))
            return handler

        return decorate

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


class Params:
    """Request parameters merged as Mastodon merges them: body (JSON or form) over query.

    Form and query use Rails conventions: ``types[]=a&types[]=b`` for lists and
    ``fedwall[label]=x`` for objects; JSON bodies use real lists and objects.
    """

    def __init__(
        self, query: MultiDict[str, str], form: MultiDict[str, str], json: Mapping[str, Any]
    ):
        self._query = query
        self._form = form
        self._json = json

    def _raw(self, name: str) -> Any:
        if name in self._json:
            return self._json[name]
        if name in self._form:
            return self._form[name]
        return self._query.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        """The raw value (a string from forms, any JSON value from JSON bodies)."""
        value = self._raw(name)
        return default if value is None else value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, bool | int | float):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            raise ApiError(422, f"Validation failed: {name} must be a string")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean as Mastodon reads one: true/1/on/yes (any case) are true."""
        value = self._raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "t", "on", "yes")

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self._raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise ApiError(422, f"Validation failed: {name} must be a number")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(422, f"Validation failed: {name} must be a number") from None

    def strings(self, name: str) -> list[str]:
        """A list parameter (``name[]`` or ``name``; a JSON list or a single value)."""
        for key in (name, f"{name}[]"):
            if key in self._json:
                value = self._json[key]
                items = value if isinstance(value, list) else [value]
                return [str(item) for item in items if item is not None]
        for source in (self._form, self._query):
            if f"{name}[]" in source:
                return source.getlist(f"{name}[]")
            if name in source:
                return source.getlist(name)
        return []

    def obj(self, name: str) -> dict[str, Any]:
        """An object parameter: a JSON object, or the form/query keys ``name[key]``."""
        value = self._json.get(name)
        if isinstance(value, dict):
            return dict(value)
        if value is not None:
            raise ApiError(422, f"Validation failed: {name} must be an object")
        found: dict[str, Any] = {}
        prefix = f"{name}["
        for source in (self._query, self._form):
            for key, item in source.items(multi=True):
                if key.startswith(prefix) and key.endswith("]"):
                    found[key[len(prefix) : -1]] = item
        return found

    def page(self) -> PageRequest:
        """Mastodon's pagination parameters; bad values give 422."""
        values = {name: self._raw(name) for name in (*PAGINATION_CURSORS, "limit")}
        try:
            return PageRequest.parse(values)
        except FedwallError as exc:
            raise from_domain(exc) from None


@dataclass
class Call:
    """One API request as a handler sees it."""

    api: Api
    grant: TokenGrant | None
    params: Params

    @property
    def site(self) -> Site:
        return self.api.site

    @property
    def runtime(self) -> Runtime:
        return self.api.runtime

    @property
    def viewer(self) -> Account | None:
        """The account the token acts for; None for anonymous calls and app tokens."""
        return self.grant.account if self.grant else None

    @property
    def user(self) -> Account:
        """The acting account; the endpoint's access rule guarantees there is one."""
        account = self.viewer
        if account is None:
            raise user_required()
        return account


@dataclass(frozen=True)
class Paged:
    """A page of a newest-first list; answered with Mastodon's ``Link`` header.

    ``next_max_id`` / ``prev_min_id`` are the cursors of the items shown;
    ``limit`` is the page size asked for: like Mastodon, a ``next`` link is
    given only when the page is full, a ``prev`` link only when it is not empty.
    """

    items: list[Any]
    next_max_id: int | None
    prev_min_id: int | None
    limit: int


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(data),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json; charset=utf-8",
    )


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status)


def bearer_token() -> str | None:
    """The access token from ``Authorization: Bearer`` or the ``access_token`` parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("access_token") or None


async def authorize(
    token: str | None, access: Access, scopes: tuple[str, ...]
) -> TokenGrant | None:
    """Check a token against an endpoint's access rule and scopes; raise ApiError when refused.

    A token that is presented must be valid even where none is needed (401),
    and must hold one of ``scopes`` (403), as Mastodon answers.
    """
    grant = await tokens.grant_for(token) if token else None
    if token and grant is None:
        raise invalid_token()
    if grant is None:
        if access != "public":
            raise invalid_token()
        return None
    if scopes and not any(grant.allows(scope) for scope in scopes):
        raise outside_scopes()
    if access == "user" and grant.account is None:
        raise user_required()
    return grant


def client_address() -> str:
    return request.remote_addr or "unknown"


async def read_params() -> Params:
    """Query and body parameters; a malformed JSON body is a 400 and changes nothing."""
    form: MultiDict[str, str] = MultiDict()
    body: Mapping[str, Any] = {}
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if request.mimetype == "application/json":
            raw = await request.get_data()
            if raw.strip():
                try:
                    decoded = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise ApiError(400, f"The request body is not valid JSON: {exc}") from None
                if not isinstance(decoded, dict):
                    raise ApiError(400, "The request body must be a JSON object")
                body = decoded
        else:
            form = MultiDict(await request.form)
    return Params(MultiDict(request.args), form, body)


def link_header(base_url: str, paged: Paged) -> str | None:
    """Mastodon's ``Link`` header for ``paged`` at the current path, keeping other parameters."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in PAGINATION_CURSORS]
    kept = [(k, v) for k, v in kept if k != "access_token"]
    links = []
    if paged.next_max_id is not None and len(paged.items) >= paged.limit:
        query = urlencode([*kept, ("max_id", str(paged.next_max_id))])
        links.append(f'<{base_url}{request.path}?{query}>; rel="next"')
    if paged.prev_min_id is not None and paged.items:
        query = urlencode([*kept, ("min_id", str(paged.prev_min_id))])
        links.append(f'<{base_url}{request.path}?{query}>; rel="prev"')
    return ", ".join(links) or None


def make_view(api: Api, endpoint: Endpoint) -> Callable[..., Awaitable[Response]]:
    """The Quart view of ``endpoint`` for one node."""

    async def view(**path_args: Any) -> Response:
        verdict: Verdict | None = None
        try:
            grant = None
            if endpoint.access != "none":
                grant = await authorize(bearer_token(), endpoint.access, endpoint.scopes)
            key = f"token:{grant.token.id}" if grant else f"ip:{client_address()}"
            verdict = api.limiter.hit(endpoint.bucket, key)
            if not verdict.allowed:
                raise ApiError(429, "Too many requests")
            call = Call(api, grant, await read_params())
            anonymous = ANONYMOUS_READER.set(call.viewer is None)
            try:
                reply = await endpoint.handler(call, **path_args)
            finally:
                ANONYMOUS_READER.reset(anonymous)
            response = to_response(api, reply)
        except ApiError as exc:
            response = error_response(exc)
        except FedwallError as exc:
            response = error_response(from_domain(exc))
        if verdict is not None:
            response.headers.update(verdict.headers())
        return response

    view.__name__ = f"{endpoint.handler.__module__.rsplit('.', 1)[-1]}_{endpoint.handler.__name__}"
    return view


def to_response(api: Api, reply: Reply) -> Response:
    if isinstance(reply, Response):
        return reply
    if isinstance(reply, Paged):
        response = json_response(reply.items)
        link = link_header(api.site.base_url, reply)
        if link:
            response.headers["Link"] = link
        return response
    return json_response(reply)
