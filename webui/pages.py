"""The pages: sign-in, home with composer, node and hashtag timelines, threads, notifications.

Profiles, following and settings are in :mod:`webui.profiles`; live updates in
:mod:`webui.live`. All of them are routes of the one ``webui`` blueprint.
"""

from __future__ import annotations

from typing import Any

from quart import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.wrappers.response import Response as WerkzeugResponse

from node.errors import AuthenticationFailed, FedwallError, NotFound
from node.models import Account
from node.runtime import Runtime
from node.services import accounts, follows, notifications, posts, reactions, sessions, timelines
from node.services.pagination import PageRequest
from node.services.sessions import SESSION_COOKIE
from webui import admin, live, preview, profiles
from webui.context import STATIC_DIR, WebContext, is_local_path
from webui.i18n import LANGUAGES, remember_language, service_message
from webui.i18n import gettext as _

__all__ = ["CSP", "SESSION_COOKIE", "build_blueprint", "is_local_path"]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# Versioned asset URLs never change content, so browsers may keep them for a year.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
UNVERSIONED_CACHE = "public, max-age=3600"

Page = str | Response | WerkzeugResponse | tuple[str, int]


def own_description(error: Any, default: str) -> str:
    """The reason given to ``abort``, or ``default`` instead of werkzeug's English one."""
    description = getattr(error, "description", None)
    if not description or description == getattr(type(error), "description", None):
        return default
    return str(description)


def build_blueprint(runtime: Runtime) -> Blueprint:
    web = WebContext(runtime)
    site = web.site
    settings = web.settings
    bp = Blueprint("webui", __name__, template_folder="templates")

    @bp.before_app_request
    async def load_viewer() -> None:
        g.session_token = request.cookies.get(SESSION_COOKIE)
        g.viewer = await sessions.account_for(g.session_token)

    @bp.before_request
    async def refuse_cross_site_posts() -> None:
        # Defence in depth beside CSRF tokens (and the only guard of the sign-in form):
        # browsers name the page a form came from in Origin.
        # ("null" comes from sandboxed frames and opaque origins: never one of our pages.)
        origin = (request.headers.get("Origin") or "").rstrip("/")
        allowed = (site.base_url, request.host_url.rstrip("/"))
        if request.method == "POST" and origin and origin not in allowed:
            abort(403)

    @bp.after_app_request
    async def headers(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("Vary", "Cookie, Accept-Language")
        return response

    @bp.app_context_processor
    def page_globals() -> dict[str, Any]:
        return {"static_url": web.static_url}

    @bp.get("/static/<path:filename>")
    async def static(filename: str) -> Response:
        response = await send_from_directory(STATIC_DIR, filename)
        versioned = request.args.get("v") == web.versions.get(filename)
        response.headers["Cache-Control"] = IMMUTABLE_CACHE if versioned else UNVERSIONED_CACHE
        return response

    @bp.get("/")
    async def index() -> Page:
        if web.viewer() is not None:
            return redirect(url_for("webui.home"))
        page = await timelines.node_timeline(None, web.page_request())
        return await web.render("timeline.html", title=site.domain, page=page)

    @bp.route("/login", methods=["GET", "POST"])
    async def login() -> Page:
        error = None
        status = 200
        if request.method == "POST":
            form = await request.form
            username = form.get("username", "")
            key = web.limiter.key(request.remote_addr, username)
            wait = web.limiter.retry_after(key)
            if wait is not None:
                minutes = max(1, round(wait / 60))
                error = _(
                    "Too many failed sign-ins for this account from your address. "
                    "Try again in %(minutes)d min.",
                    minutes=minutes,
                )
                body, _status = await web.render("login.html", 429, error=error)
                return Response(body, 429, {"Retry-After": str(int(wait) + 1)},
                                mimetype="text/html")  # fmt: skip
            try:
                account = await accounts.authenticate(
                    username, form.get("password", ""), settings=settings
                )
            except AuthenticationFailed as exc:
                web.limiter.failed(key)
                error = service_message(exc)
                status = 401
            else:
                web.limiter.succeeded(key)
                token = await sessions.open_session(account)
                target = request.args.get("next", "")
                if not is_local_path(target):
                    target = url_for("webui.home")
                response = redirect(target)
                response.set_cookie(
                    SESSION_COOKIE,
                    token,
                    httponly=True,
                    secure=settings.scheme == "https",
                    samesite="Lax",
                    max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
                )
                return response
        return await web.render("login.html", status, error=error)

    @bp.post("/logout")
    async def logout() -> Page:
        await web.check_csrf()
        await sessions.close_session(g.session_token)
        response = redirect(url_for("webui.index"))
        response.delete_cookie(SESSION_COOKIE)
        return response

    @bp.get("/language/<code>")
    async def language(code: str) -> Page:
        """Remember the language chosen before signing in (a cookie: a link will do).

        Signed-in people change their account's language with a form (the footer's
        buttons, or the settings page), which this link does not override.
        """
        if code not in LANGUAGES:
            abort(404)
        target = request.args.get("next", "")
        response = redirect(target if is_local_path(target) else url_for("webui.index"))
        remember_language(response, code, secure=settings.scheme == "https")
        return response

    @bp.get("/home")
    async def home() -> Page:
        account = web.require_viewer()
        page = await timelines.home(account, web.page_request())
        return await web.render("timeline.html", title=_("Home"), page=page, composer=True,
                                live_timeline="home" if not request.args else "")  # fmt: skip

    @bp.get("/local")
    async def local() -> Page:
        page = await timelines.node_timeline(web.viewer(), web.page_request())
        title = _("Everyone on %(domain)s", domain=site.domain)
        return await web.render("timeline.html", title=title, page=page)

    @bp.get("/tags/<tag>")
    async def tag(tag: str) -> Page:
        page = await timelines.tag_timeline(web.viewer(), tag, web.page_request())
        return await web.render("timeline.html", title=f"#{tag.lower().lstrip('#')}", page=page,
                                tag=tag.lower().lstrip("#"))  # fmt: skip

    @bp.post("/posts")
    async def create() -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        reply_to = form.get("in_reply_to_id")
        draft = posts.Draft(
            text=form.get("text", ""),
            visibility=form.get("visibility", "public"),
            label=form.get("label") or None,
            summary=form.get("summary", ""),
            in_reply_to_id=int(reply_to) if reply_to and reply_to.isdigit() else None,
        )
        try:
            await posts.create_post(site, account, draft)
        except FedwallError as exc:
            page = await timelines.home(account, PageRequest())
            return await web.render("timeline.html", 422, title=_("Home"), page=page,
                                    composer=True, error=service_message(exc),
                                    draft=draft)  # fmt: skip
        return web.back(url_for("webui.home"))

    @bp.post("/posts/<int:post_id>/edit")
    async def edit(post_id: int) -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        try:
            post = await posts.edit_post(site, account, post_id, form.get("text", ""),
                                         summary=form.get("summary"),
                                         label=form.get("label") or None)  # fmt: skip
        except NotFound:
            abort(404)
        except FedwallError as exc:
            abort(422, service_message(exc))
        return redirect(url_for("webui.post_page", post_id=post.id))

    @bp.post("/posts/<int:post_id>/<action>")
    async def act(post_id: int, action: str) -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        handlers = {
            "like": reactions.like,
            "unlike": reactions.unlike,
            "share": reactions.share,
            "unshare": reactions.unshare,
            "delete": posts.delete_post,
        }
        handler = handlers.get(action)
        if handler is None:
            abort(404)
        try:
            await handler(site, account, post_id)
        except NotFound:
            abort(404)
        except FedwallError as exc:
            abort(422, service_message(exc))
        if action == "delete":
            # The thread of a deleted post is gone: never go back to it.
            referrer = request.referrer or ""
            if f"/{post_id}" in referrer:
                return redirect(url_for("webui.home"))
        return web.back(url_for("webui.home"))

    async def thread_page(post_id: int) -> Page:
        try:
            ancestors, post, descendants = await posts.thread(web.viewer(), post_id)
        except NotFound:
            abort(404)
        extra = [timelines.TimelineItem(p) for p in (*ancestors, post, *descendants)]
        return await web.render("thread.html", ancestors=ancestors, post=post,
                                descendants=descendants, extra_items=extra)  # fmt: skip

    @bp.get("/@<username>/<int:post_id>")
    async def thread(username: str, post_id: int) -> Page:
        return await thread_page(post_id)

    @bp.get("/posts/<int:post_id>")
    async def post_page(post_id: int) -> Page:
        return await thread_page(post_id)

    @bp.post("/follow-requests/<int:account_id>/<action>")
    async def answer_follow_request(account_id: int, action: str) -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        requester = await Account.get_or_none(id=account_id)
        if requester is None or action not in ("accept", "reject"):
            abort(404)
        try:
            if action == "accept":
                await follows.accept(site, account, requester)
            else:
                await follows.reject(site, account, requester)
        except NotFound:
            abort(404)
        return web.back(url_for("webui.notifications_page"))

    @bp.get("/notifications")
    async def notifications_page() -> Page:
        account = web.require_viewer()
        page = await notifications.list_notifications(account, web.page_request())
        requests = await follows.pending_requests(account, PageRequest(limit=40))
        await notifications.mark_read(account)
        return await web.render("notifications.html", page=page, requests=requests.items)

    profiles.add_routes(bp, web)
    live.add_routes(bp, web)
    preview.add_routes(bp, web)
    admin.add_routes(bp, web)

    @bp.app_errorhandler(403)
    async def forbidden(error: Any) -> Page:
        return await web.render("error.html", 403, message=_("This request is not allowed."))

    @bp.app_errorhandler(404)
    async def not_found(error: Exception) -> Page:
        return await web.render("error.html", 404, message=_("Not found."))

    @bp.app_errorhandler(422)
    async def unprocessable(error: Any) -> Page:
        return await web.render("error.html", 422, message=own_description(error, _("Rejected.")))

    @bp.app_errorhandler(400)
    async def bad_request(error: Any) -> Page:
        message = own_description(error, _("Bad request."))
        return await web.render("error.html", 400, message=message)

    return bp
