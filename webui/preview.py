"""The composer's live audience preview: what the policy does with a draft, per peer node.

The page's script posts the composer's fields here as the author types; the answer
is an HTML fragment rendered on the server, so the preview reads exactly like the
rest of the page and every decision comes from :func:`node.services.preview.preview_draft`,
the same path delivery takes. Nothing is stored.
"""

from __future__ import annotations

from quart import Blueprint, request

from node.errors import FedwallError
from node.services import preview
from node.services.posts import Draft
from webui.context import WebContext
from webui.i18n import service_message


def add_routes(bp: Blueprint, web: WebContext) -> None:
    @bp.post("/preview")
    async def audience_preview() -> tuple[str, int]:
        account = web.require_viewer()
        await web.check_csrf()
        form = await request.form
        reply_to = form.get("in_reply_to_id", "")
        draft = Draft(
            text=form.get("text", ""),
            visibility=form.get("visibility", "public"),
            label=form.get("label") or None,
            summary=form.get("summary", ""),
            in_reply_to_id=int(reply_to) if reply_to.isdigit() else None,
        )
        if not draft.text.strip():
            return await web.render("_preview.html", state="idle")
        try:
            result = await preview.preview_draft(web.site, account, draft)
        except FedwallError as exc:
            return await web.render("_preview.html", state="error", error=service_message(exc))
        return await web.render("_preview.html", state="ready", preview=result)
