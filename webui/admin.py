"""The admin console: the federation at a glance, peers, policy, reviews, audit, users, deliveries.

Every page calls the services the admin API and the CLI call. Only admins reach
them: anyone else gets a plain 404, so the console does not even show it exists.
Every form carries the CSRF token; every change names the admin (``web:<username>``)
in the policy versions and the audit log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from quart import Blueprint, abort, redirect, request, url_for
from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.transactions import in_transaction
from werkzeug.wrappers.response import Response as WerkzeugResponse

from node.errors import FedwallError
from node.models import Account, AuditEntry, Delivery, PolicyVersion
from node.policy import KINDS, PolicyFileError, PolicySnapshot, parse_policy_file
from node.services import accounts, audit, groups, peers, reviews
from node.services.peers import PeerSummary, TermsChange
from webui import policy_editor
from webui.context import WebContext
from webui.i18n import gettext as _
from webui.i18n import ngettext, reason_text, service_message
from webui.policy_editor import PolicyEdit, RuleKind

Page = tuple[str, int] | WerkzeugResponse
DELIVERY_STATES = ("pending", "in_flight", "retrying", "held", "delivered", "dead")
BACKLOG_STATES = ("pending", "in_flight", "retrying", "held", "dead")
AUDIT_PAGE = 100
# The policy page shows each rule's matches among this many latest crossings.
RULE_WINDOW = 500
# The federation picture: this node in the middle, peers on a circle around it.
MAP_SIZE = 480
MAP_RADIUS = 170


@dataclass(frozen=True)
class PeerRow:
    """One peer of the overview: its summary, its delivery backlog and a health word."""

    summary: PeerSummary
    backlog: dict[str, int]
    health: str


@dataclass(frozen=True)
class RuleMatch:
    """One recent crossing a rule matched; ``dry_run``: what a dry-run rule would have done."""

    seq: int
    at: dt.datetime
    peer: str
    direction: str
    decision: str
    message: str
    dry_run: bool


@dataclass(frozen=True)
class MapNode:
    domain: str
    status: str
    x: float
    y: float


def health_of(summary: PeerSummary, backlog: dict[str, int]) -> str:
    """``blocked``, ``failing`` (dead deliveries), ``degraded`` (retrying), ``ok``, ``silent``."""
    if summary.status == "blocked":
        return "blocked"
    if backlog.get("dead"):
        return "failing"
    if backlog.get("retrying"):
        return "degraded"
    if summary.stats is not None and summary.stats.last_contact_at is not None:
        return "ok"
    return "silent"


def federation_map(domains: list[tuple[str, str]]) -> list[MapNode]:
    """Peers placed evenly on a circle, the first at the top (pure: tested without a page)."""
    centre = MAP_SIZE / 2
    count = max(len(domains), 1)
    placed = []
    for index, (domain, status) in enumerate(domains):
        angle = -math.pi / 2 + 2 * math.pi * index / count
        placed.append(
            MapNode(
                domain,
                status,
                round(centre + MAP_RADIUS * math.cos(angle), 1),
                round(centre + MAP_RADIUS * math.sin(angle), 1),
            )
        )
    return placed


def parse_day(text: str) -> dt.datetime | None:
    """``YYYY-MM-DD`` (or a full ISO time) as an aware UTC time; None when empty or invalid."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def rule_matches(entries: list[AuditEntry], per_rule: int = 3) -> dict[str, list[RuleMatch]]:
    """The latest matches of each rule among ``entries`` (newest first), from their reasons."""
    found: dict[str, list[RuleMatch]] = {}
    for entry in entries:
        reasons = entry.details.get("reasons")
        for reason in reasons if isinstance(reasons, list) else []:
            rule = reason.get("rule") if isinstance(reason, dict) else None
            if not rule or len(found.setdefault(str(rule), [])) >= per_rule:
                continue
            found[str(rule)].append(
                RuleMatch(
                    seq=entry.seq,
                    at=entry.created_at,
                    peer=entry.peer_domain or "",
                    direction=entry.direction or "",
                    decision=entry.decision or "",
                    message=reason_text(reason),
                    dry_run=bool(reason.get("dry_run")),
                )
            )
    return found


async def delivery_backlog() -> dict[str, dict[str, int]]:
    """Deliveries per peer and state (delivered ones are not backlog and are not counted)."""
    rows = (
        await Delivery.filter(state__in=BACKLOG_STATES)
        .annotate(n=Count("id"))
        .group_by("peer_domain", "state")
        .values("peer_domain", "state", "n")
    )
    backlog: dict[str, dict[str, int]] = {}
    for row in rows:
        backlog.setdefault(str(row["peer_domain"]), {})[str(row["state"])] = int(row["n"])
    return backlog


def add_routes(bp: Blueprint, web: WebContext) -> None:
    site = web.site
    bp.add_app_template_filter(status_name, "status_name")

    def require_admin() -> Account:
        account = web.viewer()
        if account is None or not account.is_admin or account.disabled:
            abort(404)
        return account

    def actor(account: Account) -> str:
        return f"web:{account.username}"

    def done(endpoint: str, message: str, **values: Any) -> WerkzeugResponse:
        return redirect(url_for(endpoint, done=message, **values))

    # ------------------------------------------------------------ overview

    @bp.get("/admin")
    async def admin_overview() -> Page:
        require_admin()
        summaries = await peers.list_peers(site.policy)
        backlog = await delivery_backlog()
        rows = [
            PeerRow(s, backlog.get(s.domain, {}), health_of(s, backlog.get(s.domain, {})))
            for s in summaries
        ]
        snapshot = await site.policy.current()
        chain = await audit.verify_chain()
        held = await reviews.list_items("held")
        return await web.render(
            "admin/overview.html",
            rows=rows,
            states=BACKLOG_STATES,
            map_nodes=federation_map([(s.domain, s.status) for s in summaries]),
            map_size=MAP_SIZE,
            snapshot=snapshot,
            chain=chain,
            held_count=len(held),
            pending_requests=len(await peers.list_requests("pending")),
        )

    # ------------------------------------------------------------ peers

    async def peers_page(status: int = 200, **context: Any) -> tuple[str, int]:
        context.setdefault("done", request.args.get("done", ""))
        return await web.render(
            "admin/peers.html",
            status,
            rows=await peers.list_peers(site.policy),
            requests=await peers.list_requests("pending"),
            snapshot=await site.policy.current(),
            describe=peers.describe_terms,
            kinds=KINDS,
            **context,
        )

    @bp.get("/admin/peers")
    async def admin_peers() -> Page:
        require_admin()
        return await peers_page()

    @bp.post("/admin/peers")
    async def admin_peer_change() -> Page:
        account = require_admin()
        await web.check_csrf()
        form = await request.form
        domain = form.get("domain", "").strip()
        action = form.get("action", "")
        note = form.get("note", "").strip() or None
        try:
            if action == "allow":
                change = await peers.allow(site.policy, domain, author=actor(account), note=note)
            elif action == "block":
                change = await peers.block(site.policy, domain, author=actor(account), note=note)
            elif action == "limit":
                kinds = form.getlist("kinds")
                terms = TermsChange(
                    kinds=peers.parse_kinds(kinds) if kinds else None,
                    max_label=form.get("max_label") or None,
                    media=None if not form.get("media") else form.get("media") == "yes",
                )
                change = await peers.limit(
                    site.policy, domain, terms, author=actor(account), note=note
                )
            else:
                abort(400)
        except FedwallError as exc:
            return await peers_page(422, error=service_message(exc))
        if not change.changed:
            message = _("Nothing changed for %(domain)s.", domain=change.domain)
        else:
            message = _(
                "%(domain)s is now %(status)s (policy version %(version)d).",
                domain=change.domain,
                status=status_name(change.agreement.status),
                version=change.version,
            )
        return done("webui.admin_peers", message)

    @bp.post("/admin/requests/<domain>/<action>")
    async def admin_peer_request(domain: str, action: str) -> Page:
        account = require_admin()
        await web.check_csrf()
        try:
            if action == "approve":
                await peers.approve_request(site.policy, domain, author=actor(account))
            elif action in ("deny", "deny-block"):
                await peers.deny_request(
                    site.policy, domain, author=actor(account), block_peer=action == "deny-block"
                )
            else:
                abort(404)
        except FedwallError as exc:
            abort(422, service_message(exc))
        return done("webui.admin_peers", _("Request from %(domain)s decided.", domain=domain))

    # ------------------------------------------------------------ policy

    async def profile_field_names() -> list[str]:
        """The names local people gave their profile fields (for the visibility forms)."""
        rows: list[Any] = await Account.filter(domain="").values_list("profile_fields", flat=True)
        items = [item for row in rows if isinstance(row, list) for item in row]
        return [str(item.get("name", "")) for item in items if isinstance(item, dict)]

    async def policy_page(status: int = 200, **context: Any) -> tuple[str, int]:
        versions = await PolicyVersion.all().order_by("-version").limit(50)
        source = await site.policy.source()
        recent = await AuditEntry.filter(kind="crossing").order_by("-seq").limit(RULE_WINDOW)
        snapshot = await site.policy.current()
        context.setdefault("draft", source)
        return await web.render(
            "admin/policy.html",
            status,
            source=source,
            snapshot=snapshot,
            editor=policy_editor.editor_view(snapshot, await profile_field_names()),
            kinds=KINDS,
            versions=versions,
            matches=rule_matches(list(recent)),
            rule_window=RULE_WINDOW,
            done=request.args.get("done", ""),
            **context,
        )

    def file_error_text(exc: PolicyFileError) -> str:
        """The error as "Line N: path: problem", in the page's language."""
        problem = service_message(exc)
        if exc.path:
            problem = _("%(where)s: %(problem)s", where=exc.path, problem=problem)
        return (_("Line %(line)d: ", line=exc.line) if exc.line else "") + problem

    async def edit_policy(
        account: Account, form: Any, change: Callable[[PolicySnapshot], PolicyEdit]
    ) -> WerkzeugResponse:
        """Apply an editor ``change`` to the newest version and store it; raises FormError.

        The change is made to the version in the database (never an older cached one),
        and only if the form was opened on that version, so two admins never overwrite
        each other's changes unseen.
        """
        try:
            async with in_transaction():
                site.policy.forget()
                base = await site.policy.current()
                policy_editor.check_base_version(form.get("base_version", ""), base.version)
                edit = change(base)
                if not edit.changed:
                    return policy_done(_("Nothing changed: the policy is as it was."))
                comment = form.get("comment", "").strip() or edit.summary
                stored = await site.policy.apply(edit.source, actor(account), comment)
        except PolicyFileError as exc:
            raise policy_editor.FormError(file_error_text(exc)) from None
        except IntegrityError:
            # Another change took the next version number first.
            raise policy_editor.StaleFormError(
                _("Another change was stored at the same moment: check and submit again.")
            ) from None
        in_force = _("Policy version %(version)d is in force.", version=stored.version)
        return policy_done(f"{edit.message} {in_force}")

    def policy_done(message: str) -> WerkzeugResponse:
        # 303: the browser fetches the policy page instead of posting the form again.
        return redirect(url_for("webui.admin_policy", done=message), 303)

    def form_status(exc: policy_editor.FormError) -> int:
        return 409 if isinstance(exc, policy_editor.StaleFormError) else 422

    @bp.get("/admin/policy")
    async def admin_policy() -> Page:
        require_admin()
        return await policy_page()

    @bp.post("/admin/policy")
    async def admin_policy_apply() -> Page:
        account = require_admin()
        await web.check_csrf()
        form = await request.form
        draft = form.get("source", "").replace("\r\n", "\n")
        comment = form.get("comment", "").strip()
        try:
            if form.get("action") == "apply":
                snapshot = await site.policy.apply(draft, actor(account), comment)
                return done(
                    "webui.admin_policy",
                    _("Policy version %(version)d is in force.", version=snapshot.version),
                )
            parse_policy_file(draft, 0)
        except PolicyFileError as exc:
            return await policy_page(422, draft=draft, comment=comment,
                                     error=file_error_text(exc), error_line=exc.line)  # fmt: skip
        return await policy_page(draft=draft, comment=comment, valid=True)

    @bp.post("/admin/policy/labels")
    async def admin_policy_labels() -> Page:
        account = require_admin()
        await web.check_csrf()
        form = await request.form
        action = form.get("action", "")
        change: Callable[[PolicySnapshot], PolicyEdit]
        if action == "add":
            name, position = form.get("name", ""), form.get("position", "")
            change = partial(policy_editor.add_label, name=name, position=position)
        elif action == "remove":
            change = partial(policy_editor.remove_label, name=form.get("label", ""))
        elif action == "default":
            change = partial(policy_editor.set_default_label, name=form.get("label", ""))
        else:
            abort(400)
        try:
            return await edit_policy(account, form, change)
        except policy_editor.FormError as exc:
            return await policy_page(
                form_status(exc), failed=f"label-{action}", form_error=exc, values=form
            )

    @bp.post("/admin/policy/profile-fields")
    async def admin_policy_profile_fields() -> Page:
        account = require_admin()
        await web.check_csrf()
        form = await request.form
        values = policy_editor.ProfileFieldsForm.read(form)
        try:
            return await edit_policy(
                account, form, partial(policy_editor.set_profile_fields, values=values)
            )
        except policy_editor.FormError as exc:
            return await policy_page(
                form_status(exc), failed=f"fields:{values.domain}", form_error=exc,
                values=form, field_values=values,
            )  # fmt: skip

    async def rule_page(
        kind: RuleKind, values: policy_editor.RuleForm | None, status: int = 200, **context: Any
    ) -> tuple[str, int]:
        return await web.render(
            "admin/policy_rule.html",
            status,
            kind=kind,
            values=values,
            snapshot=await site.policy.current(),
            group_names=[g.name for g in await groups.list_groups()],
            kinds=KINDS,
            **context,
        )

    @bp.get("/admin/policy/<any(content, group):kind>-rules")
    async def admin_policy_rule_new(kind: RuleKind) -> Page:
        require_admin()
        return await rule_page(kind, policy_editor.new_rule_form(kind))

    @bp.get("/admin/policy/<any(content, group):kind>-rules/<rule_id>")
    async def admin_policy_rule(kind: RuleKind, rule_id: str) -> Page:
        require_admin()
        rule = policy_editor.find_rule(await site.policy.current(), kind, rule_id)
        if rule is None:
            abort(404)
        return await rule_page(kind, policy_editor.form_of(rule), rule=rule)

    @bp.post("/admin/policy/<any(content, group):kind>-rules")
    async def admin_policy_rule_save(kind: RuleKind) -> Page:
        account = require_admin()
        await web.check_csrf()
        form = await request.form
        values = policy_editor.read_rule_form(kind, form)
        try:
            return await edit_policy(account, form, partial(policy_editor.save_rule, values=values))
        except policy_editor.FormError as exc:
            return await rule_page(
                kind, values, form_status(exc), form_error=exc, comment=form.get("comment", "")
            )

    @bp.post(
        "/admin/policy/<any(content, group):kind>-rules/<rule_id>/<any(delete, up, down):action>"
    )
    async def admin_policy_rule_change(kind: RuleKind, rule_id: str, action: str) -> Page:
        account = require_admin()
        await web.check_csrf()
        form = await request.form
        change: Callable[[PolicySnapshot], PolicyEdit]
        if action == "delete":
            change = partial(policy_editor.delete_rule, kind=kind, rule_id=rule_id)
        else:
            offset = -1 if action == "up" else 1
            change = partial(policy_editor.move_rule, kind=kind, rule_id=rule_id, offset=offset)
        try:
            return await edit_policy(account, form, change)
        except policy_editor.FormError as exc:
            return await policy_page(form_status(exc), failed="rules", form_error=exc)

    @bp.get("/admin/policy/<int:version>")
    async def admin_policy_version(version: int) -> Page:
        require_admin()
        stored = await PolicyVersion.get_or_none(version=version)
        if stored is None:
            abort(404)
        return await web.render("admin/policy_version.html", stored=stored)

    # ------------------------------------------------------------ reviews

    @bp.get("/admin/reviews")
    async def admin_reviews() -> Page:
        require_admin()
        state = request.args.get("state", "held")
        if state not in reviews.REVIEW_STATES:
            state = "held"
        return await web.render(
            "admin/reviews.html",
            items=await reviews.list_items(state),
            state=state,
            states=reviews.REVIEW_STATES,
            done=request.args.get("done", ""),
        )

    @bp.post("/admin/reviews/<int:item_id>/<action>")
    async def admin_review_decide(item_id: int, action: str) -> Page:
        account = require_admin()
        await web.check_csrf()
        try:
            if action == "approve":
                await reviews.approve(item_id, reviewer=actor(account), site=site)
                message = _("Approved: the item is sent again.")
            elif action == "reject":
                await reviews.reject(item_id, reviewer=actor(account), site=site)
                message = _("Rejected: the item will not cross.")
            else:
                abort(404)
        except FedwallError as exc:
            abort(422, service_message(exc))
        return done("webui.admin_reviews", message)

    # ------------------------------------------------------------ audit

    @bp.get("/admin/audit")
    async def admin_audit() -> Page:
        require_admin()
        args = request.args
        filters = {
            "peer": args.get("peer", "").strip(),
            "direction": args.get("direction", ""),
            "decision": args.get("decision", "").strip(),
            "rule": args.get("rule", "").strip(),
            "since": args.get("since", ""),
            "until": args.get("until", ""),
        }
        query = AuditEntry.all()
        if filters["peer"]:
            query = query.filter(peer_domain=filters["peer"].lower())
        if filters["direction"] in ("inbound", "outbound"):
            query = query.filter(direction=filters["direction"])
        if filters["decision"]:
            query = query.filter(decision=filters["decision"])
        since, until = parse_day(filters["since"]), parse_day(filters["until"])
        if since:
            query = query.filter(created_at__gte=since)
        if until:
            query = query.filter(created_at__lt=until + dt.timedelta(days=1))
        before = args.get("before", "")
        if before.isdigit():
            query = query.filter(seq__lt=int(before))
        if filters["rule"]:
            query = audit.naming_rule(query, filters["rule"], web.runtime.db.dialect)
        entries = list(await query.order_by("-seq").limit(AUDIT_PAGE))
        decisions = await AuditEntry.all().distinct().values_list("decision", flat=True)
        return await web.render(
            "admin/audit.html",
            entries=entries,
            filters=filters,
            decisions=sorted(str(d) for d in decisions if d),
            chain=await audit.verify_chain(),
            more=len(entries) >= AUDIT_PAGE,
        )

    # ------------------------------------------------------------ users and groups

    @bp.get("/admin/users")
    async def admin_users() -> Page:
        require_admin()
        group_rows = await groups.list_groups()
        members = {g.name: await groups.members(g.name) for g in group_rows}
        return await web.render(
            "admin/users.html",
            people=await accounts.list_local(),
            groups=group_rows,
            members=members,
            done=request.args.get("done", ""),
        )

    @bp.post("/admin/users/<username>/<action>")
    async def admin_user_change(username: str, action: str) -> Page:
        account = require_admin()
        await web.check_csrf()
        if action not in ("disable", "enable"):
            abort(404)
        if username == account.username:
            abort(422, _("You cannot disable your own account here."))
        try:
            await accounts.set_disabled(username, action == "disable")
        except FedwallError:
            abort(404)
        return done("webui.admin_users", _("Account %(name)s updated.", name=username))

    @bp.post("/admin/groups")
    async def admin_group_change() -> Page:
        account = require_admin()
        await web.check_csrf()
        form = await request.form
        name = form.get("name", "").strip()
        names = [n for n in form.get("usernames", "").replace(",", " ").split() if n]
        action = form.get("action", "")
        try:
            if action == "create":
                await groups.create_group(
                    name, description=form.get("description", ""), actor=actor(account)
                )
            elif action == "add":
                await groups.add_members(name, names, actor=actor(account))
            elif action == "remove":
                await groups.remove_members(name, names, actor=actor(account))
            else:
                abort(400)
        except FedwallError as exc:
            abort(422, service_message(exc))
        return done("webui.admin_users", _("Group %(name)s updated.", name=name))

    # ------------------------------------------------------------ deliveries

    @bp.get("/admin/deliveries")
    async def admin_deliveries() -> Page:
        require_admin()
        peer = request.args.get("peer", "").strip().lower()
        state = request.args.get("state", "")
        query = Delivery.all().order_by("-id").limit(100)
        if peer:
            query = query.filter(peer_domain=peer)
        if state in DELIVERY_STATES:
            query = query.filter(state=state)
        counts = await delivery_backlog()
        return await web.render(
            "admin/deliveries.html",
            deliveries=await query,
            counts=counts,
            states=BACKLOG_STATES,
            all_states=DELIVERY_STATES,
            peer=peer,
            state=state,
            done=request.args.get("done", ""),
        )

    @bp.get("/admin/deliveries/<int:delivery_id>")
    async def admin_delivery(delivery_id: int) -> Page:
        require_admin()
        delivery = await Delivery.get_or_none(id=delivery_id)
        if delivery is None:
            abort(404)
        return await web.render("admin/delivery.html", delivery=delivery)

    @bp.post("/admin/deliveries/retry")
    async def admin_deliveries_retry() -> Page:
        require_admin()
        await web.check_csrf()
        form = await request.form
        # The same change as ``fedwall deliveries retry``: due now, the worker takes it.
        query = Delivery.filter(state__in=("retrying", "dead"))
        delivery_id, peer = form.get("id", ""), form.get("peer", "").strip().lower()
        if delivery_id.isdigit():
            query = query.filter(id=int(delivery_id))
        elif peer:
            query = query.filter(peer_domain=peer)
        else:
            abort(400)
        count = await query.update(state="retrying", next_attempt_at=dt.datetime.now(dt.UTC))
        message = ngettext(
            "%(num)d delivery scheduled for an immediate retry.",
            "%(num)d deliveries scheduled for an immediate retry.",
            count,
        )
        return done("webui.admin_deliveries", message, peer=peer or None)


def status_name(status: str) -> str:
    """A peer status in the page's language."""
    names = {
        "allowed": _("allowed"),
        "blocked": _("blocked"),
        "pending": _("pending"),
        "none": _("no agreement"),
    }
    return names.get(status, status)
