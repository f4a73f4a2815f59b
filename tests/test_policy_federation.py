"""The boundary policy between real nodes, asserted on what the RECEIVING node stored.

Three nodes: ``a`` (the head office, whose policy is under test), ``b`` (cleared for
``internal``) and ``c`` (cleared for ``confidential``). Each test stores the policy
it needs on ``a``; the running node picks it up without a restart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.signatures import load_private_key_pem, sign_request
from node.models import (
    Account,
    AuditEntry,
    Delivery,
    Follow,
    Group,
    GroupMembership,
    InboxItem,
    KeyPair,
    PeerRequest,
    Post,
)
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.multinode import NodeProcess, wait_for

pytestmark = pytest.mark.multinode

LABELS = (
    'labels = ["public", "internal", "confidential", "restricted"]\ndefault_label = "internal"\n'
)


def policy(peers: dict[str, str], rules: str = "", profile: dict[str, str] | None = None) -> str:
    """An allowlist policy: ``peers`` maps domain → outbound clearance."""
    text = 'federation_mode = "allowlist"\n' + LABELS
    for domain, clearance in peers.items():
        fields = (profile or {}).get(domain, "[]")
        text += (
            f'\n[[peers]]\ndomain = "{domain}"\nstatus = "allowed"\n'
            f'outbound = {{ max_label = "{clearance}", profile_fields = {fields} }}\n'
            'inbound = { max_label = "restricted" }\n'
        )
    return text + rules


@dataclass
class Nodes:
    a: NodeProcess
    b: NodeProcess
    c: NodeProcess

    async def set_policy(self, source: str) -> None:
        await self.a.apply_policy(source)

    def default_policy(self, rules: str = "", profile: dict[str, str] | None = None) -> str:
        return policy({self.b.domain: "internal", self.c.domain: "confidential"}, rules, profile)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Nodes]:
    root = tmp_path_factory.mktemp(f"policy-{request.param}")
    urls: list[str | None] = [None, None, None]
    if request.param == "postgres":
        urls = [await create_postgres_database("fedwall_policy") for _ in range(3)]
    a, b, c = (NodeProcess(name, root, url) for name, url in zip("abc", urls, strict=True))
    try:
        await a.create({"alice": {}, "dave": {}})
        await b.create({"bob": {}})
        await c.create({"carol": {}})
        result = Nodes(a, b, c)
        await result.set_policy(result.default_policy())
        await b.allow_peers([a.domain, c.domain])
        await c.allow_peers([a.domain, b.domain])
        for node in (a, b, c):
            await node.start()
        # bob and carol follow alice; bob follows carol (to see carol's shares).
        for node, user, target in ((b, "bob", a.handle("alice")), (c, "carol", a.handle("alice")),
                                   (b, "bob", c.handle("carol")), (b, "bob", a.handle("dave")),
                                   (c, "carol", a.handle("dave"))):  # fmt: skip
            browser = await node.browser(user)
            try:
                await browser.follow(target)
            finally:
                await browser.close()
        for follower, user, target in ((b, "bob", "alice"), (b, "bob", "dave"),
                                       (c, "carol", "alice"), (c, "carol", "dave")):  # fmt: skip
            await wait_for(partial(_accepted, follower, follower.actor(user), a.actor(target)))
        yield result
    finally:
        for node in (a, b, c):
            await node.close()
        for url in urls:
            if url is not None:
                await drop_postgres_database(url)


async def _accepted(node: NodeProcess, follower: str, followee: str) -> bool:
    async def check() -> bool:
        return await Follow.filter(
            follower__uri=follower, followee__uri=followee, state="accepted"
        ).exists()

    return await node.query(check)


async def post_as(node: NodeProcess, username: str, text: str, label: str = "internal") -> str:
    browser = await node.browser(username)
    try:
        await browser.submit("/posts", text=text, visibility="public", label=label)
    finally:
        await browser.close()
    found = await node.query(
        lambda: Post.filter(content_source=text, local=True, author__username=username).first()
    )
    assert found is not None
    return found.uri


async def drained(node: NodeProcess) -> bool:
    async def check() -> bool:
        return not await Delivery.filter(state__in=("pending", "in_flight", "retrying")).exists()

    return await node.query(check)


async def signed(
    node: NodeProcess, username: str, method: str, url: str, body: bytes = b""
) -> httpx.Response:
    pair = await node.query(lambda: KeyPair.get(account__username=username, account__domain=""))
    assert pair.private_pem is not None
    headers = {"Accept": "application/activity+json"}
    if body:
        headers = {"Content-Type": "application/activity+json"}
    headers = sign_request(method, url, headers, body, pair.key_id,
                           load_private_key_pem(pair.private_pem), dt.datetime.now(dt.UTC))  # type: ignore[arg-type]  # fmt: skip
    async with httpx.AsyncClient() as client:
        return await client.request(method, url, content=body or None, headers=headers)


# ---------------------------------------------------------------- 1. allowlist


async def test_node_not_on_the_allowlist_can_neither_deliver_nor_fetch_until_approved(
    nodes: Nodes,
) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    await nodes.set_policy(policy({b.domain: "internal"}))  # c is not on a's allowlist
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{c.url}/follows/allowlist-test", "type": "Follow",
        "actor": c.actor("carol"), "object": a.actor("dave"),
    }  # fmt: skip
    items_before = await a.query(lambda: InboxItem.all().count())
    refused = await signed(c, "carol", "POST", f"{a.url}/inbox", orjson.dumps(follow))
    assert refused.status_code == 403
    assert "peering request" in refused.json()["error"]
    fetch = await signed(c, "carol", "GET", a.actor("alice"))
    assert fetch.status_code == 403
    assert await a.query(lambda: InboxItem.all().count()) == items_before
    request = await a.query(lambda: PeerRequest.get_or_none(domain=c.domain))
    assert request is not None and request.state == "pending" and request.attempt_count >= 2
    assert any("Follow" in attempt["tried"] for attempt in request.attempts)
    denied = await a.query(
        lambda: AuditEntry.filter(
            peer_domain=c.domain, direction="inbound", decision="deny"
        ).exists()
    )
    assert denied

    await nodes.set_policy(nodes.default_policy())  # the admin approves the agreement
    await wait_for(lambda: _fetch_ok(c, a), timeout=10)
    accepted = await signed(
        c, "carol", "POST", f"{a.url}/inbox", orjson.dumps({**follow, "id": follow["id"] + "-2"})
    )
    assert accepted.status_code == 202


async def _fetch_ok(c: NodeProcess, a: NodeProcess) -> bool:
    return (await signed(c, "carol", "GET", a.actor("alice"))).status_code == 200


# ---------------------------------------------------------------- 2. labels


async def test_confidential_post_reaches_only_the_cleared_peer_and_its_reshare_does_not_leak(
    nodes: Nodes,
) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    await nodes.set_policy(nodes.default_policy())
    uri = await post_as(a, "alice", "Q3 acquisition shortlist (confidential)", label="confidential")
    stored_on_c = await wait_for(lambda: c.post_by_uri(uri))
    assert stored_on_c.label == "confidential"
    await wait_for(lambda: drained(a))
    assert await b.post_by_uri(uri) is None
    assert await a.query(
        lambda: AuditEntry.filter(
            peer_domain=b.domain, object_id=f"{uri}/activity", decision="deny"
        ).exists()
    )

    carol = await c.browser("carol")
    try:
        await carol.submit(f"/posts/{stored_on_c.id}/share")
    finally:
        await carol.close()
    await wait_for(lambda: drained(c))
    announce_arrived = await wait_for(lambda: _announce_seen_by(b, c))
    assert announce_arrived
    assert await b.post_by_uri(uri) is None, "the uncleared node obtained the confidential post"


async def _announce_seen_by(b: NodeProcess, c: NodeProcess) -> bool:
    async def check() -> bool:
        return (
            await InboxItem.filter(actor_uri=c.actor("carol"), body__contains='"Announce"')
            .exclude(state="pending")
            .exists()
        )

    return await b.query(check)


# ---------------------------------------------------------------- 3. redaction per destination


async def test_card_number_is_redacted_for_one_peer_only(nodes: Nodes) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    rules = f"""
[[content_rules]]
id = "redact-cards-for-sales"
matchers = [{{ type = "card_number" }}]
action = "redact"
scope = {{ directions = ["outbound"], peers = {{ only = ["{b.domain}"] }} }}
"""
    await nodes.set_policy(nodes.default_policy(rules))
    uri = await post_as(a, "alice", "Refund to card 4111 1111 1111 1111 approved")
    on_b = await wait_for(lambda: b.post_by_uri(uri))
    on_c = await wait_for(lambda: c.post_by_uri(uri))
    assert "4111" not in on_b.content_html and "redacted" in on_b.content_html
    assert "4111 1111 1111 1111" in on_c.content_html


# ---------------------------------------------------------------- 5. group rules


async def test_group_rule_stops_a_legal_members_post_while_a_colleagues_identical_post_crosses(
    nodes: Nodes,
) -> None:
    a, b = nodes.a, nodes.b

    async def alice_in_legal() -> None:
        legal, _ = await Group.get_or_create(name="legal")
        alice = await Account.get(username="alice", domain="")
        await GroupMembership.get_or_create(group=legal, account=alice)

    await a.query(alice_in_legal)
    rules = """
[[group_rules]]
id = "legal-stays-home"
effect = "deny"
kinds = ["posts", "replies"]
scope = { directions = ["outbound"], author_groups = ["legal"] }
"""
    await nodes.set_policy(nodes.default_policy(rules))
    legal_uri = await post_as(a, "alice", "Draft contract terms for the supplier")
    colleague_uri = await post_as(a, "dave", "Draft contract terms for the supplier")
    await wait_for(lambda: b.post_by_uri(colleague_uri))
    await wait_for(lambda: drained(a))
    assert await b.post_by_uri(legal_uri) is None
    audit = await a.query(
        lambda: AuditEntry.filter(object_id=f"{legal_uri}/activity", decision="deny").first()
    )
    assert audit is not None and "legal-stays-home" in audit.rule_ids


# ---------------------------------------------------------------- 6. profile fields


async def test_actor_document_shows_each_peer_the_profile_fields_it_may_see(nodes: Nodes) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c

    async def fill_profile() -> None:
        alice = await Account.get(username="alice", domain="")
        alice.profile_fields = [
            {"name": "Title", "value": "Treasurer"},
            {"name": "Phone", "value": "+33 1 23 45 67 89"},
        ]
        await alice.save()

    await a.query(fill_profile)
    profile = {b.domain: '["title"]', c.domain: '["title", "phone"]'}
    await nodes.set_policy(nodes.default_policy(profile=profile))
    as_b = (await signed(b, "bob", "GET", a.actor("alice"))).json()
    as_c = (await signed(c, "carol", "GET", a.actor("alice"))).json()
    names_b = {item["name"] for item in as_b.get("attachment", [])}
    names_c = {item["name"] for item in as_c.get("attachment", [])}
    assert names_b == {"Title"}
    assert names_c == {"Title", "Phone"}


# ---------------------------------------------------------------- 4. hold and review


async def test_held_post_waits_for_review_and_crosses_only_when_approved(nodes: Nodes) -> None:
    from node.models import Notification, ReviewItem
    from node.services import reviews

    a, b, c = nodes.a, nodes.b, nodes.c
    rules = """
[[content_rules]]
id = "hold-merger-talk"
matchers = [{ type = "keyword", words = ["merger"] }]
action = "hold"
scope = { directions = ["outbound"] }
"""
    await nodes.set_policy(nodes.default_policy(rules))
    uri = await post_as(a, "alice", "The merger timeline is on the wiki")

    async def held_items() -> list[ReviewItem]:
        return await ReviewItem.filter(post__uri=uri, state="held").order_by("peer_domain")

    items = await wait_for(lambda: a.query(held_items))
    assert {item.peer_domain for item in items} == {b.domain, c.domain}
    assert await b.post_by_uri(uri) is None and await c.post_by_uri(uri) is None
    by_peer = {item.peer_domain: item for item in items}
    await a.query(lambda: reviews.approve(by_peer[b.domain].id, reviewer="admin"))
    await a.query(lambda: reviews.reject(by_peer[c.domain].id, reviewer="admin"))
    await wait_for(lambda: b.post_by_uri(uri))
    await wait_for(lambda: drained(a))
    assert await c.post_by_uri(uri) is None

    async def author_notices() -> int:
        return await Notification.filter(
            recipient__username="alice", recipient__domain="", post__uri=uri
        ).count()

    # Told when it was held, and again for each review decision.
    assert await a.query(author_notices) >= 2


# ---------------------------------------------------------------- 8. preview == reality

LABEL_NAMES = ["public", "internal", "confidential", "restricted"]
TEXTS = [
    "Weekly update: all green",
    "Card on file 4111 1111 1111 1111 for the refund",
    "The orchid project is confidential",
    "merger rumours are false",
]
RULES = {
    "none": "",
    "block-orchid": """
[[content_rules]]
id = "block-orchid"
matchers = [{ type = "keyword", words = ["orchid"] }]
action = "block"
scope = { directions = ["outbound"] }
""",
    "hold-merger": """
[[content_rules]]
id = "hold-merger"
matchers = [{ type = "keyword", words = ["merger"] }]
action = "hold"
scope = { directions = ["outbound"] }
""",
    "raise-cards": """
[[content_rules]]
id = "cards-are-confidential"
matchers = [{ type = "card_number" }]
action = "label"
raise_to = "confidential"
scope = { directions = ["outbound"] }
""",
}


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    clearance_b=st.sampled_from(LABEL_NAMES),
    clearance_c=st.sampled_from(LABEL_NAMES),
    label=st.sampled_from(LABEL_NAMES),
    text=st.sampled_from(TEXTS),
    rule=st.sampled_from(sorted(RULES)),
)
async def test_nodes_that_store_a_post_are_exactly_those_the_preview_predicted(
    nodes: Nodes, clearance_b: str, clearance_c: str, label: str, text: str, rule: str
) -> None:
    from node.services.posts import Draft
    from node.services.preview import preview_draft
    from node.site import Site

    a, b, c = nodes.a, nodes.b, nodes.c
    await nodes.set_policy(policy({b.domain: clearance_b, c.domain: clearance_c}, RULES[rule]))
    unique = f"{text} ({clearance_b}/{clearance_c}/{label}/{rule})"

    async def predict() -> set[str]:
        alice = await Account.get(username="alice", domain="")
        site = Site(domain=a.domain, scheme="http")
        draft = Draft(text=unique, visibility="public", label=label)
        preview = await preview_draft(site, alice, draft)
        return {peer.peer for peer in preview.peers if peer.decision.crosses}

    predicted = await a.query(predict)
    uri = await post_as(a, "alice", unique, label=label)
    for node in (b, c):
        if node.domain in predicted:
            await wait_for(lambda node=node: node.post_by_uri(uri))  # type: ignore[misc]
    await wait_for(lambda: drained(a))
    stored = {node.domain for node in (b, c) if await node.post_by_uri(uri) is not None}
    assert stored == predicted


# ---------------------------------------------------------------- 9. each person's choice


async def _field_names(node: NodeProcess, username: str, domain: str) -> set[str]:
    copy = await node.account(username, domain)
    return {str(field["name"]) for field in copy.profile_fields} if copy is not None else set()


async def test_a_field_shared_with_one_peer_reaches_only_that_peer(nodes: Nodes) -> None:
    a, b, c = nodes.a, nodes.b, nodes.c
    both = '["team", "office"]'
    await nodes.set_policy(nodes.default_policy(profile={b.domain: both, c.domain: both}))
    browser = await a.browser("dave")
    try:
        # The settings page's form: Office for b only, Team for every node.
        saved = await browser.http.post(
            "/settings/profile",
            data={
                "csrf": browser.csrf,
                "display_name": "Dave",
                "bio": "",
                "sharing": "1",
                "share_columns": [b.domain, c.domain],
                "field_name_0": "Office",
                "field_value_0": "Lyon, 3rd floor",
                "field_share_0": [b.domain],
                "field_name_1": "Team",
                "field_value_1": "Finance",
                "field_share_1": ["*", b.domain, c.domain],
            },
        )
    finally:
        await browser.close()
    assert saved.status_code == 200, saved.text

    # Followers' nodes refetch the actor on the Update, each signed as itself.
    await wait_for(lambda: _has_fields(b, a.domain, {"Office", "Team"}))
    await wait_for(lambda: _has_fields(c, a.domain, {"Team"}))
    await wait_for(lambda: drained(a))
    assert await _field_names(c, "dave", a.domain) == {"Team"}
    as_b = (await signed(b, "bob", "GET", a.actor("dave"))).json()
    as_c = (await signed(c, "carol", "GET", a.actor("dave"))).json()
    assert {item["name"] for item in as_b.get("attachment", [])} == {"Office", "Team"}
    assert {item["name"] for item in as_c.get("attachment", [])} == {"Team"}


async def _has_fields(node: NodeProcess, domain: str, names: set[str]) -> bool:
    return await _field_names(node, "dave", domain) == names
