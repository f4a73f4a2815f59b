"""The web pages in a real browser: Debian's headless Chromium, driven by Playwright.

Two real nodes (``fedwall serve`` processes on loopback ports, SQLite each) and
one browser for the whole module; every test opens its own browser contexts,
so cookies never leak between people. Screenshots of every main page go to
``test-artifacts/browser/`` (not committed); with ``FEDWALL_DOCS_SCREENSHOTS=1``
a few also go to ``docs/screenshots/`` for the README's tour.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from node.models import Follow, PeerStats
from tests.conftest import IN_CI
from tests.multinode import PASSWORD, NodeProcess, wait_for

pytestmark = pytest.mark.multinode

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
FRENCH_CATALOG = ROOT / "webui" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 900}
LIVE_TIMEOUT_MS = 20_000


@dataclass
class Nodes:
    a: NodeProcess
    b: NodeProcess


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Nodes]:
    root = tmp_path_factory.mktemp("browser")
    a, b = NodeProcess("a", root, None), NodeProcess("b", root, None)
    try:
        await a.create(
            {
                "alice": {"display_name": "Alice Martin"},
                "dave": {"display_name": "Dave Moreau"},
                "fanny": {"display_name": "Fanny Roux"},
                "root": {"display_name": "Rose Dupont", "admin": True},
            }
        )
        await b.create({"bob": {"display_name": "Bob Durand"}})
        await a.allow_peers([b.domain])
        await b.allow_peers([a.domain])
        await a.start()
        await b.start()
        yield Nodes(a, b)
    finally:
        await a.close()
        await b.close()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " — CI requires it")
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def contexts(chromium: Browser) -> AsyncIterator[list[BrowserContext]]:
    """Browser contexts a test opens (closed after it, so live streams end before the nodes)."""
    opened: list[BrowserContext] = []
    try:
        yield opened
    finally:
        for context in opened:
            await context.close()


async def open_page(
    chromium: Browser,
    contexts: list[BrowserContext],
    locale: str = "en-GB",
    viewport: dict[str, int] | None = None,
) -> Page:
    context = await chromium.new_context(locale=locale, viewport=viewport or DESKTOP)  # type: ignore[arg-type]
    context.set_default_timeout(LIVE_TIMEOUT_MS)
    contexts.append(context)
    return await context.new_page()


async def sign_in(page: Page, node: NodeProcess, username: str) -> None:
    await page.goto(f"{node.url}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.locator("form.panel button[type=submit]").click()
    await page.wait_for_url(f"{node.url}/home")


async def live_ready(page: Page) -> None:
    """Wait until the page's event stream is subscribed: nothing published later is missed."""
    await page.wait_for_selector("body[data-live-state=ready]", state="attached")


async def screenshot(page: Page, name: str, *, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if docs and os.environ.get("FEDWALL_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOCS_SCREENSHOTS / f"{name}.png"))


async def post_from_composer(
    page: Page, text: str, *, label: str | None = None, summary: str = "", visibility: str = ""
) -> None:
    await page.fill("#text", text)
    if summary:
        await page.fill("#summary", summary)
    if visibility:
        await page.select_option("#visibility", visibility)
    if label:
        await page.select_option("#label", label)
    await page.locator("#compose button[type=submit]").click()
    await page.wait_for_load_state()


async def accepted(node: NodeProcess, follower: str, followee_uri: str) -> bool:
    async def check() -> bool:
        return await Follow.filter(
            follower__username=follower, follower__domain="", followee__uri=followee_uri,
            state="accepted",
        ).exists()  # fmt: skip

    return await node.query(check)


# ---------------------------------------------------------------- 1. posting with a label


async def test_employee_signs_in_and_posts_with_a_label_and_content_warning(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    page = await open_page(chromium, contexts)
    await page.goto(f"{nodes.a.url}/login")
    await screenshot(page, "01-sign-in")

    await sign_in(page, nodes.a, "alice")
    await post_from_composer(
        page, "Draft budget for the #launch is ready", label="confidential", summary="Budget"
    )

    card = page.locator("article.post", has_text="Budget").first
    await expect(card.locator(".label")).to_have_text("confidential")
    await expect(card.locator("summary")).to_have_text("Budget")
    await card.locator("summary").click()
    await expect(card.locator(".content")).to_contain_text("Draft budget for the #launch")
    # After posting, the composer is empty again and so is its audience preview.
    await expect(page.locator("#audience-preview")).to_have_attribute("data-state", "idle")
    await screenshot(page, "02-home-after-posting", docs=True)

    await card.locator("a.when").click()
    await page.locator("#edit summary").click()
    await page.fill("#edit-text", "Final budget for the #launch is ready")
    await page.locator("#edit button[type=submit]").click()
    focus = page.locator(".focus article.post")
    await focus.locator("summary").click()
    await expect(focus.locator(".content")).to_contain_text("Final budget for the #launch")
    await expect(focus.locator(".when")).to_contain_text("edited")
    await screenshot(page, "02-thread-after-editing")


async def test_employee_chooses_which_nodes_see_each_profile_field(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    page = await open_page(chromium, contexts)
    await sign_in(page, nodes.a, "dave")
    await page.goto(f"{nodes.a.url}/settings")
    await page.fill("input[name=field_name_0]", "Office")
    await page.fill("input[name=field_value_0]", "Lyon")
    await page.fill("input[name=field_name_1]", "Team")
    await page.fill("input[name=field_value_1]", "Finance")

    # Office for node b only; Team for every node the policy allows (the default).
    await page.get_by_label("Share Field 1 with any other node").uncheck()
    await page.get_by_label(f"Share Field 1 with {nodes.b.domain}").check()
    await page.get_by_role("button", name="Save profile").click()

    await expect(page.locator("p.saved")).to_have_text("Your profile is saved.")
    summary = page.locator("#sharing-summary")
    await expect(summary).to_contain_text(f"{nodes.b.domain} sees: Office, Team")
    # The node is in allowlist mode: nodes without an agreement get no field at all.
    await expect(summary).to_contain_text("Any other node sees no profile field.")
    await expect(page.get_by_label("Share Office with any other node")).not_to_be_checked()
    await page.locator("#sharing").scroll_into_view_if_needed()
    await screenshot(page, "11-settings-profile-sharing", docs=True)


CARD_RULE = """
[[content_rules]]
id = "redact-cards"
matchers = [{ type = "card_number" }]
action = "redact"
description = "Card numbers stay on this node"
scope = { directions = ["outbound"] }
"""


async def test_audience_preview_changes_with_the_label_and_text(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    """Issue scenario 1, second half: a card number shows the redaction notice."""
    # Node b may receive up to "internal", and card numbers are redacted on the way out.
    await nodes.a.allow_peers([nodes.b.domain], extra=CARD_RULE, max_label="internal")
    try:
        page = await open_page(chromium, contexts)
        await sign_in(page, nodes.a, "alice")
        preview = page.locator("#audience-preview")
        at_b = preview.locator(f'li[data-peer="{nodes.b.domain}"]')
        await expect(preview).to_have_attribute("data-state", "idle")

        await page.fill("#text", f"Refund to card 4111 1111 1111 1111 for @{nodes.b.handle('bob')}")
        await expect(at_b).to_have_attribute("data-outcome", "redact")
        await expect(at_b.locator(".redaction-notice")).to_contain_text("[redacted]")
        await expect(at_b.locator(".reasons")).to_contain_text("redact-cards")
        await expect(at_b.locator(".redacted-copy")).not_to_contain_text("4111 1111 1111 1111")
        await expect(preview.locator(".preview-local")).to_contain_text(nodes.a.domain)
        await screenshot(page, "06-audience-preview-redacted", docs=True)

        await page.select_option("#label", "confidential")
        await expect(at_b).to_have_attribute("data-outcome", "deny")
        await expect(at_b.locator(".verdict")).to_have_text("not sent")
        await screenshot(page, "06-audience-preview-label")

        await page.select_option("#label", "internal")
        await page.fill("#text", f"Thanks for the refund, @{nodes.b.handle('bob')}")
        await expect(at_b).to_have_attribute("data-outcome", "allow")
        await expect(at_b.locator(".redaction-notice")).to_have_count(0)
    finally:
        await nodes.a.allow_peers([nodes.b.domain])


# ---------------------------------------------------------------- 2. follow by handle, live


async def test_colleague_on_another_node_is_followed_by_handle_and_posts_appear_live(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    alice = await open_page(chromium, contexts)
    await sign_in(alice, nodes.a, "dave")
    await alice.fill("#handle", nodes.b.handle("bob"))
    await alice.locator("form.follow-form button[type=submit]").click()
    await alice.wait_for_url(re.compile(r"/@bob@"))
    await expect(alice.locator("h1")).to_have_text("Bob Durand")
    await wait_for(lambda: accepted(nodes.a, "dave", nodes.b.actor("bob")))
    await alice.reload()
    await expect(alice.locator(".relation")).to_have_text("You follow this colleague")
    await screenshot(alice, "03-remote-profile", docs=True)

    await alice.goto(f"{nodes.a.url}/home")
    await live_ready(alice)
    await alice.evaluate("window.notReloaded = true")

    bob = await open_page(chromium, contexts)
    await sign_in(bob, nodes.b, "bob")
    await post_from_composer(bob, "Sales kick-off moved to Friday #sales", visibility="public")

    arrived = alice.locator("article.post", has_text="Sales kick-off moved to Friday")
    await expect(arrived).to_be_visible()
    assert await alice.evaluate("window.notReloaded === true"), "the page was reloaded"
    await expect(alice.locator("#live-status")).to_have_text("New post in your timeline")
    await screenshot(alice, "04-home-live-post", docs=True)

    # Bob follows back: the new-follower notification lights the badge, still without reload.
    await bob.fill("#handle", nodes.a.handle("dave"))
    await bob.locator("form.follow-form button[type=submit]").click()
    await expect(alice.locator("#unread-badge")).to_have_text("1")
    await expect(alice.locator("#unread-badge")).to_be_visible()

    # Bob deletes his post: it leaves Dave's open timeline.
    await bob.goto(f"{nodes.b.url}/home")
    mine = bob.locator("article.post", has_text="Sales kick-off moved to Friday")
    await mine.locator("button.danger").click()
    await expect(arrived).to_have_count(0)
    assert await alice.evaluate("window.notReloaded === true"), "the page was reloaded"

    await alice.goto(f"{nodes.a.url}/notifications")
    await expect(alice.locator("ul.notifications")).to_contain_text("followed you")
    await expect(alice.locator("#unread-badge")).to_be_hidden()
    await screenshot(alice, "05-notifications")


# ---------------------------------------------------------------- 3. chat across nodes, live


async def test_two_browsers_on_two_nodes_exchange_chat_messages_live(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    """Issue scenario 3."""
    bob = await open_page(chromium, contexts)
    await sign_in(bob, nodes.b, "bob")
    await bob.goto(f"{nodes.b.url}/chat")
    await live_ready(bob)
    await bob.evaluate("window.notReloaded = true")

    alice = await open_page(chromium, contexts)
    await sign_in(alice, nodes.a, "alice")
    await alice.locator("#nav-chat").click()
    await alice.wait_for_url(f"{nodes.a.url}/chat")
    await alice.fill("#participants", nodes.b.handle("bob"))
    await alice.fill("#chat-text", "Can you review the Q3 deck?")
    await alice.locator("#chat-start button[type=submit]").click()
    await alice.wait_for_url(re.compile(r"/chat/\d+$"))
    mine = alice.locator("ol.messages li.mine")
    await expect(mine).to_contain_text("Can you review the Q3 deck?")
    await live_ready(alice)
    await alice.evaluate("window.notReloaded = true")

    # Bob's open list shows the new conversation and its unread count, without a reload.
    arrived = bob.locator("ul.chats li.chat", has_text="Can you review the Q3 deck?")
    await expect(arrived).to_contain_text("1 unread")
    await expect(bob.locator("#chat-badge")).to_have_text("1")
    assert await bob.evaluate("window.notReloaded === true"), "the page was reloaded"
    await screenshot(bob, "06-chat-list", docs=True)

    await arrived.locator("a.with").click()
    await bob.wait_for_url(re.compile(r"/chat/\d+$"))
    await expect(bob.locator("#chat-badge")).to_be_hidden()
    await live_ready(bob)
    await bob.evaluate("window.notReloaded = true")
    await bob.fill("#chat-text", "Yes, send it over")
    await bob.locator("#chat-send button[type=submit]").click()
    await expect(bob.locator("ol.messages li.mine")).to_contain_text("Yes, send it over")
    await live_ready(bob)
    await bob.evaluate("window.notReloaded = true")

    reply = alice.locator("ol.messages li.message:not(.mine)", has_text="Yes, send it over")
    await expect(reply).to_be_visible()
    assert await alice.evaluate("window.notReloaded === true"), "the page was reloaded"
    await expect(alice.locator("#live-status")).to_have_text("New chat message")

    await alice.fill("#chat-text", "Sent, thanks!")
    await alice.locator("#chat-send button[type=submit]").click()
    answer = bob.locator("ol.messages li.message:not(.mine)", has_text="Sent, thanks!")
    await expect(answer).to_be_visible()
    assert await bob.evaluate("window.notReloaded === true"), "the page was reloaded"
    texts = await bob.locator("ol.messages li.message .content").all_inner_texts()
    expected = ["Can you review the Q3 deck?", "Yes, send it over", "Sent, thanks!"]
    assert [next(e for e in expected if e in t) for t in texts] == expected
    await screenshot(alice, "07-chat-conversation", docs=True)


# ---------------------------------------------------------------- 4. admin


ADMIN_PAGES = (
    "/admin",
    "/admin/peers",
    "/admin/policy",
    "/admin/policy/content-rules",
    "/admin/reviews",
    "/admin/audit",
    "/admin/users",
    "/admin/deliveries",
)


async def outbound_denials(node: NodeProcess, peer: str) -> int:
    async def count() -> int:
        stats = await PeerStats.get_or_none(domain=peer)
        return stats.outbound_denied if stats else 0

    return await node.query(count)


async def test_admin_blocks_a_peer_and_a_non_admin_gets_no_admin_page(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    """Issue scenario 4."""
    a, b = nodes.a, nodes.b
    try:
        admin = await open_page(chromium, contexts)
        await sign_in(admin, a, "root")
        await admin.locator("#nav-admin").click()
        await expect(admin.locator("h1")).to_have_text("Federation overview")
        await admin.locator("nav.admin-nav a", has_text="Peers").click()
        peer = admin.locator(f'li[data-peer="{b.domain}"]')
        await expect(peer).to_have_attribute("data-status", "allowed")
        await screenshot(admin, "07-admin-peers")

        await peer.get_by_role("button", name=f"Block {b.domain}").click()
        await expect(admin.locator("p.saved")).to_contain_text(f"{b.domain} is now blocked")
        await expect(peer).to_have_attribute("data-status", "blocked")

        # A post addressed to someone on the blocked node is stopped at the boundary.
        before = await outbound_denials(a, b.domain)
        await admin.locator("nav[aria-label=Main] a", has_text="Home").click()
        await post_from_composer(admin, f"Quarterly numbers for @{b.handle('bob')}")
        await wait_for(lambda: _more(a, b, before))

        await admin.goto(f"{a.url}/admin")
        row = admin.locator(f'table.peers tr[data-peer="{b.domain}"]')
        await expect(row.locator(".status-blocked")).to_have_text("blocked")
        await expect(row.locator(".outbound .denied")).not_to_have_text(str(before))
        link = admin.locator(f'svg g.link[data-peer="{b.domain}"]')
        await expect(link).to_have_attribute("data-status", "blocked")
        await screenshot(admin, "08-admin-overview", docs=True)

        await admin.goto(f"{a.url}/admin/audit?peer={b.domain}&decision=deny")
        await expect(admin.locator("#chain-status")).to_contain_text("intact")
        denials = admin.locator(f'table.audit tr[data-decision="deny"][data-peer="{b.domain}"]')
        await expect(denials.first).to_be_visible()
        await screenshot(admin, "09-admin-audit", docs=True)
        for path in ADMIN_PAGES[1:]:
            await admin.goto(a.url + path)
            await expect(admin.locator("nav.admin-nav")).to_be_visible()
            await screenshot(admin, path.strip("/").replace("/", "-"))

        employee = await open_page(chromium, contexts)
        await sign_in(employee, a, "alice")
        await expect(employee.locator("#nav-admin")).to_have_count(0)
        for path in ADMIN_PAGES:
            response = await employee.goto(a.url + path)
            assert response is not None and response.status == 404, path
            await expect(employee.locator("nav.admin-nav")).to_have_count(0)

        # The console speaks French too (what the policy, the log and the peers hold stays as is).
        # Signed in, the language is an account setting: the footer offers a form button.
        await admin.locator("footer button[lang=fr]").click()
        await expect(admin.locator("html")).to_have_attribute("lang", "fr")
        english = english_strings()
        for path in ADMIN_PAGES:
            await admin.goto(a.url + path)
            assert await admin.locator("html").get_attribute("lang") == "fr", path
            text = await interface_text(admin, ADMIN_DATA)
            leftovers = sorted({p.pattern for p in english if p.search(text)})
            assert not leftovers, f"English on {path}: {leftovers}"
        await screenshot(admin, "fr-admin-deliveries")

        # On a phone the console's wide tables scroll inside their box, never the page.
        await admin.set_viewport_size(PHONE)
        for path in ADMIN_PAGES:
            await admin.goto(a.url + path)
            overflow = await admin.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
            unlabelled = await admin.evaluate(UNLABELLED_CONTROLS)
            assert unlabelled == [], f"{path}: controls without a label: {unlabelled}"
        await admin.goto(a.url + "/admin")
        await screenshot(admin, "phone-admin-overview")
    finally:
        await a.allow_peers([b.domain])


# Admin pages show data as stored: policy text, terms, audit events and rule ids.
ADMIN_DATA = (
    ".content, .post summary, .author, .policy-source, .terms, .event, .decision, .rule, "
    ".details, .reasons, .comment, #policy-draft"
)


async def _more(a: NodeProcess, b: NodeProcess, before: int) -> bool:
    return await outbound_denials(a, b.domain) > before


# ---------------------------------------------------------------- 5. French


def english_strings() -> list[re.Pattern[str]]:
    """Patterns for the English interface strings whose French differs."""
    with FRENCH_CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    patterns = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in map(str, ids):
            if english in strings:
                continue
            # The longest literal part around placeholders such as %(num)d.
            part = max(re.split(r"%\(\w+\)[sd]", english), key=len).strip()
            if len(part) >= 3:
                patterns.append(re.compile(r"(?<!\w)" + re.escape(part) + r"(?!\w)"))
    return patterns


# Elements holding what people wrote (posts, names, bios), which stays as written.
USER_CONTENT = ".content, .post summary, .bio, .fields, .author, .shared, h1#profile-name"


async def interface_text(page: Page, data: str = USER_CONTENT) -> str:
    return str(
        await page.evaluate(
            """(selector) => {
                const copy = document.body.cloneNode(true);
                copy.querySelectorAll(selector).forEach((node) => node.remove());
                copy.querySelectorAll('[lang]:not([lang="fr"])').forEach((n) => n.remove());
                const attributes = [...copy.querySelectorAll('[placeholder],[aria-label],[title]')]
                    .map((n) => [n.getAttribute('placeholder'), n.getAttribute('aria-label'),
                                 n.getAttribute('title')].filter(Boolean).join(' '));
                return copy.innerText + '\\n' + attributes.join('\\n');
            }""",
            data,
        )
    )


async def test_admin_adds_a_dry_run_rule_with_the_editor_and_sees_what_it_would_have_done(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    admin = await open_page(chromium, contexts)
    await sign_in(admin, nodes.a, "root")
    await admin.goto(f"{nodes.a.url}/admin/policy")
    if await admin.locator("html").get_attribute("lang") != "en":
        # The console test before this one chose French for this account.
        await admin.locator("footer button[lang=en]").click()
        await expect(admin.locator("html")).to_have_attribute("lang", "en")
    await admin.get_by_role("link", name="Add a content rule").click()

    await admin.fill("#rule-id", "falcon-stays-home")
    await admin.fill("#rule-description", "Trial: would Project Falcon leave the node?")
    await admin.select_option("#rule-action", "block")
    await admin.fill("#rule-keywords", "Project Falcon")
    await admin.get_by_label("Dry run: only record what the rule would have done").check()
    await admin.get_by_role("button", name="Save the rule").click()

    rule = admin.locator('li[data-rule="falcon-stays-home"]')
    await expect(rule).to_contain_text("dry run")
    # A post that crosses to the other node: the rule records what it would have done.
    author = await open_page(chromium, contexts)
    await sign_in(author, nodes.a, "alice")
    await post_from_composer(author, f"Project Falcon kickoff, @{nodes.b.handle('bob')}")

    async def matched() -> bool:
        await admin.reload()
        return await rule.locator(".reasons li").count() > 0

    await wait_for(matched, timeout=LIVE_TIMEOUT_MS / 1000)
    await expect(rule.locator(".reasons")).to_contain_text(
        f"dry run: would not have been sent to {nodes.b.domain}"
    )
    await rule.scroll_into_view_if_needed()
    await screenshot(admin, "10-admin-policy-rule-matches", docs=True)


async def test_french_interface_shows_french_text_on_every_page(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    page = await open_page(chromium, contexts, locale="fr-FR")
    english = english_strings()
    await page.goto(f"{nodes.a.url}/login")
    visited = ["/login"]
    await sign_in(page, nodes.a, "fanny")
    await post_from_composer(page, "Réunion d'équipe jeudi #equipe", label="internal")
    await page.locator("article.post").first.locator("a.when").click()
    thread_path = page.url.removeprefix(nodes.a.url)
    await page.fill("#site-search", "alice")
    await page.locator("form.search button").click()
    await expect(page.locator("ul.people")).to_contain_text("Alice Martin")
    await screenshot(page, "fr-search")
    paths = [
        "/home",
        "/local",
        "/tags/equipe",
        "/@alice",
        f"/@{nodes.b.handle('bob')}",
        thread_path,
        "/notifications",
        "/settings",
        "/search?q=bob",
        "/chat",
        "/no-such-page",
    ]
    for path in paths:
        await page.goto(nodes.a.url + path)
        visited.append(path)
        assert await page.locator("html").get_attribute("lang") == "fr", path
        text = await interface_text(page)
        leftovers = sorted({p.pattern for p in english if p.search(text)})
        assert not leftovers, f"English on {path}: {leftovers}"
        await screenshot(page, "fr-" + (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")))
    await page.goto(nodes.a.url + "/home")
    await expect(page.locator("nav[aria-label='Navigation principale']")).to_contain_text("Accueil")
    await expect(page.locator("#compose label[for=text]")).to_have_text(
        "Sur quoi travaillez-vous ?"
    )
    await screenshot(page, "fr-home", docs=True)
    assert len(visited) == 12


async def test_the_language_link_switches_the_interface_and_is_remembered(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    page = await open_page(chromium, contexts, locale="en-GB")
    await page.goto(f"{nodes.a.url}/local")
    await expect(page.locator("html")).to_have_attribute("lang", "en")

    await page.locator("footer a[lang=fr]").click()

    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    assert page.url == f"{nodes.a.url}/local"
    await page.goto(f"{nodes.a.url}/login")
    await expect(page.locator("h1")).to_contain_text("Se connecter à")


# ---------------------------------------------------------------- quality


UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => el.type !== 'hidden' && !el.hidden)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !(el.tagName === 'BUTTON' && el.textContent.trim()))
    .map((el) => el.outerHTML.slice(0, 80))"""


async def test_pages_fit_a_phone_and_every_control_has_a_label(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    page = await open_page(chromium, contexts, viewport=PHONE)
    await sign_in(page, nodes.a, "alice")
    for path in ("/home", "/notifications", "/settings", "/@alice", "/search?q=a", "/chat"):
        await page.goto(nodes.a.url + path)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
        unlabelled = await page.evaluate(UNLABELLED_CONTROLS)
        assert unlabelled == [], f"{path}: controls without a label: {unlabelled}"
    await page.goto(nodes.a.url + "/home")
    await screenshot(page, "phone-home", docs=True)


async def test_keyboard_users_skip_to_the_content_and_reach_the_composer(
    nodes: Nodes, chromium: Browser, contexts: list[BrowserContext]
) -> None:
    page = await open_page(chromium, contexts)
    await sign_in(page, nodes.a, "alice")

    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    await page.keyboard.press("Tab")

    assert await page.evaluate("document.activeElement.id") == "text"
