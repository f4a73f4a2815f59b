"""The node's tables, as thin Tortoise models.

Models hold columns, relations and indexes only; behaviour lives in
``node/services`` and protocol code in ``federation/``. Ids of rows that people
page through are time-ordered (:mod:`node.ids`) so keyset pagination is
``id < max_id``.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from node.ids import new_id

URL_LENGTH = 2048


class Account(Model):
    """A local user, a remote actor, or the node's own actor (``actor_type`` Application)."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    username = fields.CharField(max_length=64)
    # "" for accounts of this node; the remote host (host[:port]) otherwise.
    domain = fields.CharField(max_length=255, default="")
    actor_type = fields.CharField(max_length=16, default="Person")
    display_name = fields.CharField(max_length=200, default="")
    summary_html = fields.TextField(default="")
    email = fields.CharField(max_length=254, null=True, unique=True)
    password_hash = fields.CharField(max_length=255, null=True)
    # The directory entry (its stable id, e.g. an entryUUID) a synced account belongs to;
    # such an account signs in against the directory and has no local password.
    directory_id = fields.CharField(max_length=255, null=True, unique=True)
    # Set when a sync disabled the account because its entry left the directory; only
    # such accounts are enabled again when the entry comes back.
    directory_left = fields.BooleanField(default=False)
    # The language of the web pages the person chose (None: the browser's preference).
    language = fields.CharField(max_length=16, null=True)
    is_admin = fields.BooleanField(default=False)
    disabled = fields.BooleanField(default=False)
    locked = fields.BooleanField(default=False)
    # Each: {"name", "value"} and optionally "shared_with" (peer domains, or ["*"]).
    profile_fields: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    avatar_url = fields.CharField(max_length=URL_LENGTH, null=True)
    uri = fields.CharField(max_length=URL_LENGTH, unique=True)
    url = fields.CharField(max_length=URL_LENGTH, null=True)
    inbox_url = fields.CharField(max_length=URL_LENGTH, null=True)
    shared_inbox_url = fields.CharField(max_length=URL_LENGTH, null=True)
    outbox_url = fields.CharField(max_length=URL_LENGTH, null=True)
    followers_url = fields.CharField(max_length=URL_LENGTH, null=True)
    following_url = fields.CharField(max_length=URL_LENGTH, null=True)
    followers_count = fields.IntField(default=0)
    following_count = fields.IntField(default=0)
    posts_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    fetched_at = fields.DatetimeField(null=True)

    class Meta:
        table = "accounts"
        unique_together = (("username", "domain"),)

    @property
    def is_local(self) -> bool:
        return self.domain == ""


class KeyPair(Model):
    """A signing key. Local accounts hold the private half; remote ones only the public."""

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="keys", on_delete=fields.CASCADE
    )
    key_id = fields.CharField(max_length=URL_LENGTH, unique=True)
    public_pem = fields.TextField()
    private_pem = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "key_pairs"


class Post(Model):
    """A post on a wall, a reply, or a direct message (visibility ``direct``)."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    uri = fields.CharField(max_length=URL_LENGTH, unique=True)
    url = fields.CharField(max_length=URL_LENGTH, null=True)
    author: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="posts", on_delete=fields.CASCADE
    )
    local = fields.BooleanField()
    visibility = fields.CharField(max_length=16)
    label = fields.CharField(max_length=64)
    content_source = fields.TextField(default="")
    content_html = fields.TextField(default="")
    summary = fields.TextField(default="")
    sensitive = fields.BooleanField(default=False)
    language = fields.CharField(max_length=16, null=True)
    in_reply_to: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="replies", null=True, on_delete=fields.SET_NULL
    )
    in_reply_to_uri = fields.CharField(max_length=URL_LENGTH, null=True)
    thread_root: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="thread_posts", null=True, on_delete=fields.SET_NULL
    )
    context = fields.CharField(max_length=URL_LENGTH, null=True)
    attachments: fields.Field[list[dict[str, str]]] = fields.JSONField(default=list)
    replies_count = fields.IntField(default=0)
    likes_count = fields.IntField(default=0)
    shares_count = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    edited_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "posts"
        indexes = (
            Index(fields=("author_id", "id")),
            Index(fields=("local", "visibility", "id")),
            Index(fields=("thread_root_id", "id")),
        )


class PostEdit(Model):
    """An earlier version of an edited post."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="edits", on_delete=fields.CASCADE
    )
    content_source = fields.TextField(default="")
    content_html = fields.TextField(default="")
    summary = fields.TextField(default="")
    sensitive = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()

    class Meta:
        table = "post_edits"


class Mention(Model):
    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="mentions", on_delete=fields.CASCADE
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="mentioned_in", on_delete=fields.CASCADE
    )

    class Meta:
        table = "mentions"
        unique_together = (("post", "account"),)


class PostTag(Model):
    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="tags", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)

    class Meta:
        table = "post_tags"
        unique_together = (("post", "name"),)
        indexes = (Index(fields=("name", "post_id")),)


class Follow(Model):
    """``follower`` follows ``followee``; ``pending`` until a locked account approves."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    follower: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="following_rel", on_delete=fields.CASCADE
    )
    followee: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="followers_rel", on_delete=fields.CASCADE
    )
    state = fields.CharField(max_length=16)
    uri = fields.CharField(max_length=URL_LENGTH, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "follows"
        unique_together = (("follower", "followee"),)
        indexes = (Index(fields=("followee_id", "state")),)


class Like(Model):
    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="likes", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="likes", on_delete=fields.CASCADE
    )
    uri = fields.CharField(max_length=URL_LENGTH, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "likes"
        unique_together = (("account", "post"),)


class Share(Model):
    """A share (boost, ``Announce``) of a post by an account."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="shares", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="shares", on_delete=fields.CASCADE
    )
    uri = fields.CharField(max_length=URL_LENGTH, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "shares"
        unique_together = (("account", "post"),)


class Notification(Model):
    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    recipient: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="notifications", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=32)
    actor: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="caused_notifications", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    read = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notifications"
        indexes = (Index(fields=("recipient_id", "id")),)


class TimelineEntry(Model):
    """A post (or a share of one) on an account's home timeline, written at fan-out."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    owner: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="timeline", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="timeline_entries", on_delete=fields.CASCADE
    )
    share: fields.ForeignKeyNullableRelation[Share] = fields.ForeignKeyField(
        "models.Share", related_name="timeline_entries", null=True, on_delete=fields.CASCADE
    )
    # The id of what the timeline shows: the share's id for a share, else the
    # post's. Clients page by it, as they page Mastodon's home timeline by status id.
    status_id = fields.BigIntField()

    class Meta:
        table = "timeline_entries"
        unique_together = (("owner", "post"),)
        indexes = (Index(fields=("owner_id", "status_id")),)


class WebSession(Model):
    """A signed-in browser. Only the SHA-256 of the cookie value is stored."""

    token_hash = fields.CharField(max_length=64, primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="web_sessions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "web_sessions"


class OAuthApp(Model):
    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    name = fields.CharField(max_length=200)
    website = fields.CharField(max_length=URL_LENGTH, null=True)
    client_id = fields.CharField(max_length=64, unique=True)
    client_secret_hash = fields.CharField(max_length=64)
    redirect_uris = fields.TextField()
    scopes = fields.CharField(max_length=500)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "oauth_apps"


class AccessToken(Model):
    """An API token. Only the SHA-256 of the token is stored."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    token_hash = fields.CharField(max_length=64, unique=True)
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="tokens", null=True, on_delete=fields.CASCADE
    )
    app: fields.ForeignKeyNullableRelation[OAuthApp] = fields.ForeignKeyField(
        "models.OAuthApp", related_name="tokens", null=True, on_delete=fields.CASCADE
    )
    scopes = fields.CharField(max_length=500)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "access_tokens"


class OutboxEvent(Model):
    """A domain change to federate, written in the transaction that made the change."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    kind = fields.CharField(max_length=32)
    payload: fields.Field[dict[str, object]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_events"
        indexes = (Index(fields=("processed_at", "id")),)


class Delivery(Model):
    """One signed POST of one activity to one inbox: a durable state machine.

    ``pending → in_flight → delivered | retrying → … → dead``.
    """

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    activity_id = fields.CharField(max_length=URL_LENGTH)
    inbox_url = fields.CharField(max_length=URL_LENGTH)
    peer_domain = fields.CharField(max_length=255)
    sender: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="deliveries", on_delete=fields.CASCADE
    )
    body = fields.TextField()
    # pending, in_flight, delivered, retrying, dead; held while a review decides.
    state = fields.CharField(max_length=16, default="pending")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    # The policy's transformed copy for this destination (redactions), when it differs.
    policy_outcome = fields.CharField(max_length=16, null=True)
    claimed_until = fields.DatetimeField(null=True)
    last_status = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "deliveries"
        unique_together = (("activity_id", "inbox_url"),)
        indexes = (
            Index(fields=("state", "next_attempt_at")),
            Index(fields=("peer_domain", "state")),
        )


class InboxItem(Model):
    """A verified (or awaiting-key) activity received from a peer, processed in the background."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    activity_id = fields.CharField(max_length=URL_LENGTH, unique=True)
    actor_uri = fields.CharField(max_length=URL_LENGTH)
    key_id = fields.CharField(max_length=URL_LENGTH, null=True)
    peer_domain = fields.CharField(max_length=255)
    body = fields.TextField()
    # Exactly what was received, kept while the key is fetched so it can be verified later.
    request_headers: fields.Field[dict[str, str] | None] = fields.JSONField(null=True)
    state = fields.CharField(max_length=16)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbox_items"
        indexes = (Index(fields=("state", "id")),)


class AuthorizationCode(Model):
    """An OAuth authorization code (PKCE-bound); only its SHA-256 is stored."""

    code_hash = fields.CharField(max_length=64, primary_key=True)
    app: fields.ForeignKeyRelation[OAuthApp] = fields.ForeignKeyField(
        "models.OAuthApp", related_name="codes", on_delete=fields.CASCADE
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="authorization_codes", on_delete=fields.CASCADE
    )
    redirect_uri = fields.CharField(max_length=URL_LENGTH)
    scopes = fields.CharField(max_length=500)
    code_challenge = fields.CharField(max_length=128, null=True)
    code_challenge_method = fields.CharField(max_length=16, null=True)
    expires_at = fields.DatetimeField()
    used = fields.BooleanField(default=False)

    class Meta:
        table = "authorization_codes"


class RefreshToken(Model):
    """A refresh token for an access token; only its SHA-256 is stored."""

    token_hash = fields.CharField(max_length=64, primary_key=True)
    access_token: fields.ForeignKeyRelation[AccessToken] = fields.ForeignKeyField(
        "models.AccessToken", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"


class Bookmark(Model):
    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="bookmarks", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="bookmarks", on_delete=fields.CASCADE
    )

    class Meta:
        table = "bookmarks"
        unique_together = (("account", "post"),)


class Marker(Model):
    """Where an account stopped reading a timeline (``home`` or ``notifications``)."""

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="markers", on_delete=fields.CASCADE
    )
    timeline = fields.CharField(max_length=32)
    last_read_id = fields.BigIntField()
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "markers"
        unique_together = (("account", "timeline"),)


class IdempotencyKey(Model):
    """The post created for an ``Idempotency-Key`` (client retries create nothing twice)."""

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="idempotency_keys", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=200)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="idempotency_keys", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_keys"
        unique_together = (("account", "key"),)


class Conversation(Model):
    """Direct messages grouped by their ActivityPub ``context``, the same on every node."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    context = fields.CharField(max_length=URL_LENGTH, unique=True)
    last_post: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="last_of_conversations", null=True, on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversations"


class ConversationMember(Model):
    """A participant of a conversation (local or remote); per-participant state for local ones."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="members", on_delete=fields.CASCADE
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="conversations", on_delete=fields.CASCADE
    )
    last_read_id = fields.BigIntField(default=0)
    unread_count = fields.IntField(default=0)
    muted = fields.BooleanField(default=False)
    left_at = fields.DatetimeField(null=True)
    # Messages older than this id were sent before the member joined and stay hidden.
    joined_after_id = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation_members"
        unique_together = (("conversation", "account"),)
        indexes = (Index(fields=("account_id", "updated_at")),)


class PolicyVersion(Model):
    """One version of the node's boundary policy, as its TOML text; the newest is in force."""

    version = fields.IntField(primary_key=True)
    source = fields.TextField()
    author = fields.CharField(max_length=200)
    comment = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "policy_versions"


class PeerRequest(Model):
    """A node not (yet) allowed that tried to contact this one, and what it tried."""

    domain = fields.CharField(max_length=255, primary_key=True)
    state = fields.CharField(max_length=16, default="pending")
    attempts: fields.Field[list[dict[str, str]]] = fields.JSONField(default=list)
    attempt_count = fields.IntField(default=0)
    first_seen_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(auto_now=True)
    decided_by = fields.CharField(max_length=200, null=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "peer_requests"


class PeerStats(Model):
    """Traffic and health per peer, for the admin overview."""

    domain = fields.CharField(max_length=255, primary_key=True)
    last_contact_at = fields.DatetimeField(null=True)
    inbound_allowed = fields.IntField(default=0)
    inbound_denied = fields.IntField(default=0)
    outbound_allowed = fields.IntField(default=0)
    outbound_denied = fields.IntField(default=0)

    class Meta:
        table = "peer_stats"


class Group(Model):
    """A group of local accounts that policy rules can name (managed here or synced)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    description = fields.TextField(default="")
    source = fields.CharField(max_length=16, default="local")
    # Stable id in the directory (e.g. entryUUID / objectGUID): renames keep policies attached.
    external_id = fields.CharField(max_length=255, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "groups"


class GroupMembership(Model):
    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="memberships", on_delete=fields.CASCADE
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="memberships", on_delete=fields.CASCADE
    )

    class Meta:
        table = "group_memberships"
        unique_together = (("group", "account"),)


class ReviewItem(Model):
    """A crossing held by a ``hold`` rule until an admin approves or rejects it."""

    id = fields.BigIntField(primary_key=True, generated=False, default=new_id)
    direction = fields.CharField(max_length=16)
    peer_domain = fields.CharField(max_length=255)
    post: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="reviews", null=True, on_delete=fields.CASCADE
    )
    delivery: fields.ForeignKeyNullableRelation[Delivery] = fields.ForeignKeyField(
        "models.Delivery", related_name="reviews", null=True, on_delete=fields.CASCADE
    )
    inbox_item: fields.ForeignKeyNullableRelation[InboxItem] = fields.ForeignKeyField(
        "models.InboxItem", related_name="reviews", null=True, on_delete=fields.CASCADE
    )
    reasons: fields.Field[list[dict[str, object]]] = fields.JSONField(default=list)
    state = fields.CharField(max_length=16, default="held")
    decided_by = fields.CharField(max_length=200, null=True)
    decided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "review_items"
        indexes = (Index(fields=("state", "id")),)


class AuditEntry(Model):
    """One append-only, hash-chained audit record (crossing decision, policy change, review)."""

    seq = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField()
    kind = fields.CharField(max_length=32)
    direction = fields.CharField(max_length=16, null=True)
    peer_domain = fields.CharField(max_length=255, null=True)
    object_id = fields.CharField(max_length=URL_LENGTH, null=True)
    actor = fields.CharField(max_length=URL_LENGTH, null=True)
    label = fields.CharField(max_length=64, null=True)
    decision = fields.CharField(max_length=32, null=True)
    rule_ids: fields.Field[list[str]] = fields.JSONField(default=list)
    policy_version = fields.IntField(null=True)
    details: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    prev_hash = fields.CharField(max_length=64)
    entry_hash = fields.CharField(max_length=64, unique=True)

    class Meta:
        table = "audit_entries"
        indexes = (
            Index(fields=("peer_domain", "seq")),
            Index(fields=("decision", "seq")),
        )
