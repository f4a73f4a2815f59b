"""The outbound HTTP client: SSRF guard on resolved addresses, redirects, size and time caps.

Every test talks to a real HTTP server on 127.0.0.1. Where a test needs a "public"
peer while loopback is forbidden, a resolver maps a made-up name to a public address
and a dialer routes that address to the local server: the guard sees the public
address, exactly as it would in production.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from federation.http import (
    IPAddress,
    OutboundError,
    OutboundHttp,
    OutboundRefused,
    OutboundTimeout,
    OutboundTooLarge,
    is_forbidden_address,
)

PRETEND_PUBLIC = ipaddress.ip_address("93.184.215.14")
INTERNAL = ipaddress.ip_address("10.0.0.7")
USER_AGENT = "fedwall-test/1.0"


# --- a minimal HTTP/1.1 server -------------------------------------------------------------


@dataclass
class ReceivedRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[ReceivedRequest, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class LocalServer:
    port: int
    connections: int = 0
    requests: list[ReceivedRequest] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


async def _read_request(reader: asyncio.StreamReader) -> ReceivedRequest:
    head = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return ReceivedRequest(method, target, headers, body)


@asynccontextmanager
async def serve(
    respond: Responder, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[LocalServer]:
    """Serve one request per connection on an ephemeral 127.0.0.1 port."""
    handlers: set[asyncio.Task[None]] = set()
    state = LocalServer(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        state.connections += 1
        try:
            request = await _read_request(reader)
            state.requests.append(request)
            await respond(request, writer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client went away, which several tests make it do
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def reply(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Responder:
    async def respond(_request: ReceivedRequest, writer: asyncio.StreamWriter) -> None:
        all_headers = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
        writer.write(head.encode("latin-1") + b"\r\n" + body)

    return respond


def redirect(location: str, status: int = 302) -> Responder:
    return reply(status, headers={"Location": location})


# --- test seams: a name resolver and a dialer that routes pretend addresses to local ports --


def resolver_for(
    table: dict[str, Sequence[IPAddress]],
) -> Callable[..., Awaitable[Sequence[IPAddress]]]:
    async def resolve(host: str, _port: int) -> Sequence[IPAddress]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


class RoutingDialer(httpcore.AsyncNetworkBackend):
    """Dials 127.0.0.1 in place of the addresses in ``routes`` and records what it was asked."""

    def __init__(self, routes: dict[IPAddress, int]) -> None:
        self.routes = routes
        self.dialed: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialed.append((host, port))
        local_port = self.routes[ipaddress.ip_address(host)]
        return await self._real.connect_tcp("127.0.0.1", local_port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def client(allow_private_networks: bool = False, **options: Any) -> OutboundHttp:
    return OutboundHttp(
        allow_private_networks=allow_private_networks, user_agent=USER_AGENT, **options
    )


def peer_client(
    port: int, extra_names: dict[str, Sequence[IPAddress]] | None = None, **options: Any
) -> tuple[OutboundHttp, RoutingDialer]:
    """A guarded client (loopback forbidden) on which ``peer.example`` is a public host
    served by the local server on ``port``."""
    dialer = RoutingDialer({PRETEND_PUBLIC: port})
    resolver = resolver_for({"peer.example": [PRETEND_PUBLIC], **(extra_names or {})})
    return client(resolver=resolver, network_backend=dialer, **options), dialer


# --- the address policy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),  # noqa: S104 -- an address under test, nothing binds to it
        ("0.1.2.3", True),
        ("255.255.255.255", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("192.0.0.8", True),
        ("192.0.2.1", True),
        ("198.51.100.1", True),
        ("203.0.113.1", True),
        ("198.18.0.1", True),
        ("::", True),
        ("::1", True),
        ("fc00::1", True),
        ("fd12:3456::1", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("fec0::1", True),
        ("ff02::1", True),
        ("2001:db8::1", True),
        ("2001::1", True),
        ("64:ff9b:1::a00:1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:169.254.169.254", True),
        ("::127.0.0.1", True),
        ("64:ff9b::a00:1", True),
        ("64:ff9b::7f00:1", True),
        ("2002:7f00:1::", True),
        ("2002:a00:1::1", True),
        ("93.184.215.14", False),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("2a00:1450:4001:80b::200e", False),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::808:808", False),
        ("2002:808:808::1", False),
    ],
)
def test_forbidden_address_table(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address)) is forbidden


# --- refusals before connecting ------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "127.1"]
)
async def test_loopback_in_any_spelling_is_refused_before_any_connection(host: str) -> None:
    async with serve(reply(200, b"secret")) as server, client() as http:
        with pytest.raises(OutboundRefused, match="non-public"):
            await http.get(server.url(host=host))
    assert server.connections == 0


async def test_name_with_any_forbidden_address_is_refused() -> None:
    dialer = RoutingDialer({})
    resolver = resolver_for({"mixed.example": [PRETEND_PUBLIC, INTERNAL]})
    async with client(resolver=resolver, network_backend=dialer) as http:
        with pytest.raises(OutboundRefused):
            await http.get("http://mixed.example/")
    assert dialer.dialed == []


@pytest.mark.parametrize(
    "url", ["ftp://peer.example/file", "file:///etc/passwd", "gopher://peer.example/"]
)
async def test_schemes_other_than_http_and_https_are_refused(url: str) -> None:
    async with client() as http:
        with pytest.raises(OutboundRefused, match="scheme"):
            await http.get(url)


async def test_url_with_userinfo_is_refused_without_echoing_it() -> None:
    async with serve(reply(200)) as server, client(allow_private_networks=True) as http:
        with pytest.raises(OutboundRefused) as refused:
            await http.get(f"http://admin:hunter2@127.0.0.1:{server.port}/")
    assert "hunter2" not in refused.value.reason
    assert server.connections == 0


# --- allowed requests ----------------------------------------------------------------------


async def test_loopback_is_reachable_when_private_networks_are_allowed() -> None:
    async with serve(reply(200, b"hello")) as server, client(allow_private_networks=True) as http:
        response = await http.get(server.url("/actor"), headers={"Accept": "application/json"})
    assert (response.status, response.body) == (200, b"hello")
    assert response.final_url == server.url("/actor")
    assert server.requests[0].headers["user-agent"] == USER_AGENT
    assert server.requests[0].headers["accept"] == "application/json"


async def test_connection_goes_to_the_checked_address_with_the_original_host_header() -> None:
    async with serve(reply(200, b"ok")) as server:
        http, dialer = peer_client(server.port)
        async with http:
            response = await http.get("http://peer.example:8080/inbox")
    assert response.status == 200
    assert dialer.dialed == [(str(PRETEND_PUBLIC), 8080)]
    assert server.requests[0].headers["host"] == "peer.example:8080"


async def test_post_sends_the_body_and_does_not_follow_redirects() -> None:
    async with (
        serve(redirect("/elsewhere", status=307)) as server,
        client(allow_private_networks=True) as http,
    ):
        response = await http.post(
            server.url("/inbox"), {"Content-Type": "application/activity+json"}, b'{"a":1}'
        )
    assert response.status == 307
    assert [(r.method, r.target, r.body) for r in server.requests] == [
        ("POST", "/inbox", b'{"a":1}')
    ]


async def test_gzip_body_is_decoded() -> None:
    compressed = gzip.compress(b'{"type":"Note"}')
    respond = reply(200, compressed, {"Content-Encoding": "gzip"})
    async with serve(respond) as server, client(allow_private_networks=True) as http:
        response = await http.get(server.url())
    assert response.body == b'{"type":"Note"}'


# --- redirects -----------------------------------------------------------------------------


async def test_redirects_are_followed_within_the_limit() -> None:
    async def respond(request: ReceivedRequest, writer: asyncio.StreamWriter) -> None:
        hops = {"/a": redirect("/b", 301), "/b": redirect("/c", 308), "/c": reply(200, b"end")}
        await hops[request.target](request, writer)

    async with (
        serve(respond) as server,
        client(allow_private_networks=True, max_redirects=2) as http,
    ):
        response = await http.get(server.url("/a"))
    assert (response.status, response.body, response.final_url) == (200, b"end", server.url("/c"))


async def test_redirects_beyond_the_limit_are_refused() -> None:
    async with (
        serve(redirect("/again")) as server,
        client(allow_private_networks=True, max_redirects=2) as http,
    ):
        with pytest.raises(OutboundError, match="more than 2 redirects"):
            await http.get(server.url())
    assert len(server.requests) == 3


async def test_redirect_to_a_name_resolving_to_a_private_address_is_refused() -> None:
    async with (
        serve(reply(200, b"internal")) as canary,
        serve(redirect(f"http://internal.example:{canary.port}/admin")) as origin,
    ):
        http, dialer = peer_client(origin.port, {"internal.example": [INTERNAL]})
        async with http:
            with pytest.raises(OutboundRefused, match=r"internal\.example"):
                await http.get("http://peer.example/actor")
    assert len(origin.requests) == 1
    assert dialer.dialed == [(str(PRETEND_PUBLIC), 80)]
    assert canary.connections == 0


async def test_redirect_to_a_loopback_literal_is_refused() -> None:
    async with (
        serve(reply(200, b"internal")) as canary,
        serve(redirect(canary.url("/admin"))) as origin,
    ):
        http, _dialer = peer_client(origin.port)
        async with http:
            with pytest.raises(OutboundRefused, match="non-public"):
                await http.get("http://peer.example/actor")
    assert canary.connections == 0


async def test_credentials_are_not_forwarded_to_another_origin() -> None:
    async with (
        serve(reply(200)) as second,
        serve(redirect(second.url("/landing"))) as first,
        client(allow_private_networks=True) as http,
    ):
        await http.get(
            first.url(),
            headers={"Authorization": "Bearer t", "Signature": "sig", "Accept": "a/b"},
        )
    assert first.requests[0].headers["authorization"] == "Bearer t"
    forwarded = second.requests[0].headers
    assert "authorization" not in forwarded
    assert "signature" not in forwarded
    assert forwarded["accept"] == "a/b"


# --- size and time caps --------------------------------------------------------------------


async def test_streamed_response_larger_than_the_cap_is_rejected() -> None:
    async def respond(_request: ReceivedRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(20):
            writer.write(b"x" * 1000)
            await writer.drain()

    async with (
        serve(respond) as server,
        client(allow_private_networks=True, max_response_bytes=5000) as http,
    ):
        with pytest.raises(OutboundTooLarge, match="exceeds 5000 bytes"):
            await http.get(server.url())


async def test_announced_content_length_over_the_cap_is_rejected_before_reading() -> None:
    respond = reply(200, b"y" * 6000)
    async with (
        serve(respond) as server,
        client(allow_private_networks=True, max_response_bytes=5000) as http,
    ):
        with pytest.raises(OutboundTooLarge, match="announces 6000 bytes"):
            await http.get(server.url())


async def test_compression_bomb_is_rejected_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=9)
    respond = reply(200, bomb, {"Content-Encoding": "gzip"})
    async with (
        serve(respond) as server,
        client(allow_private_networks=True, max_response_bytes=100_000) as http,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(OutboundTooLarge):
                await http.get(server.url())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 5_000_000


async def test_unsupported_content_encoding_is_an_error() -> None:
    respond = reply(200, b"\x0b\x02\x80hi\x03", {"Content-Encoding": "br"})
    async with serve(respond) as server, client(allow_private_networks=True) as http:
        with pytest.raises(OutboundError, match="content-encoding"):
            await http.get(server.url())


async def test_silent_server_triggers_the_read_timeout() -> None:
    async def respond(_request: ReceivedRequest, _writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with serve(respond) as server, client(allow_private_networks=True, timeout=0.2) as http:
        with pytest.raises(OutboundTimeout):
            await http.get(server.url())


async def test_trickling_server_triggers_the_total_timeout() -> None:
    async def respond(_request: ReceivedRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            writer.write(b"z")
            await writer.drain()
            await asyncio.sleep(0.02)

    async with (
        serve(respond) as server,
        client(allow_private_networks=True, timeout=1.0, total_timeout=0.3) as http,
    ):
        with pytest.raises(OutboundTimeout, match=r"longer than 0\.3 s"):
            await http.get(server.url())


async def test_refused_connection_is_an_outbound_error() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    async with client(allow_private_networks=True) as http:
        with pytest.raises(OutboundError, match="ConnectError") as failed:
            await http.get(f"http://127.0.0.1:{port}/")
    assert not isinstance(failed.value, OutboundRefused)


async def test_unresolvable_name_is_an_outbound_error() -> None:
    async with client(resolver=resolver_for({})) as http:
        with pytest.raises(OutboundError, match="cannot resolve"):
            await http.get("http://nowhere.example/")


# --- TLS: verified against the host name while dialing the checked address -----------------


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path, host: str) -> TlsFiles:
    """A throwaway CA and a server certificate for ``host`` signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedwall test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def server_tls(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    return context


def client_tls(files: TlsFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(files.ca))


async def test_https_verifies_the_certificate_for_the_host_name_not_the_address(
    tmp_path: Path,
) -> None:
    files = make_tls_files(tmp_path, "peer.example")
    async with serve(reply(200, b"tls"), ssl_context=server_tls(files)) as server:
        http, dialer = peer_client(server.port, ssl_context=client_tls(files))
        async with http:
            response = await http.get("https://peer.example/actor")
    assert (response.status, response.body) == (200, b"tls")
    assert dialer.dialed == [(str(PRETEND_PUBLIC), 443)]


async def test_https_to_a_host_with_a_certificate_for_another_name_fails(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path, "other.example")
    async with serve(reply(200, b"tls"), ssl_context=server_tls(files)) as server:
        http, _dialer = peer_client(server.port, ssl_context=client_tls(files))
        async with http:
            with pytest.raises(OutboundError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get("https://peer.example/actor")
    assert server.requests == []


async def test_redirect_from_https_to_plain_http_is_refused(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path, "peer.example")
    respond = redirect("http://peer.example/actor")
    async with serve(respond, ssl_context=server_tls(files)) as server:
        http, dialer = peer_client(server.port, ssl_context=client_tls(files))
        async with http:
            with pytest.raises(OutboundRefused, match="plain http"):
                await http.get("https://peer.example/actor")
    assert len(dialer.dialed) == 1
