"""The pages: sign-in, home with composer, walls, threads, node and hashtag timelines."""

from __future__ import annotations

import datetime as dt
from typing import Any

from quart import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers.response import Response as WerkzeugResponse

from node.errors import AuthenticationFailed, FedwallError, NotFound
from node.models import Account
from node.runtime import Runtime
from node.services import accounts, follows, notifications, posts, reactions, sessions, timelines
from node.services.pagination import PageRequest

SESSION_COOKIE = "fedwall_session"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

Page = str | Response | WerkzeugResponse | tuple[str, int]


def build_blueprint(runtime: Runtime) -> Blueprint:
    site = runtime.site
    settings = runtime.settings
    bp = Blueprint(
        "webui", __name__, template_folder="templates", static_folder="static",
        static_url_path="/static",
    )  # fmt: skip

    @bp.before_app_request
    async def load_viewer() -> None:
        g.session_token = request.cookies.get(SESSION_COOKIE)
        g.viewer = await sessions.account_for(g.session_token)

    @bp.after_app_request
    async def headers(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def viewer() -> Account | None:
        account: Account | None = g.get("viewer")
        return account

    def require_viewer() -> Account:
        account = viewer()
        if account is None:
            abort(redirect(url_for("webui.login", next=request.path)))  # type: ignore[arg-type]
        return account

    async def check_csrf() -> None:
        form = await request.form
        if not sessions.csrf_valid(settings.secret_key, g.session_token, form.get("csrf")):
            abort(400, "the form expired or did not come from this site; reload and try again")

    async def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
        account = viewer()
        csrf = sessions.csrf_token(settings.secret_key, g.session_token) if account else ""
        unread = await notifications.unread_count(account) if account else 0
        body = await render_template(
            template, viewer=account, csrf=csrf, site=site, unread=unread, **context
        )
        return body, status

    def page_request() -> PageRequest:
        try:
            return PageRequest.parse(request.args)
        except FedwallError:
            return PageRequest()

    @bp.app_template_filter("ago")
    def ago(moment: dt.datetime) -> str:
        seconds = int((dt.datetime.now(dt.UTC) - moment).total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit}"
        return "now"

    @bp.app_template_filter("handle")
    def handle(account: Account) -> str:
        return accounts.handle_of(account, site)

    @bp.get("/")
    async def index() -> Page:
        if viewer() is not None:
            return redirect(url_for("webui.home"))
        page = await timelines.node_timeline(None, page_request())
        return await render("timeline.html", title=f"{site.domain}", page=page, composer=False)

    @bp.route("/login", methods=["GET", "POST"])
    async def login() -> Page:
        error = None
        if request.method == "POST":
            form = await request.form
            try:
                account = await accounts.authenticate(
                    form.get("username", ""), form.get("password", "")
                )
            except AuthenticationFailed as exc:
                error = exc.message
            else:
                token = await sessions.open_session(account)
                target = request.args.get("next", "")
                if not target.startswith("/") or target.startswith("//"):
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
        return await render("login.html", 401 if error else 200, error=error)

    @bp.post("/logout")
    async def logout() -> Page:
        await check_csrf()
        await sessions.close_session(g.session_token)
        response = redirect(url_for("webui.index"))
        response.delete_cookie(SESSION_COOKIE)
        return response

    @bp.get("/home")
    async def home() -> Page:
        account = require_viewer()
        page = await timelines.home(account, page_request())
        return await render("timeline.html", title="Home", page=page, composer=True)

    @bp.get("/local")
    async def local() -> Page:
        page = await timelines.node_timeline(viewer(), page_request())
        return await render("timeline.html", title=f"Everyone on {site.domain}", page=page,
                            composer=False)  # fmt: skip

    @bp.get("/tags/<tag>")
    async def tag(tag: str) -> Page:
        page = await timelines.tag_timeline(viewer(), tag, page_request())
        return await render("timeline.html", title=f"#{tag}", page=page, composer=False)

    @bp.post("/posts")
    async def create() -> Page:
        account = require_viewer()
        await check_csrf()
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
            return await render("timeline.html", 422, title="Home", page=page, composer=True,
                                error=exc.message, draft=draft)  # fmt: skip
        return redirect(request.referrer or url_for("webui.home"))

    @bp.post("/posts/<int:post_id>/edit")
    async def edit(post_id: int) -> Page:
        account = require_viewer()
        await check_csrf()
        form = await request.form
        try:
            await posts.edit_post(site, account, post_id, form.get("text", ""),
                                  summary=form.get("summary"))  # fmt: skip
        except NotFound:
            abort(404)
        except FedwallError as exc:
            abort(422, exc.message)
        return redirect(request.referrer or url_for("webui.home"))

    @bp.post("/follow-requests/<int:account_id>/<action>")
    async def answer_follow_request(account_id: int, action: str) -> Page:
        account = require_viewer()
        await check_csrf()
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
        return redirect(request.referrer or url_for("webui.notifications_page"))

    @bp.post("/posts/<int:post_id>/<action>")
    async def act(post_id: int, action: str) -> Page:
        account = require_viewer()
        await check_csrf()
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
            abort(422, exc.message)
        return redirect(request.referrer or url_for("webui.home"))

    @bp.get("/@<username>")
    async def wall(username: str) -> Page:
        try:
            author = await accounts.get_local(username)
        except NotFound:
            abort(404)
        page = await timelines.wall(viewer(), author, page_request())
        relation = None
        account = viewer()
        if account is not None and account.id != author.id:
            relation = await follows.state_of(account, author)
        return await render("wall.html", author=author, page=page, relation=relation)

    @bp.get("/@<username>/<int:post_id>")
    async def thread(username: str, post_id: int) -> Page:
        try:
            ancestors, post, descendants = await posts.thread(viewer(), post_id)
        except NotFound:
            abort(404)
        return await render("thread.html", ancestors=ancestors, post=post, descendants=descendants)

    @bp.post("/follow")
    async def follow() -> Page:
        account = require_viewer()
        await check_csrf()
        form = await request.form
        handle = form.get("handle", "").strip().lstrip("@")
        username, _, domain = handle.partition("@")
        try:
            found = await posts.resolve_handles(
                site, [posts.Handle(username.lower(), domain.lower() or None)]
            )
            if not found:
                raise NotFound(f"no account {handle!r} found")
            target = next(iter(found.values()))
            if form.get("undo"):
                await follows.unfollow(site, account, target)
            else:
                await follows.follow(site, account, target)
        except FedwallError as exc:
            abort(422, exc.message)
        return redirect(request.referrer or url_for("webui.home"))

    @bp.get("/notifications")
    async def notifications_page() -> Page:
        account = require_viewer()
        page = await notifications.list_notifications(account, page_request())
        requests = await follows.pending_requests(account, PageRequest(limit=40))
        await notifications.mark_read(account)
        return await render("notifications.html", page=page, requests=requests.items)

    @bp.app_errorhandler(404)
    async def not_found(error: Exception) -> Page:
        return await render("error.html", 404, message="Not found.")

    @bp.app_errorhandler(422)
    async def unprocessable(error: Any) -> Page:
        return await render("error.html", 422, message=getattr(error, "description", "Rejected."))

    @bp.app_errorhandler(400)
    async def bad_request(error: Any) -> Page:
        return await render(
            "error.html", 400, message=getattr(error, "description", "Bad request.")
        )

    return bp
