"""The node as Mastodon describes an instance: v1 and v2 entities, peers, placeholders.

The ``version`` is ``4.3.0 (compatible; Fedwall x.y.z)``: clients (Mastodon.py
among them) read the leading Mastodon version to decide which endpoints exist,
and 4.3.0 is the API level this node implements.
"""

from __future__ import annotations

import base64
from importlib import metadata
from typing import Any

from quart import Response

from node.api.routing import Call, Router
from node.models import Account, Post

router = Router()

MASTODON_API_LEVEL = "4.3.0"
# Mastodon's ``api_versions.mastodon`` for 4.3 (Mastodon.py warns when it is missing).
MASTODON_API_VERSION = 2
# A 1x1 grey PNG answered for accounts without an avatar or header.
_PLACEHOLDER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def fedwall_version() -> str:
    try:
        return metadata.version("fedwall")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def version_string() -> str:
    return f"{MASTODON_API_LEVEL} (compatible; Fedwall {fedwall_version()})"


def _streaming_url(call: Call) -> str:
    scheme = "wss" if call.site.scheme == "https" else "ws"
    return f"{scheme}://{call.site.domain}"


async def _stats() -> dict[str, int]:
    users = await Account.filter(domain="", actor_type="Person", disabled=False).count()
    statuses = await Post.filter(local=True, deleted_at=None).count()
    domains = len(await Account.exclude(domain="").distinct().values_list("domain", flat=True))
    return {"user_count": users, "status_count": statuses, "domain_count": domains}


def _statuses_configuration(call: Call) -> dict[str, int]:
    return {
        "max_characters": call.site.max_post_length,
        "max_media_attachments": 0,
        "characters_reserved_per_url": 23,
    }


_MEDIA_CONFIGURATION = {
    "supported_mime_types": [],
    "image_size_limit": 0,
    "image_matrix_limit": 0,
    "video_size_limit": 0,
    "video_frame_rate_limit": 0,
    "video_matrix_limit": 0,
}
_POLLS_CONFIGURATION = {
    "max_options": 0,
    "max_characters_per_option": 0,
    "min_expiration": 0,
    "max_expiration": 0,
}


@router.get("/api/v1/instance", access="public")
async def instance_v1(call: Call) -> Any:
    return {
        "uri": call.site.domain,
        "title": call.site.domain,
        "short_description": f"Fedwall node {call.site.domain}",
        "description": f"Fedwall node {call.site.domain}",
        "email": "",
        "version": version_string(),
        "urls": {"streaming_api": _streaming_url(call)},
        "stats": await _stats(),
        "thumbnail": None,
        "languages": ["en"],
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 0},
            "statuses": _statuses_configuration(call),
            "media_attachments": _MEDIA_CONFIGURATION,
            "polls": _POLLS_CONFIGURATION,
        },
        "contact_account": None,
        "rules": [],
    }


@router.get("/api/v2/instance", access="public")
async def instance_v2(call: Call) -> Any:
    stats = await _stats()
    return {
        "domain": call.site.domain,
        "title": call.site.domain,
        "version": version_string(),
        "source_url": "https://github.com/fedwall/fedwall",
        "description": f"Fedwall node {call.site.domain}",
        "usage": {"users": {"active_month": stats["user_count"]}},
        "thumbnail": {"url": call.site.base_url + "/avatars/original/missing.png"},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": _streaming_url(call), "status": None},
            "vapid": {"public_key": ""},
            "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
            "statuses": _statuses_configuration(call),
            "media_attachments": _MEDIA_CONFIGURATION,
            "polls": _POLLS_CONFIGURATION,
            "translation": {"enabled": False},
            "timelines_access": {
                "live_feeds": {"local": "public", "remote": "public"},
                "hashtag_feeds": {"local": "public", "remote": "public"},
                "trending_link_feeds": {"local": "disabled", "remote": "disabled"},
            },
        },
        "registrations": {
            "enabled": False,
            "approval_required": False,
            "message": None,
            "url": None,
        },
        "api_versions": {"mastodon": MASTODON_API_VERSION},
        "contact": {"email": "", "account": None},
        "rules": [],
        "fedwall": {"version": fedwall_version(), "openapi": "/api/v1/fedwall/openapi.json"},
    }


def _patterns(domain: str) -> tuple[str, ...]:
    """``domain`` then the wildcard patterns covering it, most specific first."""
    parts = domain.split(".")
    return (domain, *("*." + ".".join(parts[i:]) for i in range(1, len(parts))))


@router.get("/api/v1/instance/peers", access="public")
async def peers(call: Call) -> Any:
    """Peer nodes this node federates with, as its boundary policy allows them.

    Only signed-in people of the node see the list: an organisation's partner
    nodes are not for anonymous visitors.
    """
    if call.viewer is None or not call.viewer.is_local:
        return []
    snapshot = await call.site.policy.current()
    domains = await Account.exclude(domain="").distinct().values_list("domain", flat=True)

    def admitted(domain: str) -> bool:
        agreements = snapshot.agreements_for(_patterns(domain))
        status = agreements[0].status if agreements else None
        if snapshot.federation_mode == "allowlist":
            return status == "allowed"
        return status != "blocked"

    return sorted(d for d in (str(d) for d in domains) if admitted(d))


@router.get("/api/v1/instance/extended_description", access="public")
async def extended_description(call: Call) -> Any:
    return {"updated_at": None, "content": f"<p>Fedwall node {call.site.domain}</p>"}


@router.get("/avatars/original/missing.png", access="none")
async def missing_avatar(call: Call) -> Any:
    return Response(
        _PLACEHOLDER_PNG, content_type="image/png", headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/headers/original/missing.png", access="none")
async def missing_header(call: Call) -> Any:
    return await missing_avatar(call)


# Features Fedwall does not have, answered as Mastodon answers an account that
# uses none of them, so that apps calling them at start-up keep working.
_EMPTY_LISTS = (
    ("/api/v1/custom_emojis", "public", ()),
    ("/api/v1/instance/rules", "public", ()),
    ("/api/v1/announcements", "user", ("read",)),
    ("/api/v1/filters", "user", ("read:filters",)),
    ("/api/v2/filters", "user", ("read:filters",)),
    ("/api/v1/lists", "user", ("read:lists",)),
    ("/api/v1/blocks", "user", ("read:blocks", "follow")),
    ("/api/v1/mutes", "user", ("read:mutes", "follow")),
    ("/api/v1/domain_blocks", "user", ("read:blocks", "follow")),
    ("/api/v1/endorsements", "user", ("read:accounts",)),
    ("/api/v1/featured_tags", "user", ("read:accounts",)),
    ("/api/v1/followed_tags", "user", ("read:follows",)),
    ("/api/v1/scheduled_statuses", "user", ("read:statuses",)),
    ("/api/v1/trends/tags", "public", ()),
    ("/api/v1/trends/statuses", "public", ()),
    ("/api/v1/trends/links", "public", ()),
    ("/api/v2/suggestions", "user", ("read",)),
)


def _empty_list_handler(path: str) -> Any:
    async def empty(call: Call) -> Any:
        return []

    empty.__name__ = "empty_" + path.strip("/").replace("/", "_")
    return empty


for _path, _access, _scopes in _EMPTY_LISTS:
    router.get(_path, access=_access, scope=_scopes)(_empty_list_handler(_path))


@router.get("/api/v1/preferences", scope=("read:accounts",))
async def preferences(call: Call) -> Any:
    return {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }
