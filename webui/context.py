"""What every page handler needs: the viewer, CSRF checks, rendering, redirects back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quart import abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from node.config import Settings
from node.errors import FedwallError
from node.models import Account, ConversationMember, Like, Share
from node.runtime import Runtime
from node.services import notifications, sessions
from node.services.pagination import PageRequest
from node.services.timelines import TimelineItem
from node.site import Site
from webui.i18n import gettext as _
from webui.signin_limits import SignInLimiter

STATIC_DIR = Path(__file__).parent / "static"


def is_local_path(target: str) -> bool:
    """True when redirecting to ``target`` stays on this site."""
    # Browsers read a backslash as a slash and ignore tabs and newlines, so a target
    # that becomes "//host" only after that leaves the site as well.
    cleaned = target.replace("\\", "/").translate({9: None, 10: None, 13: None})
    return cleaned.startswith("/") and not cleaned.startswith("//")


def asset_versions(directory: Path = STATIC_DIR) -> dict[str, str]:
    """A short content hash per static file: URLs carry it, so browsers may cache forever."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in directory.iterdir()
        if path.is_file()
    }


async def chat_unread(account: Account) -> int:
    """Unread messages over the account's conversations (muted ones do not count)."""
    counts = await ConversationMember.filter(
        account_id=account.id, left_at=None, muted=False, unread_count__gt=0
    ).values_list("unread_count", flat=True)
    return sum(int(c) for c in counts)  # type: ignore[call-overload]


@dataclass
class WebContext:
    """One node's page helpers; built once per app, so two nodes never share one."""

    runtime: Runtime
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
    versions: dict[str, str] = field(default_factory=asset_versions)

    @property
    def site(self) -> Site:
        return self.runtime.site

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def viewer(self) -> Account | None:
        account: Account | None = g.get("viewer")
        return account

    def require_viewer(self) -> Account:
        account = self.viewer()
        if account is None:
            # After signing in, come back to the page; a form's target cannot be revisited.
            back = request.full_path.rstrip("?") if request.method == "GET" else "/home"
            abort(redirect(url_for("webui.login", next=back)))  # type: ignore[arg-type]
        return account

    def csrf(self) -> str:
        token: str | None = g.get("session_token")
        if self.viewer() is None or not token:
            return ""
        return sessions.csrf_token(self.settings.secret_key, token)

    async def check_csrf(self) -> None:
        form = await request.form
        if not sessions.csrf_valid(
            self.settings.secret_key, g.get("session_token"), form.get("csrf")
        ):
            abort(400, _("The form expired or did not come from this site; reload and try again."))

    def page_request(self) -> PageRequest:
        try:
            return PageRequest.parse(request.args)
        except FedwallError:
            return PageRequest()

    def back(self, default: str) -> WerkzeugResponse:
        """Redirect to the page the form was on, when it was one of ours."""
        target = request.referrer or ""
        host_prefix = request.host_url
        if target.startswith(host_prefix):
            target = "/" + target[len(host_prefix) :]
        return redirect(target if is_local_path(target) else default)

    async def reactions_of(
        self, account: Account | None, items: list[TimelineItem]
    ) -> tuple[set[int], set[int]]:
        """The ids of the posts among ``items`` that ``account`` liked and shared."""
        if account is None or not items:
            return set(), set()
        post_ids = [item.post.id for item in items]
        liked = await Like.filter(account_id=account.id, post_id__in=post_ids).values_list(
            "post_id", flat=True
        )
        shared = await Share.filter(account_id=account.id, post_id__in=post_ids).values_list(
            "post_id", flat=True
        )
        return {int(i) for i in liked}, {int(i) for i in shared}  # type: ignore[call-overload]

    async def render(self, template: str, status: int = 200, **context: Any) -> tuple[str, int]:
        account = self.viewer()
        unread = await notifications.unread_count(account) if account else 0
        context.setdefault("chat_unread", await chat_unread(account) if account else 0)
        items: list[TimelineItem] = []
        page = context.get("page")
        if page is not None and page.items and isinstance(page.items[0], TimelineItem):
            items = list(page.items)
        items.extend(context.get("extra_items", ()))
        liked, shared = await self.reactions_of(account, items)
        body = await render_template(
            template,
            viewer=account,
            csrf=self.csrf(),
            site=self.site,
            unread=unread,
            liked=liked,
            shared=shared,
            # A shorter page than asked for is the last one: no "older" link then.
            page_limit=self.page_request().bounded_limit,
            **context,
        )
        return body, status

    def static_url(self, filename: str) -> str:
        version = self.versions.get(filename)
        return url_for("webui.static", filename=filename, v=version) if version else ""
