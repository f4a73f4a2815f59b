"""Chat: the viewer's conversations (direct messages across nodes) as pages.

``GET /chat`` lists them with their participants, last message, unread count and
mute mark; ``GET /chat/<id>`` shows the newest messages oldest first (in conversation
order), ``?before=<post id>`` the page of messages before that one, with a send form
and the conversation's controls, and marks the conversation read. ``POST /chat``
starts one with several participants, ``POST /chat/<id>`` sends; both redirect (303)
to ``/chat/<id>?sent=<post id>``, where the page names every participant the boundary
policy keeps that message from, and why: never a silent drop, and no re-sending on
reload. ``POST /chat/<id>/participants``, ``/mute`` and ``/leave`` (after the
confirmation page ``GET /chat/<id>/leave``) redirect with ``?done=`` or ``?added=``
for the confirmation to show.

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
from webui.i18n import ngettext, reason_text, service_message
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
        reasons = [reason_text(r) for r in item.details] if item.details else item.reasons
        reason = "; ".join(reasons) or _("refused by the policy")
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


def confirmation(done: str) -> str | None:
    """What a control just did, from the ``?done=`` its redirect carries (fixed texts only:
    a crafted link cannot put words on the page)."""
    texts = {
        "muted": _("The conversation is muted."),
        "unmuted": _("The conversation is no longer muted."),
        "left": _("You left the conversation."),
    }
    return texts.get(done)


def see_other(location: str) -> WerkzeugResponse:
    """After a form: the browser GETs the page, so a reload does not post again."""
    return redirect(location, 303)


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

    async def sent_notices(account: Account, conversation_id: int, post_id: int) -> list[str]:
        """The participants the viewer's message ``post_id`` in this conversation will not
        reach, as sentences (``?sent=`` after sending); nothing for anyone else's message."""
        post = await Post.get_or_none(
            id=post_id, author_id=account.id, visibility="direct", deleted_at=None
        )
        if post is None:
            return []
        view = await conversations.find_for_post(account, post)
        if view is None or view.conversation.id != conversation_id:
            return []
        return undelivered_notices(await conversations.undelivered(site, account, post), site)

    async def conversation_page(
        account: Account,
        conversation_id: int,
        status: int = 200,
        before: int | None = None,
        **extra: Any,
    ) -> Page:
        try:
            # An older page leaves the read marker alone: the newest messages are not on it.
            if before is None:
                view = await conversations.mark_read(account, conversation_id)
            else:
                view = await conversations.get_for(account, conversation_id)
            # One more than shown: whether an "Older messages" link leads anywhere.
            shown = await conversations.messages(
                account, conversation_id, before_id=before, limit=MESSAGES_SHOWN + 1
            )
            present = {a.id for a in await conversations.participants(conversation_id)}
        except NotFound:
            abort(404)
        has_older = len(shown) > MESSAGES_SHOWN
        shown = shown[-MESSAGES_SHOWN:]
        older_before = shown[0].id if has_older else None
        return await web.render("chat_conversation.html", status, view=view, messages=shown,
                                before=before, older_before=older_before, present=present,
                                title=_("Chat"), **extra)  # fmt: skip

    @bp.get("/chat")
    async def chat_list() -> Page:
        account = web.require_viewer()
        views = await list_views(account)
        return await web.render("chat_list.html", views=views, title=_("Chat"),
                                done=confirmation(request.args.get("done", "")))  # fmt: skip

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
                error = service_message(exc)
        if post is None:
            views = await list_views(account)
            return await web.render("chat_list.html", 422, views=views, title=_("Chat"),
                                    error=error, participants=raw, text=text)  # fmt: skip
        view = await conversations.find_for_post(account, post)
        if view is None:  # pragma: no cover - the author is always a member
            abort(404)
        return sent(view.conversation.id, post)

    def sent(conversation_id: int, post: Post) -> WerkzeugResponse:
        # The page the redirect leads to names whoever the policy keeps the message from.
        return see_other(
            url_for("chat.chat_conversation", conversation_id=conversation_id, sent=post.id)
        )

    @bp.get("/chat/<int:conversation_id>")
    async def chat_conversation(conversation_id: int) -> Page:
        account = web.require_viewer()
        sent_id = request.args.get("sent", type=int)
        notices = await sent_notices(account, conversation_id, sent_id) if sent_id else []
        added = request.args.get("added", type=int)
        return await conversation_page(
            account,
            conversation_id,
            before=request.args.get("before", type=int),
            notices=notices,
            added=added,
            done=confirmation(request.args.get("done", "")),
        )

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
                                           error=service_message(exc),
                                           text=text)  # fmt: skip
        return sent(conversation_id, post)

    @bp.post("/chat/<int:conversation_id>/participants")
    async def chat_add_participant(conversation_id: int) -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        raw = (await request.form).get("handle", "").strip()
        try:
            # Members only: nobody else may make this node look handles up.
            await conversations.get_for(account, conversation_id)
        except NotFound:
            abort(404)
        present = {a.id for a in await conversations.participants(conversation_id)}
        handle = parse_handle(raw)
        # Remote handles are looked up (and fetched) as when starting a conversation.
        person: Account | None = None
        if handle is not None:
            person = (await posts.resolve_handles(site, [handle])).get(handle)
        error = None
        if not raw:
            error = _("Name at least one colleague (name or name@node).")
        elif handle is None:
            error = _("Not a handle: %(handles)s", handles=raw)
        elif person is None:
            error = _("Nobody found for %(handles)s", handles=raw)
        elif person.id in present:
            error = _("%(handle)s already takes part in this conversation.", handle=raw)
        else:
            try:
                await conversations.add_participant(account, conversation_id, person)
            except NotFound:
                abort(404)
            except FedwallError as exc:
                error = service_message(exc)
        if error is not None or person is None:
            return await conversation_page(account, conversation_id, 422,
                                           error=error, handle=raw)  # fmt: skip
        return see_other(url_for("chat.chat_conversation", conversation_id=conversation_id,
                                 added=person.id))  # fmt: skip

    @bp.post("/chat/<int:conversation_id>/mute")
    async def chat_mute(conversation_id: int) -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        muted = (await request.form).get("muted") == "yes"
        try:
            await conversations.set_muted(account, conversation_id, muted)
        except NotFound:
            abort(404)
        except FedwallError as exc:
            return await conversation_page(account, conversation_id, 422,
                                           error=service_message(exc))  # fmt: skip
        done = "muted" if muted else "unmuted"
        return see_other(
            url_for("chat.chat_conversation", conversation_id=conversation_id, done=done)
        )

    @bp.get("/chat/<int:conversation_id>/leave")
    async def chat_leave_confirm(conversation_id: int) -> Page:
        """Leaving cannot be undone from this side: a page asks first (no script needed)."""
        account = web.require_viewer()
        try:
            view = await conversations.get_for(account, conversation_id)
        except NotFound:
            abort(404)
        present = {a.id for a in await conversations.participants(conversation_id)}
        others = [a for a in view.others if a.id in present]
        return await web.render("chat_leave.html", view=view, others=others,
                                title=_("Leave the conversation"))  # fmt: skip

    @bp.post("/chat/<int:conversation_id>/leave")
    async def chat_leave(conversation_id: int) -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        if (await request.form).get("confirm") != "yes":
            return see_other(url_for("chat.chat_leave_confirm", conversation_id=conversation_id))
        try:
            await conversations.leave(account, conversation_id)
        except NotFound:
            abort(404)
        except FedwallError as exc:
            view = await conversations.get_for(account, conversation_id)
            return await web.render("chat_leave.html", 422, view=view, others=view.others,
                                    title=_("Leave the conversation"),
                                    error=service_message(exc))  # fmt: skip
        return see_other(url_for("chat.chat_list", done="left"))

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
