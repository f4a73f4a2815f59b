"""The ActivityPub adapter: protocol in and out of a node.

:func:`register` is called by the composition root (``node/app.py``); it adds
the federation endpoints to the app, plugs remote-handle resolution into the
node's services and registers the background workers (inbox processing,
outbox → deliveries, delivery sending).
"""

from __future__ import annotations

import asyncio
import logging

from quart import Quart, abort, g, request

from federation.actors import ActorDirectory
from federation.backoff import RetryPolicy
from federation.boundary import Boundary, refused_peer
from federation.client import FederationClient, authority_of
from federation.delivery import DeliveryWorker, OutboxProcessor
from federation.errors import SignatureError
from federation.http import OutboundHttp
from federation.inbox import InboxProcessor, InboxWriter, request_view
from federation.keys import KeyStore, Signer
from federation.verify import KeyUnavailable, RequestVerifier
from node.models import Account
from node.policy import explain
from node.runtime import Runtime
from node.services.accounts import NODE_ACTOR_USERNAME
from node.services.policy import count_crossing, note_peer_request

log = logging.getLogger(__name__)

VERSION = "0.1.0"


class Federation:
    """The federation machinery of one node."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.http = OutboundHttp(
            allow_private_networks=settings.allow_private_networks,
            user_agent=f"Fedwall/{VERSION} (+{settings.base_url})",
        )
        self.keys = KeyStore()
        self.client = FederationClient(self.http)
        self.directory: ActorDirectory | None = None
        self.verifier: RequestVerifier | None = None
        self.inbox_wake = asyncio.Event()
        self.inbox_writer = InboxWriter(self.inbox_wake)
        self.delivery_wake = asyncio.Event()
        self.retry = RetryPolicy(
            base_seconds=settings.delivery_retry_base,
            cap_seconds=settings.delivery_retry_cap,
            max_age_seconds=settings.delivery_max_age,
        )

    async def start(self) -> None:
        """Load the node actor's key and wire resolution into the services."""
        settings = self.runtime.settings
        node_actor = await Account.get(username=NODE_ACTOR_USERNAME, domain="")
        signer: Signer = await self.keys.signer_for(node_actor)
        scheme = "http" if settings.is_development and settings.scheme == "http" else "https"
        self.directory = ActorDirectory(self.runtime.site, self.client, self.keys, signer, scheme)
        self.verifier = RequestVerifier(self.keys, self.directory, settings.signature_max_skew)
        self.runtime.site.resolve_remote = self.directory.resolve_handle

    async def stop(self) -> None:
        await self.http.aclose()

    async def fetch_guard(self, kind: str) -> None:
        """Admit an ActivityPub GET: signed by a verifiable key, from a peer the policy admits.

        Signatures are required when ``require_signed_fetch`` is set, and always in
        allowlist mode. The verified requester's :class:`Boundary` is left in ``g``
        for the handler's per-object decisions (labels, profile fields).
        """
        policy = self.runtime.site.policy
        snapshot = await policy.current()
        signed = "signature" in request.headers or "signature-input" in request.headers
        must_sign = (
            self.runtime.settings.require_signed_fetch or snapshot.federation_mode == "allowlist"
        )
        if not signed and not must_sign:
            return
        assert self.verifier is not None
        view = request_view(self.runtime.settings.base_url)
        try:
            key = await self.verifier.verify(view)
        except (SignatureError, KeyUnavailable) as exc:
            log.info("signed fetch of %s refused: %s", view.url, exc.reason)
            abort(401, f"signed fetch required: {exc.reason}")
        peer = authority_of(key.owner_uri)
        boundary = Boundary(policy, peer)
        decision = await boundary.admits("profile_lookups" if kind == "actor" else "posts")
        if refused_peer(decision):
            await note_peer_request(peer, f"GET {view.url}")
            await count_crossing(peer, "outbound", False)
            log.info("signed fetch of %s by %s refused: %s", view.url, peer, explain(decision))
            abort(403, f"this node does not share data with {peer}")
        g.requester = key
        g.boundary = boundary


def register(app: Quart, runtime: Runtime) -> Federation:
    """Add federation endpoints and workers to a node's app."""
    from federation import discovery, inbox

    federation = Federation(runtime)
    runtime.on_start.append(federation.start)
    runtime.on_stop.append(federation.stop)
    settings = runtime.settings

    class _LazyVerifier:
        # The verifier exists once the node has started; the blueprint is built before.
        async def verify(self, view, *, fetch_unknown: bool = True):  # type: ignore[no-untyped-def]
            assert federation.verifier is not None
            return await federation.verifier.verify(view, fetch_unknown=fetch_unknown)

    app.register_blueprint(discovery.build_blueprint(runtime, federation.fetch_guard))
    app.register_blueprint(
        inbox.build_blueprint(
            settings.base_url,
            settings.domain,
            _LazyVerifier(),  # type: ignore[arg-type]
            settings.inbox_max_bytes,
            federation.inbox_wake,
            runtime.site.policy,
            federation.inbox_writer,
        )
    )

    async def inbox_worker(stopping: asyncio.Event) -> None:
        assert federation.verifier is not None and federation.directory is not None
        processor = InboxProcessor(
            federation.verifier,
            runtime.site,
            federation.directory,
            federation.inbox_wake,
            writer=federation.inbox_writer,
        )
        await processor.run(stopping)

    async def outbox_worker(stopping: asyncio.Event) -> None:
        await OutboxProcessor(runtime.site, runtime.db.dialect, federation.delivery_wake).run(
            stopping
        )

    async def delivery_worker(stopping: asyncio.Event) -> None:
        worker = DeliveryWorker(
            federation.client,
            federation.keys,
            federation.retry,
            runtime.db.dialect,
            federation.delivery_wake,
        )
        await worker.run(stopping)

    runtime.add_worker("inbox", inbox_worker)
    runtime.add_worker("outbox", outbox_worker)
    runtime.add_worker("deliveries", delivery_worker)
    app.extensions["fedwall.federation"] = federation
    return federation
