"""People: profile pages of local and remote colleagues, following by handle, search, settings."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import TYPE_CHECKING, Any

from quart import Blueprint, abort, redirect, request, url_for
from tortoise.expressions import Q

from node.errors import AuthenticationFailed, FedwallError, NotFound
from node.models import Account
from node.services import accounts, follows, posts, timelines
from node.services.content import Handle
from node.services.policy import shares_with
from webui.context import is_local_path
from webui.i18n import LANGUAGES, remember_language, service_message
from webui.i18n import gettext as _
from webui.sharing import chosen_nodes, sharing_table

if TYPE_CHECKING:
    from webui.context import WebContext
    from webui.pages import Page

# "name", "@name", "name@node" or "@name@node" (a node may carry a port).
HANDLE_RE = re.compile(r"^@?([a-zA-Z0-9_.-]{1,64})(?:@([a-zA-Z0-9.-]+(?::\d{1,5})?))?$")
# The form shows the fields and one empty row (at least 4 rows), up to the service's 8.
PROFILE_FIELD_ROWS = 8
MIN_PROFILE_FIELD_ROWS = 4
SEARCH_LIMIT = 20
PARAGRAPH_BREAK = re.compile(r"</p>\s*<p>")
TAG = re.compile(r"<[^>]+>")


def parse_handle(text: str) -> Handle | None:
    match = HANDLE_RE.match(text.strip())
    if match is None:
        return None
    username, domain = match.groups()
    return Handle(username.lower(), domain.lower() if domain else None)


def bio_text(summary_html: str) -> str:
    """The plain text a local bio was written as (paragraphs separated by blank lines)."""
    text = PARAGRAPH_BREAK.sub("\n\n", summary_html)
    return html.unescape(TAG.sub("", text.replace("<br>", "\n")))


def profile_path(account: Account) -> str:
    """``/@name`` for local people, ``/@name@node`` for others."""
    name = account.username if account.is_local else f"{account.username}@{account.domain}"
    return url_for("webui.wall", username=name)


def add_routes(bp: Blueprint, web: WebContext) -> None:
    site = web.site

    bp.add_app_template_filter(profile_path, "profile_path")

    def handle(account: Account) -> str:
        return accounts.handle_of(account, site)

    bp.add_app_template_filter(handle, "handle")

    async def find_account(handle: Handle, *, fetch: bool) -> Account | None:
        """A known account for ``handle``; remote ones are fetched when ``fetch`` allows."""
        if handle.domain is None or handle.domain == site.domain:
            try:
                return await accounts.get_local(handle.username)
            except NotFound:
                return None
        known = await Account.filter(
            username__iexact=handle.username, domain=handle.domain, disabled=False
        ).first()
        if known is not None or not fetch:
            return known
        try:
            found = await posts.resolve_handles(site, [handle])
        except FedwallError:
            return None
        return found.get(handle)

    @bp.get("/@<username>")
    async def wall(username: str) -> Page:
        handle = parse_handle(username)
        if handle is None:
            abort(404)
        # Visitors never make this node fetch from others; signed-in colleagues may.
        author = await find_account(handle, fetch=web.viewer() is not None)
        if author is None or author.actor_type != "Person":
            abort(404)
        if author.is_local and handle.domain is not None:
            return redirect(profile_path(author))
        page = await timelines.wall(web.viewer(), author, web.page_request())
        relation = None
        account = web.viewer()
        if account is not None and account.id != author.id:
            relation = await follows.state_of(account, author)
        fields = author.profile_fields or []
        if account is None and author.is_local:
            # Visitors who are not signed in see what the person shares with every node.
            fields = [item for item in fields if shares_with(item, None)]
        return await web.render(
            "wall.html", author=author, fields=fields, page=page, relation=relation
        )

    @bp.post("/follow")
    async def follow() -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        text = form.get("handle", "")
        handle = parse_handle(text)
        if handle is None:
            abort(422, _("“%(handle)s” is not a handle: write name or name@node.", handle=text))
        target = await find_account(handle, fetch=True)
        if target is None:
            abort(422, _("No colleague %(handle)s was found.", handle=text.strip().lstrip("@")))
        try:
            if form.get("undo"):
                await follows.unfollow(site, account, target)
            else:
                await follows.follow(site, account, target)
        except FedwallError as exc:
            abort(422, service_message(exc))
        return redirect(profile_path(target))

    @bp.get("/search")
    async def search() -> Page:
        account = web.viewer()
        query = request.args.get("q", "").strip()
        if query.startswith("#") and len(query) > 1:
            return redirect(url_for("webui.tag", tag=query[1:]))
        found: list[Account] = []
        handle = parse_handle(query) if query else None
        if handle is not None and handle.domain is not None:
            exact = await find_account(handle, fetch=account is not None)
            if exact is not None:
                found.append(exact)
        if query and len(found) < SEARCH_LIMIT:
            text = query.lstrip("@").split("@", 1)[0]
            # No search service exists yet: a read-only query over known people.
            matches = await (
                Account.filter(actor_type="Person", disabled=False)
                .filter(Q(username__icontains=text) | Q(display_name__icontains=text))
                .order_by("domain", "username")
                .limit(SEARCH_LIMIT)
            )
            found.extend(m for m in matches if m.id not in {f.id for f in found})
        relations: dict[int, str | None] = {}
        if account is not None:
            for person in found:
                if person.id != account.id:
                    relations[person.id] = await follows.state_of(account, person)
        return await web.render("search.html", query=query, found=found, relations=relations)

    @bp.get("/settings")
    async def settings_page() -> Page:
        account = web.require_viewer()
        return await settings_form(account)

    async def settings_form(
        account: Account, status: int = 200, **messages: Any
    ) -> tuple[str, int]:
        rows = list(account.profile_fields)[:PROFILE_FIELD_ROWS]
        shown = min(PROFILE_FIELD_ROWS, max(MIN_PROFILE_FIELD_ROWS, len(rows) + 1))
        rows += [{"name": "", "value": ""}] * (shown - len(rows))
        sharing = sharing_table(await site.policy.current(), account, rows, dt.datetime.now(dt.UTC))
        return await web.render("settings.html", status, account=account, bio=bio_text(
            account.summary_html), field_rows=rows, sharing=sharing, **messages)  # fmt: skip

    @bp.post("/settings/profile")
    async def save_profile() -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        fields: list[dict[str, object]] = []
        # Without the sharing table (a scripted client), every field keeps its choice.
        columns = form.getlist("share_columns") if form.get("sharing") else None
        for index in range(PROFILE_FIELD_ROWS):
            name = form.get(f"field_name_{index}", "").strip()
            value = form.get(f"field_value_{index}", "").strip()
            if not (name or value):
                continue
            field: dict[str, object] = {"name": name, "value": value}
            if columns is not None:
                targets, missing = chosen_nodes(form.getlist(f"field_share_{index}"), columns)
                if missing is not None:
                    message = _(
                        "“Any other node” shares %(field)s with every node, %(node)s included: "
                        "uncheck it to choose nodes one by one.",
                        field=name or _("Field %(n)d", n=index + 1),
                        node=missing,
                    )
                    return await settings_form(account, 422, profile_error=message)
                field["shared_with"] = targets
            fields.append(field)
        try:
            await accounts.update_profile(
                account,
                display_name=form.get("display_name", "").strip(),
                summary=form.get("bio", "").replace("\r\n", "\n"),
                locked=bool(form.get("locked")),
                profile_fields=fields,
            )
        except FedwallError as exc:
            return await settings_form(account, 422, profile_error=service_message(exc))
        return await settings_form(account, profile_saved=True)

    @bp.post("/settings/password")
    async def change_password() -> Page:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        new = form.get("new_password", "")
        if new != form.get("confirm_password", ""):
            return await settings_form(
                account, 422, password_error=_("The two new passwords are not the same.")
            )
        try:
            await accounts.change_password(account, form.get("current_password", ""), new)
        except AuthenticationFailed as exc:
            return await settings_form(account, 422, password_error=service_message(exc))
        except FedwallError as exc:
            return await settings_form(account, 422, password_error=service_message(exc))
        return await settings_form(account, password_saved=True)

    @bp.post("/settings/language")
    async def save_language() -> Page:
        """The account's language (also remembered for the pages before signing in)."""
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        code = form.get("language", "")
        if code not in LANGUAGES:
            abort(422, _("Unknown language."))
        account.language = code
        await account.save(update_fields=["language", "updated_at"])
        target = form.get("next", "")
        response = redirect(target if is_local_path(target) else url_for("webui.settings_page"))
        remember_language(response, code, secure=web.settings.scheme == "https")
        return response
