"""Managing the boundary policy: peers, peering requests, groups, reviews, preview, audit export."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from node.db import Database
from node.errors import NotFound, ValidationError
from node.keys import generate_key_pair
from node.models import (
    Account,
    AuditEntry,
    Delivery,
    Follow,
    Group,
    Notification,
    OutboxEvent,
    PeerRequest,
    PolicyVersion,
    Post,
    ReviewItem,
)
from node.policy import evaluate
from node.services import audit, groups, peers, reviews
from node.services.accounts import create_local_account, ensure_node_actor
from node.services.audit_export import export
from node.services.policy import PolicyStore, note_peer_request, post_crossing
from node.services.posts import Draft, create_post
from node.services.preview import preview_draft, sample_crossing
from node.site import Site

KEY = generate_key_pair()  # one key for every account: RSA generation is the slow part
ADMIN = "test-admin"

POLICY = """\
federation_mode = "allowlist"
labels = ["public", "internal", "confidential", "restricted"]
default_label = "internal"

[[peers]]
domain = "sales.example"
status = "allowed"
outbound = { max_label = "internal" }
inbound = { max_label = "internal" }

[[peers]]
domain = "lab.example"
status = "allowed"
outbound = { max_label = "confidential" }

[[content_rules]]
id = "cards-to-sales"
action = "redact"
matchers = [{ type = "card_number" }]
scope = { directions = ["outbound"], peers = { only = ["sales.example"] } }

[[content_rules]]
id = "merger-needs-review"
action = "hold"
matchers = [{ type = "keyword", words = ["merger"] }]
scope = { directions = ["outbound"] }

[[group_rules]]
id = "legal-stays-home"
effect = "deny"
kinds = ["posts", "replies", "direct_messages"]
scope = { directions = ["outbound"], author_groups = ["legal"] }
"""


async def person(site: Site, username: str, **options: Any) -> Account:
    return await create_local_account(site, username, None, key_pair=KEY, **options)


async def remote(username: str, domain: str) -> Account:
    base = f"https://{domain}"
    return await Account.create(
        username=username,
        domain=domain,
        uri=f"{base}/users/{username}",
        url=f"{base}/@{username}",
        inbox_url=f"{base}/users/{username}/inbox",
        shared_inbox_url=f"{base}/inbox",
    )


async def follower(account: Account, of: Account) -> None:
    await Follow.create(follower=account, followee=of, state="accepted")


async def versions() -> list[int]:
    return [v.version for v in await PolicyVersion.all().order_by("version")]


# ---------------------------------------------------------------- peers


async def test_allowing_a_peer_stores_a_new_version_with_default_terms(
    db: Database, site: Site
) -> None:
    change = await peers.allow(site.policy, "Sales.Example", author=ADMIN, note="group deal")
    assert change.changed and change.version == 1 and change.domain == "sales.example"
    snapshot = await site.policy.current()
    agreement = snapshot.peers["sales.example"]
    assert agreement.status == "allowed" and agreement.note == "group deal"
    assert agreement.outbound.max_label == snapshot.default_label == "internal"
    assert agreement.outbound.profile_fields == frozenset()
    assert agreement.inbound.profile_fields == frozenset({"*"})
    row = await PolicyVersion.get(version=1)
    assert row.author == ADMIN and "sales.example allowed" in row.comment
    assert "version 1" in row.source.splitlines()[0]


async def test_blocking_keeps_the_terms_and_a_later_allow_restores_them(
    db: Database, site: Site
) -> None:
    limits = peers.TermsChange(max_label="public", media=False)
    await peers.limit(site.policy, "sales.example", limits, author=ADMIN)
    await peers.block(site.policy, "sales.example", author=ADMIN, note="incident 42")
    blocked = (await site.policy.current()).peers["sales.example"]
    assert blocked.status == "blocked" and blocked.note == "incident 42"
    await peers.allow(site.policy, "sales.example", author=ADMIN)
    allowed = (await site.policy.current()).peers["sales.example"]
    assert allowed.status == "allowed"
    assert allowed.outbound.max_label == "public" and allowed.outbound.media is False
    assert await versions() == [1, 2, 3]


async def test_limit_changes_only_the_given_terms_in_the_given_directions(
    db: Database, site: Site
) -> None:
    await peers.allow(site.policy, "sales.example", author=ADMIN)
    change = await peers.limit(
        site.policy,
        "sales.example",
        peers.TermsChange(
            max_label="public",
            kinds=frozenset({"posts", "replies"}),
            profile_fields=frozenset({"title", "department"}),
        ),
        author=ADMIN,
        directions=("outbound",),
    )
    agreement = change.agreement
    assert agreement.outbound.max_label == "public"
    assert agreement.outbound.kinds == frozenset({"posts", "replies"})
    assert agreement.outbound.profile_fields == frozenset({"title", "department"})
    assert agreement.outbound.media is True  # not given: kept
    assert agreement.inbound.max_label == "internal"  # other direction: untouched
    assert (await site.policy.current()).peers["sales.example"] == agreement


async def test_repeating_a_change_stores_no_new_version(db: Database, site: Site) -> None:
    await peers.allow(site.policy, "sales.example", author=ADMIN)
    again = await peers.allow(site.policy, "sales.example", author=ADMIN)
    assert not again.changed and again.version == 1
    assert await versions() == [1]


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        (peers.TermsChange(max_label="secret"), "unknown label 'secret'"),
        (peers.TermsChange(kinds=frozenset({"pokes"})), "unknown activity kind 'pokes'"),
        (peers.TermsChange(), "nothing to limit"),
    ],
)
async def test_invalid_limits_are_refused_and_change_nothing(
    db: Database, site: Site, terms: peers.TermsChange, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await peers.limit(site.policy, "sales.example", terms, author=ADMIN)
    assert await versions() == []


async def test_an_invalid_domain_is_refused(db: Database, site: Site) -> None:
    with pytest.raises(ValidationError, match="not a domain"):
        await peers.allow(site.policy, "https://sales.example/x", author=ADMIN)


async def test_an_edit_builds_on_the_newest_version_not_a_cached_one(
    db: Database, site: Site
) -> None:
    await site.policy.current()  # cached: version 0
    other_process = PolicyStore()
    await peers.allow(other_process, "lab.example", author=ADMIN)
    await peers.allow(site.policy, "sales.example", author=ADMIN)
    assert set((await PolicyStore().current()).peers) == {"lab.example", "sales.example"}


async def test_show_names_the_wildcard_agreement_and_a_block_beats_it(
    db: Database, site: Site
) -> None:
    await peers.allow(site.policy, "*.corp.example", author=ADMIN)
    details = await peers.show(site.policy, "hr.corp.example")
    assert details.agreement is not None and details.agreement.domain == "*.corp.example"
    assert details.effective == "allowed (by the agreement for *.corp.example)"
    await peers.block(site.policy, "hr.corp.example", author=ADMIN)
    details = await peers.show(site.policy, "hr.corp.example")
    assert details.effective.startswith("blocked")
    with pytest.raises(NotFound):
        await peers.show(site.policy, "unknown.example")


async def test_peer_list_joins_agreements_traffic_and_requests(db: Database, site: Site) -> None:
    await peers.allow(site.policy, "sales.example", author=ADMIN)
    await note_peer_request("stranger.example", "Follow")
    rows = {row.domain: row for row in await peers.list_peers(site.policy)}
    assert rows["sales.example"].status == "allowed"
    assert rows["stranger.example"].status == "none"
    assert rows["stranger.example"].request is not None


async def test_every_peer_change_is_in_the_audit_chain(db: Database, site: Site) -> None:
    await peers.allow(site.policy, "sales.example", author=ADMIN)
    await peers.block(site.policy, "lab.example", author=ADMIN)
    entries = await AuditEntry.all().order_by("seq")
    assert [(e.kind, e.policy_version, e.actor) for e in entries] == [
        ("policy.changed", 1, ADMIN),
        ("policy.changed", 2, ADMIN),
    ]
    assert (await audit.verify_chain()).ok


# ---------------------------------------------------------------- peering requests


async def test_approving_a_request_allows_the_peer_and_marks_it_approved(
    db: Database, site: Site
) -> None:
    await note_peer_request("stranger.example", "Follow")
    now = dt.datetime.now(dt.UTC)
    crossing = await sample_crossing(text="hello", peer="stranger.example", now=now)
    assert evaluate(await site.policy.current(), crossing).outcome == "deny"
    change = await peers.approve_request(site.policy, "stranger.example", author=ADMIN)
    assert change.agreement.status == "allowed" and "approved" in change.agreement.note
    assert evaluate(await site.policy.current(), crossing).outcome == "allow"
    request = await PeerRequest.get(domain="stranger.example")
    assert request.state == "approved" and request.decided_by == ADMIN
    assert await peers.list_requests() == []
    kinds = [e.kind for e in await AuditEntry.all().order_by("seq")]
    assert kinds == ["policy.changed", "peer_request.approved"]


async def test_denying_a_request_marks_it_denied_without_changing_the_policy(
    db: Database, site: Site
) -> None:
    await note_peer_request("stranger.example", "Create")
    assert await peers.deny_request(site.policy, "stranger.example", author=ADMIN) is None
    assert (await PeerRequest.get(domain="stranger.example")).state == "denied"
    assert await versions() == []
    assert [r.domain for r in await peers.list_requests("denied")] == ["stranger.example"]


async def test_denying_with_block_blocks_the_peer(db: Database, site: Site) -> None:
    await note_peer_request("stranger.example", "Create")
    change = await peers.deny_request(
        site.policy, "stranger.example", author=ADMIN, block_peer=True
    )
    assert change is not None and change.agreement.status == "blocked"
    assert (await site.policy.current()).peers["stranger.example"].status == "blocked"


async def test_deciding_an_unknown_request_is_not_found(db: Database, site: Site) -> None:
    with pytest.raises(NotFound, match="no peering request"):
        await peers.approve_request(site.policy, "nobody.example", author=ADMIN)


# ---------------------------------------------------------------- groups


async def test_groups_are_created_filled_emptied_and_listed(db: Database, site: Site) -> None:
    await person(site, "alice")
    await person(site, "bob")
    await groups.create_group("legal", description="Legal department", actor=ADMIN)
    added = await groups.add_members("legal", ["alice", "bob", "alice"], actor=ADMIN)
    assert added.changed == ("alice", "bob") and added.unchanged == ()
    again = await groups.add_members("legal", ["bob"], actor=ADMIN)
    assert again.changed == () and again.unchanged == ("bob",)
    removed = await groups.remove_members("legal", ["bob"], actor=ADMIN)
    assert removed.changed == ("bob",)
    assert [a.username for a in await groups.members("legal")] == ["alice"]
    [summary] = await groups.list_groups()
    assert (summary.name, summary.member_count, summary.source) == ("legal", 1, "local")
    kinds = [e.kind for e in await AuditEntry.all().order_by("seq")]
    assert kinds == ["group.created", "group.members_added", "group.members_removed"]


async def test_group_names_are_checked_and_unique(db: Database, site: Site) -> None:
    await groups.create_group("legal", actor=ADMIN)
    with pytest.raises(ValidationError, match="already exists"):
        await groups.create_group("legal", actor=ADMIN)
    with pytest.raises(ValidationError, match="invalid group name"):
        await groups.create_group("no spaces please", actor=ADMIN)


async def test_unknown_users_and_groups_are_not_found(db: Database, site: Site) -> None:
    await groups.create_group("legal", actor=ADMIN)
    with pytest.raises(NotFound, match="nobody"):
        await groups.add_members("legal", ["nobody"], actor=ADMIN)
    with pytest.raises(NotFound, match="no group"):
        await groups.members("sales")


async def test_directory_groups_cannot_be_changed_here(db: Database, site: Site) -> None:
    await person(site, "alice")
    await Group.create(name="staff", source="directory", external_id="uuid-1")
    with pytest.raises(ValidationError, match="synced from the directory"):
        await groups.add_members("staff", ["alice"], actor=ADMIN)


async def test_groups_a_policy_names_but_the_node_lacks_are_reported(
    db: Database, site: Site
) -> None:
    snapshot = await site.policy.apply(POLICY, ADMIN)
    assert await groups.missing_groups(snapshot) == {"legal": ["legal-stays-home"]}
    await groups.create_group("legal", actor=ADMIN)
    assert await groups.missing_groups(snapshot) == {}


# ---------------------------------------------------------------- reviews


@pytest.fixture
async def held(db: Database, site: Site) -> tuple[Delivery, Post, Account]:
    """A post by alice whose delivery to sales.example a hold rule stopped."""
    await ensure_node_actor(site, *KEY)
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="about the merger", visibility="public"))
    delivery = await Delivery.create(
        activity_id=f"{post.uri}/activity",
        inbox_url="https://sales.example/inbox",
        peer_domain="sales.example",
        sender=alice,
        body="{}",
        state="pending",
        next_attempt_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    await Notification.all().delete()
    return delivery, post, alice


async def review_notifications(account: Account) -> list[Notification]:
    return list(await Notification.filter(recipient_id=account.id, kind="fedwall.policy"))


async def test_hold_marks_the_delivery_held_queues_it_and_tells_the_author(
    held: tuple[Delivery, Post, Account], site: Site
) -> None:
    delivery, post, alice = held
    crossing = await post_crossing(post, alice, "sales.example", [], dt.datetime.now(dt.UTC))
    await site.policy.apply(POLICY, ADMIN)
    decision = evaluate(await site.policy.current(), crossing)
    assert decision.outcome == "hold"
    item = await reviews.hold(delivery, decision, post=post, site=site)
    assert (await Delivery.get(id=delivery.id)).state == "held"
    assert item.state == "held" and item.peer_domain == "sales.example"
    assert [r["rule"] for r in item.reasons] == ["merger-needs-review"]
    assert len(await review_notifications(alice)) == 1
    assert await reviews.hold(delivery, decision, post=post) == item  # idempotent
    assert [i.id for i in await reviews.list_items()] == [item.id]


async def test_approving_a_held_delivery_sends_it_now_audits_and_tells_the_author(
    held: tuple[Delivery, Post, Account],
) -> None:
    delivery, post, alice = held
    item = await reviews.hold(delivery, [], post=post)
    result = await reviews.approve(item.id, reviewer=ADMIN)
    released = await Delivery.get(id=delivery.id)
    assert released.state == "pending"
    assert released.next_attempt_at <= dt.datetime.now(dt.UTC)
    assert result.item.state == "approved" and result.item.decided_by == ADMIN
    assert result.notification is not None
    assert len(await review_notifications(alice)) == 2  # held, then approved
    entry = await AuditEntry.filter(kind="review.approved").get()
    assert (entry.peer_domain, entry.object_id, entry.actor) == ("sales.example", post.uri, ADMIN)
    assert await reviews.list_items() == []


async def test_rejecting_a_held_delivery_ends_it_audits_and_tells_the_author(
    held: tuple[Delivery, Post, Account],
) -> None:
    delivery, post, alice = held
    item = await reviews.hold(delivery, [], post=post)
    await reviews.reject(item.id, reviewer=ADMIN)
    rejected = await Delivery.get(id=delivery.id)
    assert (rejected.state, rejected.last_error) == ("dead", "rejected by review")
    assert (await ReviewItem.get(id=item.id)).state == "rejected"
    assert len(await review_notifications(alice)) == 2
    assert await AuditEntry.filter(kind="review.rejected", decision="rejected").exists()
    assert (await audit.verify_chain()).ok


async def test_a_decided_item_cannot_be_decided_again(
    held: tuple[Delivery, Post, Account],
) -> None:
    delivery, post, _ = held
    item = await reviews.hold(delivery, [], post=post)
    await reviews.reject(item.id, reviewer=ADMIN)
    with pytest.raises(ValidationError, match="already rejected"):
        await reviews.approve(item.id, reviewer=ADMIN)
    assert (await Delivery.get(id=delivery.id)).state == "dead"
    with pytest.raises(NotFound):
        await reviews.approve(12345, reviewer=ADMIN)


# ---------------------------------------------------------------- preview


@pytest.fixture
async def audience(db: Database, site: Site) -> Account:
    """alice, followed by people on sales.example, lab.example and this node."""
    await site.policy.apply(POLICY, ADMIN)
    alice = await person(site, "alice")
    await follower(await remote("bob", "sales.example"), alice)
    await follower(await remote("ben", "sales.example"), alice)
    await follower(await remote("carol", "lab.example"), alice)
    await follower(await person(site, "dave"), alice)
    return alice


async def test_preview_gives_each_peer_the_decision_delivery_will_make(
    audience: Account, site: Site
) -> None:
    draft = Draft(text="My card is 4111 1111 1111 1111", visibility="public")
    moment = dt.datetime.now(dt.UTC)
    preview = await preview_draft(site, audience, draft, now=moment)
    assert [p.peer for p in preview.peers] == ["lab.example", "sales.example"]
    by_peer = {p.peer: p for p in preview.peers}
    assert by_peer["sales.example"].decision.outcome == "redact"
    assert by_peer["lab.example"].decision.outcome == "allow"
    assert [a.handle for a in by_peer["sales.example"].audience] == [
        "ben@sales.example",
        "bob@sales.example",
    ]
    # The decision for the stored post, as delivery computes it, is the same.
    post = await create_post(site, audience, draft)
    snapshot = await site.policy.current()
    for peer in by_peer.values():
        recipients = await Account.filter(domain=peer.peer)
        crossing = await post_crossing(post, audience, peer.peer, recipients, moment)
        assert evaluate(snapshot, crossing) == peer.decision


async def test_preview_stores_nothing(audience: Account, site: Site) -> None:
    before = (await Post.all().count(), await OutboxEvent.all().count())
    await preview_draft(site, audience, Draft(text="about the merger", visibility="public"))
    assert (await Post.all().count(), await OutboxEvent.all().count()) == before


async def test_a_label_above_clearance_is_previewed_as_not_sent(
    audience: Account, site: Site
) -> None:
    draft = Draft(text="numbers", visibility="followers", label="confidential")
    preview = await preview_draft(site, audience, draft)
    outcomes = {p.peer: p.decision.outcome for p in preview.peers}
    assert outcomes == {"lab.example": "allow", "sales.example": "deny"}
    assert preview.local.accounts[0].handle == "dave"


async def test_a_node_only_post_reaches_no_peer(audience: Account, site: Site) -> None:
    preview = await preview_draft(site, audience, Draft(text="hello", visibility="node"))
    assert preview.peers == ()
    assert "never leaves" in preview.local.description


async def test_a_direct_message_previews_only_its_recipients_and_group_rules_apply(
    audience: Account, site: Site
) -> None:
    draft = Draft(text="@carol@lab.example lunch?", visibility="direct")
    preview = await preview_draft(site, audience, draft)
    assert preview.kind == "direct_messages"
    [peer] = preview.peers
    assert (peer.peer, peer.decision.outcome) == ("lab.example", "allow")
    assert [(a.handle, a.why) for a in peer.audience] == [("carol@lab.example", "mentioned")]
    await groups.create_group("legal", actor=ADMIN)
    await groups.add_members("legal", ["alice"], actor=ADMIN)
    denied = await preview_draft(site, audience, draft)
    assert denied.peers[0].decision.outcome == "deny"
    assert denied.peers[0].decision.reasons[0].rule_id == "legal-stays-home"


async def test_a_reply_reaches_the_parents_author_as_a_reply(audience: Account, site: Site) -> None:
    carol = await Account.get(username="carol", domain="lab.example")
    parent = await Post.create(
        uri="https://lab.example/users/carol/posts/1",
        author=carol,
        local=False,
        visibility="public",
        label="internal",
        content_html="<p>lunch?</p>",
        created_at=dt.datetime.now(dt.UTC),
    )
    draft = Draft(text="yes", visibility="direct", in_reply_to_id=parent.id)
    preview = await preview_draft(site, audience, draft)
    [peer] = preview.peers
    assert peer.audience[0].why == "replied to"
    assert peer.decision.outcome == "allow"


async def test_extra_mentions_and_unknown_handles_are_previewed(
    audience: Account, site: Site
) -> None:
    draft = Draft(text="hello @ghost", visibility="direct")
    preview = await preview_draft(site, audience, draft, mentions=["bob@sales.example"])
    assert [p.peer for p in preview.peers] == ["sales.example"]
    assert preview.unresolved == ("@ghost",)


async def test_an_invalid_draft_is_refused_as_posting_would_refuse_it(
    audience: Account, site: Site
) -> None:
    with pytest.raises(ValidationError, match="unknown classification label"):
        await preview_draft(site, audience, Draft(text="x", label="secret"))


# ---------------------------------------------------------------- audit export


async def test_export_filters_by_time_and_peer_and_keeps_the_hashes(
    db: Database, site: Site
) -> None:
    await peers.allow(site.policy, "sales.example", author=ADMIN)
    await note_peer_request("stranger.example", "Follow")
    await peers.deny_request(site.policy, "stranger.example", author=ADMIN)
    everything = [entry async for entry in export()]
    assert [e["seq"] for e in everything] == [1, 2]
    for entry in everything:
        content = {k: v for k, v in entry.items() if k not in ("prev_hash", "entry_hash")}
        assert audit.chain_hash(entry["prev_hash"], content) == entry["entry_hash"]
    about = [e async for e in export(peer="stranger.example")]
    assert [e["kind"] for e in about] == ["peer_request.denied"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert [e async for e in export(since=later)] == []


async def test_sample_crossing_counts_the_authors_groups(db: Database, site: Site) -> None:
    await site.policy.apply(POLICY, ADMIN)
    await person(site, "alice")
    await groups.create_group("legal", actor=ADMIN)
    await groups.add_members("legal", ["alice"], actor=ADMIN)
    crossing = await sample_crossing(text="hi", peer="sales.example", author="alice")
    assert crossing.author_groups == frozenset({"legal"})
    decision = evaluate(await site.policy.current(), crossing)
    assert decision.outcome == "deny"
    with pytest.raises(ValidationError, match="unknown kind"):
        await sample_crossing(text="hi", peer="sales.example", kind="pokes")
