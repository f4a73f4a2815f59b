"""Chat: the viewer's conversations (direct messages across nodes) as pages.

``GET /chat`` lists them with their participants, last message and unread count;
``GET /chat/<id>`` shows the messages oldest first (in conversation order) with a
send form and marks the conversation read; ``POST /chat`` starts one with several
participants, ``POST /chat/<id>`` sends. After sending, the page names every
participant the boundary policy keeps the message from, and why: never a silent drop.

Live updates: :mod:`webui.live` forwards ``conversation`` events; ``static/chat.js``
fetches ``/chat/<id>/messages/<post id>`` (one message, checked like the page) and
``/chat/list`` (the list, rendered as on the page) and ``/chat/unread`` (the nav badge).
"""

from __future__ import annotations

import re
from typing import Any

from quart import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from node.errors import FedwallError, NotFound
from node.models import Account, Post
from node.runtime import Runtime
from node.services import accounts, conversations, posts
from node.services.conversations import ConversationView, Undelivered
from node.services.pagination import PageRequest
from node.site import Site
from webui.context import WebContext, chat_unread
from webui.i18n import gettext as _
from webui.i18n import ngettext, service_message
from webui.profiles import parse_handle

Page = str | Response | WerkzeugResponse | tuple[str, int]
HANDLE_SEPARATORS = re.compile(r"[\s,;]+")
MESSAGES_SHOWN = 200
MAX_PARTICIPANTS = 20


def split_handles(text: str) -> list[str]:
    """``bob@node, carol@lab`` (commas, spaces or semicolons) as a list of handles."""
    return [h for h in HANDLE_SEPARATORS.split(text.strip()) if h]


def undelivered_notices(missing: list[Undelivered], site: Site) -> list[str]:
    """One sentence per participant the message will not reach."""
    notices = []
    for item in missing:
        handle = accounts.handle_of(item.account, site)
        reason = "; ".join(item.reasons) or _("refused by the policy")
        if item.outcome == "hold":
            notices.append(
                _(
                    "held for review, not yet delivered to %(handle)s: %(reason)s",
                    handle=handle,
                    reason=reason,
                )
            )
        else:
            notices.append(
                _("not delivered to %(handle)s: %(reason)s", handle=handle, reason=reason)
            )
    return notices


def build_blueprint(runtime: Runtime) -> Blueprint:
    web = WebContext(runtime)
    site = web.site
    bp = Blueprint("chat", __name__, template_folder="templates")

    @bp.before_request
    async def refuse_cross_site_posts() -> None:
        # As on every page of the webui blueprint: forms only come from this site.
        origin = (request.headers.get("Origin") or "").rstrip("/")
        allowed = (site.base_url, request.host_url.rstrip("/"))
        if request.method == "POST" and origin and origin not in allowed:
            abort(403)

    async def list_views(account: Account) -> list[ConversationView]:
        page = await conversations.list_for(account, PageRequest(limit=40))
        return list(page.items)

    async def conversation_page(
        account: Account, conversation_id: int, status: int = 200, **extra: Any
    ) -> Page:
        try:
            view = await conversations.mark_read(account, conversation_id)
            shown = await conversations.messages(account, conversation_id, limit=MESSAGES_SHOWN)
        except NotFound:
            abort(404)
        return await web.render("chat_conversation.html", status, view=view, messages=shown,
                                title=_("Chat"), **extra)  # fmt: skip

    @bp.get("/chat")
    async def chat_list() -> Page:
        account = web.require_viewer()
        views = await list_views(account)
        return await web.render("chat_list.html", views=views, title=_("Chat"))

    @bp.post("/chat")
    async def chat_start() -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        raw = form.get("participants", "")
        text = form.get("text", "")
        handles = split_handles(raw)
        error = None
        if not handles:
            error = _("Name at least one colleague (name or name@node).")
        elif len(handles) > MAX_PARTICIPANTS:
            error = _("At most %(num)d participants.", num=MAX_PARTICIPANTS)
        elif not text.strip():
            error = _("Write a message.")
        else:
            parsed = [parse_handle(h) for h in handles]
            bad = [h for h, p in zip(handles, parsed, strict=True) if p is None]
            if bad:
                error = _("Not a handle: %(handles)s", handles=", ".join(bad))
            else:
                wanted = [p for p in parsed if p is not None]
                found = await posts.resolve_handles(site, wanted)
                unknown = [h for h, p in zip(handles, wanted, strict=True) if p not in found]
                if unknown:
                    error = _("Nobody found for %(handles)s", handles=", ".join(unknown))
                elif all(a.id == account.id for a in found.values()):
                    error = _("Name at least one colleague (name or name@node).")
        post: Post | None = None
        if error is None:
            try:
                post = await conversations.start(site, account, handles, text)
            except FedwallError as exc:
                error = service_message(exc.message)
        if post is None:
            views = await list_views(account)
            return await web.render("chat_list.html", 422, views=views, title=_("Chat"),
                                    error=error, participants=raw, text=text)  # fmt: skip
        view = await conversations.find_for_post(account, post)
        if view is None:  # pragma: no cover - the author is always a member
            abort(404)
        return await after_sending(account, view.conversation.id, post)

    async def after_sending(account: Account, conversation_id: int, post: Post) -> Page:
        missing = await conversations.undelivered(site, account, post)
        if not missing:
            return redirect(url_for("chat.chat_conversation", conversation_id=conversation_id))
        # Shown at once on the page that answers the form: the sender must see it.
        notices = undelivered_notices(missing, site)
        return await conversation_page(account, conversation_id, notices=notices)

    @bp.get("/chat/<int:conversation_id>")
    async def chat_conversation(conversation_id: int) -> Page:
        account = web.require_viewer()
        return await conversation_page(account, conversation_id)

    @bp.post("/chat/<int:conversation_id>")
    async def chat_send(conversation_id: int) -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        text = form.get("text", "")
        if not text.strip():
            return await conversation_page(account, conversation_id, 422,
                                           error=_("Write a message."))  # fmt: skip
        try:
            post = await conversations.send(site, account, conversation_id, text)
        except NotFound:
            abort(404)
        except FedwallError as exc:
            return await conversation_page(account, conversation_id, 422,
                                           error=service_message(exc.message),
                                           text=text)  # fmt: skip
        return await after_sending(account, conversation_id, post)

    def fragment(body: str) -> Response:
        response = Response(body, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/chat/<int:conversation_id>/messages/<int:post_id>")
    async def chat_message(conversation_id: int, post_id: int) -> Page:
        """One message of an open conversation page (marked read: the viewer sees it)."""
        account = web.viewer()
        if account is None:
            abort(401)
        try:
            post = await posts.get_visible_post(account, post_id)
        except NotFound:
            abort(404)
        view = await conversations.find_for_post(account, post)
        if view is None or view.conversation.id != conversation_id or post.visibility != "direct":
            abort(404)
        if post.id <= view.member.joined_after_id:
            abort(404)
        await conversations.mark_read_up_to(account, conversation_id, post.id)
        body = await render_template("_chat_message.html", message=post, viewer=account)
        return fragment(body)

    @bp.get("/chat/list")
    async def chat_list_fragment() -> Page:
        account = web.viewer()
        if account is None:
            abort(401)
        views = await list_views(account)
        return fragment(await render_template("_chat_list.html", views=views, viewer=account))

    @bp.get("/chat/unread")
    async def chat_unread_count() -> Page:
        account = web.viewer()
        if account is None:
            abort(401)
        count = await chat_unread(account)
        response = jsonify(
            {"unread": count, "label": ngettext("%(num)d unread", "%(num)d unread", count)}
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    return bp
