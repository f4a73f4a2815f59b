"""The one outbound HTTP client of a node, guarded against server-side request forgery.

Every fetch (actors, objects, WebFinger) and every delivery goes through one
:class:`OutboundHttp`, which owns one pooled ``httpx.AsyncClient``. Its guard runs
at connect time, on the resolved address: the network backend resolves the host
name itself, refuses the connection if any address is non-public (see
:func:`is_forbidden_address`), and then dials the very address it checked. So no
second DNS lookup can rebind the name, every redirect hop and every new pooled
connection is checked, and since the URL is never rewritten the Host header, TLS
SNI and certificate verification all still use the host name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import zlib
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpcore
import httpx

from federation.errors import OutboundError, OutboundRefused, OutboundTimeout, OutboundTooLarge

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Maps (host name, port) to the addresses to check and dial, in preference order."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that carry the caller's credentials; never forwarded to another origin.
_CREDENTIAL_HEADERS = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "signature",
    "signature-input",
)
_DECODABLE_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})
_MAX_REASON_DETAIL = 200


# --- the address policy (pure) -------------------------------------------------------------

_FORBIDDEN_IPV4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, including cloud metadata services
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including 255.255.255.255 broadcast
    )
)
# IPv6 is judged by allow-list: only global unicast space, minus the blocks below.
_GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
_FORBIDDEN_IPV6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _IPV4_COMPATIBLE or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_forbidden_address(ip: IPAddress) -> bool:
    """True if a node must not connect to ``ip`` unless private networks are allowed.

    Refuses loopback, private, CGNAT, link-local, multicast, reserved, unspecified,
    broadcast, benchmarking and documentation ranges; IPv6 forms that embed an IPv4
    address are judged by that IPv4 address, and other IPv6 outside 2000::/3 is refused.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return any(ip in net for net in _FORBIDDEN_IPV4)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_forbidden_address(embedded)
    if ip not in _GLOBAL_UNICAST_IPV6:
        return True
    return any(ip in net for net in _FORBIDDEN_IPV6)


# --- the guarded network backend -----------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` with the event loop's ``getaddrinfo``; order kept, duplicates dropped."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then dials a checked address (never the name)."""

    def __init__(
        self,
        *,
        allow_private_networks: bool,
        resolver: Resolver,
        dialer: httpcore.AsyncNetworkBackend,
    ) -> None:
        self._allow_private_networks = allow_private_networks
        self._resolver = resolver
        self._dialer = dialer

    async def _resolve(self, host: str, port: int, timeout: float | None) -> Sequence[IPAddress]:
        with contextlib.suppress(ValueError):
            return [ipaddress.ip_address(host)]
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolver(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        # One bad address refuses the host: a name that mixes public and internal
        # addresses is an attack or a misconfiguration, either way not a peer.
        if not self._allow_private_networks and any(map(is_forbidden_address, addresses)):
            raise OutboundRefused(f"host {host} resolves to a non-public address")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._dialer.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses is never empty
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not used for outbound requests")

    async def sleep(self, seconds: float) -> None:
        await self._dialer.sleep(seconds)


# httpx's own transport cannot take a network backend, so this is the same thin
# adapter over httpcore's pool, with httpcore errors mapped to httpx's.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except tuple(core for core, _ in _HTTPCORE_TO_HTTPX) as exc:
        mapped = next(mapped for core, mapped in _HTTPCORE_TO_HTTPX if isinstance(exc, core))
        raise mapped(str(exc)) from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close: Callable[[], Awaitable[None]] | None = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class _GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, backend: httpcore.AsyncNetworkBackend, ssl_context: ssl.SSLContext) -> None:
        limits = httpx.Limits()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("the outbound transport only sends async request bodies")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            core_response = await self._pool.handle_async_request(core_request)
        if not isinstance(core_response.stream, AsyncIterable):
            raise TypeError("httpcore returned a synchronous response stream")
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


# --- the client ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A complete response: status, headers (case-insensitive), decoded body, and final URL."""

    status: int
    headers: httpx.Headers
    body: bytes
    final_url: str


def _origin(url: httpx.URL) -> str:
    # Error messages name only the origin: paths and queries may carry tokens.
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


def _origin_key(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _checked_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise OutboundRefused("malformed URL") from exc
    if parsed.scheme not in ("http", "https"):
        raise OutboundRefused(f"scheme {parsed.scheme[:20]!r} is not allowed")
    if parsed.userinfo:
        raise OutboundRefused("URLs with user information are not allowed")
    if not parsed.host:
        raise OutboundRefused("URL has no host")
    return parsed


def _redirect_location(method: str, response: httpx.Response) -> str | None:
    """Where to go next, or None when the response is final (only GET follows)."""
    if method != "GET" or response.status_code not in _REDIRECT_STATUSES:
        return None
    return response.headers.get("location") or None


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        joined = current.join(location)
    except httpx.InvalidURL as exc:
        raise OutboundRefused(f"{_origin(current)} redirected to a malformed URL") from exc
    target = _checked_url(joined)
    if current.scheme == "https" and target.scheme == "http":
        raise OutboundRefused(f"{_origin(current)} redirected from https to plain http")
    return target


class _BodyDecoder:
    """Decodes gzip/deflate with bounded output, so a compression bomb cannot inflate memory."""

    def __init__(self, content_encoding: str, limit: int, origin: str) -> None:
        encoding = content_encoding.strip().lower()
        if encoding not in ("", "identity") and encoding not in _DECODABLE_ENCODINGS:
            raise OutboundError(f"{origin} sent unsupported content-encoding {encoding[:20]!r}")
        # wbits MAX_WBITS|32 accepts both gzip and zlib framing.
        self._inflater = (
            zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding in _DECODABLE_ENCODINGS else None
        )
        self._limit = limit
        self._origin = origin
        self._raw_size = 0
        self._parts: list[bytes] = []
        self._size = 0

    def _keep(self, part: bytes) -> None:
        self._size += len(part)
        if self._size > self._limit:
            raise OutboundTooLarge(f"response from {self._origin} exceeds {self._limit} bytes")
        self._parts.append(part)

    def feed(self, chunk: bytes) -> None:
        # Raw bytes count too: a stream that decodes to nothing must still end.
        self._raw_size += len(chunk)
        if self._raw_size > self._limit:
            raise OutboundTooLarge(f"response from {self._origin} exceeds {self._limit} bytes")
        if self._inflater is None:
            self._keep(chunk)
            return
        try:
            # One byte more than allowed is enough to know the body is too large.
            self._keep(self._inflater.decompress(chunk, self._limit - self._size + 1))
        except zlib.error as exc:
            raise OutboundError(
                f"response from {self._origin} is not valid compressed data"
            ) from exc

    def body(self) -> bytes:
        if self._inflater is not None:
            try:
                self._keep(self._inflater.flush())
            except zlib.error as exc:
                raise OutboundError(f"response from {self._origin} is truncated") from exc
        return b"".join(self._parts)


class OutboundHttp:
    """The node's pooled outbound HTTP client; refuses non-public addresses unless allowed.

    ``timeout`` bounds each connect, read, write and pool wait; ``total_timeout``
    (default three times ``timeout``) bounds a whole call including redirects and the
    body. ``resolver`` and ``network_backend`` (which dials an already-checked IP)
    are seams for tests. An injected ``transport`` replaces the network layer and
    with it the address guard; only tests should pass one. Environment proxy
    settings are ignored: through a proxy the guard would judge the proxy's address.
    """

    def __init__(
        self,
        *,
        allow_private_networks: bool,
        user_agent: str,
        timeout: float = 10.0,
        total_timeout: float | None = None,
        max_response_bytes: int = 1_000_000,
        max_redirects: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if transport is None:
            backend = _GuardedBackend(
                allow_private_networks=allow_private_networks,
                resolver=resolver or system_resolver,
                dialer=network_backend or httpcore.AnyIOBackend(),
            )
            transport = _GuardedTransport(backend, ssl_context or httpx.create_ssl_context())
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip"},
        )
        self._total_timeout = total_timeout if total_timeout is not None else 3 * timeout
        self._max_response_bytes = max_response_bytes
        self._max_redirects = max_redirects

    async def get(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        """GET ``url``, following up to ``max_redirects`` redirects, each hop guarded.

        Credential headers (Authorization, Signature, Cookie) are dropped when a
        redirect leaves the origin, and an https to http redirect is refused.
        """
        return await self._send("GET", url, headers, None)

    async def post(self, url: str, headers: Mapping[str, str] | None, content: bytes) -> Response:
        """POST ``content`` to ``url``; a redirect response is returned, not followed."""
        return await self._send("POST", url, headers, content)

    async def aclose(self) -> None:
        """Close pooled connections; the client cannot be used afterwards."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str] | None, content: bytes | None
    ) -> Response:
        target = _checked_url(url)
        try:
            async with asyncio.timeout(self._total_timeout):
                return await self._follow(method, target, httpx.Headers(headers), content)
        except TimeoutError as exc:
            raise OutboundTimeout(
                f"{method} to {_origin(target)} took longer than {self._total_timeout} s"
            ) from exc

    async def _follow(
        self, method: str, target: httpx.URL, headers: httpx.Headers, content: bytes | None
    ) -> Response:
        for _hop in range(self._max_redirects + 1):
            async with self._exchange(method, target, headers, content) as streamed:
                location = _redirect_location(method, streamed)
                if location is None:
                    body = await self._read_body(streamed, _origin(target))
                    return Response(streamed.status_code, streamed.headers, body, str(target))
            next_target = _redirect_target(target, location)
            if _origin_key(next_target) != _origin_key(target):
                for name in _CREDENTIAL_HEADERS:
                    headers.pop(name, None)
            target = next_target
        raise OutboundError(f"more than {self._max_redirects} redirects from {_origin(target)}")

    @contextlib.asynccontextmanager
    async def _exchange(
        self, method: str, target: httpx.URL, headers: httpx.Headers, content: bytes | None
    ) -> AsyncIterator[httpx.Response]:
        request = self._client.build_request(method, target, headers=headers, content=content)
        try:
            streamed = await self._client.send(request, stream=True)
            try:
                yield streamed
            finally:
                await streamed.aclose()
        except httpx.TimeoutException as exc:
            raise OutboundTimeout(f"{method} to {_origin(target)} timed out") from exc
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"[:_MAX_REASON_DETAIL]
            raise OutboundError(f"{method} to {_origin(target)} failed ({detail})") from exc

    async def _read_body(self, streamed: httpx.Response, origin: str) -> bytes:
        announced = streamed.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > self._max_response_bytes:
            raise OutboundTooLarge(
                f"response from {origin} announces {announced} bytes,"
                f" more than {self._max_response_bytes}"
            )
        decoder = _BodyDecoder(
            streamed.headers.get("content-encoding", ""), self._max_response_bytes, origin
        )
        async for chunk in streamed.aiter_raw():
            decoder.feed(chunk)
        return decoder.body()


__all__ = [
    "IPAddress",
    "OutboundError",
    "OutboundHttp",
    "OutboundRefused",
    "OutboundTimeout",
    "OutboundTooLarge",
    "Resolver",
    "Response",
    "is_forbidden_address",
    "system_resolver",
]
