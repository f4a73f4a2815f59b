"""The node's tables, as thin Tortoise models.

Models hold columns, relations and indexes only; behaviour lives in
``node/services`` and protocol code in ``federation/``. Ids of rows that people
page through are time-ordered (:mod:`node.ids`) so keyset pagination is
``id < max_id``.
"""

from __future__ import annotations

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
    is_admin = fields.BooleanField(default=False)
    disabled = fields.BooleanField(default=False)
    locked = fields.BooleanField(default=False)
    profile_fields: fields.Field[list[dict[str, str]]] = fields.JSONField(default=list)
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
    state = fields.CharField(max_length=16, default="pending")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
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
