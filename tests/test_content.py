"""Turning typed text into safe HTML; finding mentions and hashtags; sanitising remote HTML."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from node.db import Database
from node.models import Account, Mention, Notification, Post, PostTag
from node.services.accounts import create_local_account
from node.services.content import (
    Handle,
    find_hashtags,
    find_mentions,
    html_to_text,
    render_text,
    sanitize_html,
)
from node.services.posts import Draft, create_post
from node.site import Site

SAFE_SCHEMES = {"http", "https", "mailto"}
DANGEROUS_TAGS = {"script", "style", "iframe", "img", "svg", "object", "embed", "form", "math"}


class _Inspector(HTMLParser):
    """Collects every tag and attribute, with entities decoded as a browser would."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)

    handle_startendtag = handle_starttag


def assert_harmless(markup: str) -> None:
    """No script-capable element, no event handler attribute, no non-http(s)/mailto URL."""
    inspector = _Inspector()
    inspector.feed(markup)
    inspector.close()
    assert not DANGEROUS_TAGS & set(inspector.tags), markup
    for name, value in inspector.attributes:
        assert not name.lower().startswith("on"), markup
        if name.lower() in ("href", "src", "action", "formaction", "xlink:href"):
            # Browsers drop ASCII whitespace and control characters inside schemes.
            squeezed = "".join(c for c in value if ord(c) > 0x20).lower()
            assert urlsplit(squeezed).scheme in SAFE_SCHEMES, markup


def _no_links(handle: Handle) -> str | None:
    return None


def _tag_url(tag: str) -> str:
    return f"https://wall.test/tags/{tag}"


HOSTILE_TEXT = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "javascript:alert(document.cookie)",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    'https://ok.example/"onmouseover="alert(1)',
    "https://ok.example/<script>alert(1)</script>",
    "<svg/onload=alert(1)>",
    "<scr<script>ipt>alert(1)</script>",
]

HOSTILE_HTML = [
    "<script>alert(1)</script><p>hi</p>",
    '<img src="x" onerror="alert(1)">',
    '<p onclick="steal()">text</p>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href=" JAVASCRIPT:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://evil.example"></iframe>',
    "<style>body { display: none }</style><p>x</p>",
    '<form action="https://evil.example"><button formaction="javascript:x">go</button></form>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<a href="https://ok.example" onmouseover="alert(1)" style="position:fixed">ok</a>',
]


# ---------------------------------------------------------------- mentions and hashtags


def test_mentions_are_found_with_and_without_a_domain() -> None:
    assert find_mentions("hi @bob and @carol@remote.example") == [
        Handle("bob", None),
        Handle("carol", "remote.example"),
    ]


def test_mentions_are_lower_cased_and_listed_once() -> None:
    assert find_mentions("@Bob @bob @BOB@Remote.Example @bob@remote.example") == [
        Handle("bob", None),
        Handle("bob", "remote.example"),
    ]


def test_mention_domain_keeps_its_port_and_drops_trailing_punctuation() -> None:
    assert find_mentions("ask @dave@hq.example:8443.") == [Handle("dave", "hq.example:8443")]


def test_email_addresses_and_urls_are_not_mentions() -> None:
    assert find_mentions("mail bob@wall.test or see https://wall.test/@bob") == []


def test_hashtags_are_found_lower_cased_and_listed_once() -> None:
    assert find_hashtags("#Fedwall rocks #fedwall #Release_2") == ["fedwall", "release_2"]


def test_numbers_url_fragments_and_entities_are_not_hashtags() -> None:
    assert find_hashtags("issue #123, a#b, https://x.example/#top and &#39;") == []


# ---------------------------------------------------------------- rendering typed text


def test_known_mention_becomes_a_link_to_the_profile() -> None:
    def profile(handle: Handle) -> str | None:
        return "https://wall.test/@bob" if handle == Handle("bob", None) else None

    html = render_text("hello @bob", profile, _tag_url)

    assert '<a href="https://wall.test/@bob" class="u-url mention"' in html
    assert "@<span>bob</span></a>" in html


def test_unknown_mention_stays_plain_text() -> None:
    assert render_text("hello @nobody", _no_links, _tag_url) == "<p>hello @nobody</p>"


def test_hashtag_becomes_a_link_to_its_lower_cased_timeline() -> None:
    html = render_text("shipping #Fedwall", _no_links, _tag_url)

    assert '<a href="https://wall.test/tags/fedwall" class="mention hashtag"' in html
    assert "#<span>Fedwall</span></a>" in html


def test_urls_become_nofollow_links_without_trailing_punctuation() -> None:
    html = render_text("see https://docs.example/a?b=1&c=2.", _no_links, _tag_url)

    assert html == (
        '<p>see <a href="https://docs.example/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">'
        "https://docs.example/a?b=1&amp;c=2</a>.</p>"
    )


def test_blank_lines_make_paragraphs_and_single_newlines_make_breaks() -> None:
    html = render_text("one\ntwo\n\nthree", _no_links, _tag_url)

    assert html == "<p>one<br>two</p><p>three</p>"


def test_typed_markup_is_shown_as_text() -> None:
    html = render_text("<b>bold</b> & <i>not</i>", _no_links, _tag_url)

    assert html == "<p>&lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;not&lt;/i&gt;</p>"
    assert html_to_text(html) == "<b>bold</b> & <i>not</i>"


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_rendered_text_is_harmless_whatever_is_typed(text: str) -> None:
    assert_harmless(render_text(text, _no_links, _tag_url))


# ---------------------------------------------------------------- sanitising HTML


@pytest.mark.parametrize("markup", HOSTILE_HTML)
def test_sanitize_html_makes_hostile_remote_html_harmless(markup: str) -> None:
    assert_harmless(sanitize_html(markup))


def test_sanitize_html_removes_script_content_not_just_the_tags() -> None:
    assert "alert" not in sanitize_html("<p>hi</p><script>alert(1)</script>")


def test_sanitize_html_keeps_ordinary_formatting_and_safe_links() -> None:
    markup = (
        '<p>Hi <strong>all</strong>, see <a href="https://docs.example/x">docs</a></p>'
        "<ul><li>one</li></ul>"
    )

    assert sanitize_html(markup) == (
        '<p>Hi <strong>all</strong>, see <a href="https://docs.example/x" '
        'rel="nofollow noopener noreferrer">docs</a></p><ul><li>one</li></ul>'
    )


def test_sanitize_html_replaces_a_remote_rel_attribute() -> None:
    html = sanitize_html('<a href="https://x.example" rel="me opener">x</a>')

    assert 'rel="nofollow noopener noreferrer"' in html
    assert "opener" not in html.replace("noopener", "")


# ---------------------------------------------------------------- what posts store


async def test_stored_post_html_is_harmless_whatever_is_typed(db: Database, site: Site) -> None:
    alice = await create_local_account(site, "alice", None)

    for text in HOSTILE_TEXT:
        post = await create_post(site, alice, Draft(text=text))

        stored = await Post.get(id=post.id)
        assert stored.content_source == text
        assert_harmless(stored.content_html)
        assert "<script" not in stored.content_html.lower(), text


async def test_local_mention_is_linked_recorded_and_notified(db: Database, site: Site) -> None:
    alice = await create_local_account(site, "alice", None)
    bob = await create_local_account(site, "bob", None)

    post = await create_post(site, alice, Draft(text="thanks @Bob!"))

    assert 'href="https://wall.test/@bob"' in post.content_html
    assert await Mention.filter(post_id=post.id).values_list("account_id", flat=True) == [bob.id]
    notification = await Notification.get(recipient_id=bob.id)
    assert (notification.kind, notification.actor_id, notification.post_id) == (  # type: ignore[attr-defined]
        "mention",
        alice.id,
        post.id,
    )


async def test_mention_with_the_nodes_own_domain_is_the_local_account(
    db: Database, site: Site
) -> None:
    alice = await create_local_account(site, "alice", None)
    bob = await create_local_account(site, "bob", None)

    post = await create_post(site, alice, Draft(text="cc @bob@wall.test"))

    assert 'href="https://wall.test/@bob"' in post.content_html
    assert await Mention.filter(post_id=post.id, account_id=bob.id).exists()


async def test_mention_of_a_known_remote_account_links_its_profile_without_notifying(
    db: Database, site: Site
) -> None:
    alice = await create_local_account(site, "alice", None)
    rita = await Account.create(
        username="rita",
        domain="remote.example",
        uri="https://remote.example/users/rita",
        url="https://remote.example/@rita",
    )

    post = await create_post(site, alice, Draft(text="hi @rita@remote.example"))

    assert 'href="https://remote.example/@rita"' in post.content_html
    assert await Mention.filter(post_id=post.id, account_id=rita.id).exists()
    assert await Notification.all().count() == 0


async def test_unknown_handles_stay_plain_text_and_record_nothing(db: Database, site: Site) -> None:
    alice = await create_local_account(site, "alice", None)

    post = await create_post(site, alice, Draft(text="hi @nobody and @ghost@remote.example"))

    assert post.content_html == "<p>hi @nobody and @ghost@remote.example</p>"
    assert await Mention.all().count() == 0
    assert await Notification.all().count() == 0


async def test_mentioning_oneself_records_no_mention_or_notification(
    db: Database, site: Site
) -> None:
    alice = await create_local_account(site, "alice", None)

    await create_post(site, alice, Draft(text="note to @alice"))

    assert await Mention.all().count() == 0
    assert await Notification.all().count() == 0


async def test_hashtags_are_stored_lower_cased_once_and_linked(db: Database, site: Site) -> None:
    alice = await create_local_account(site, "alice", None)

    post = await create_post(site, alice, Draft(text="#Release day! #release #QA"))

    names = await PostTag.filter(post_id=post.id).order_by("name").values_list("name", flat=True)
    assert names == ["qa", "release"]
    assert 'href="https://wall.test/tags/release"' in post.content_html
    assert 'href="https://wall.test/tags/qa"' in post.content_html


def test_hashtag_links_keep_rel_tag_next_to_the_safe_rel() -> None:
    html = render_text(
        "ship the #Launch", lambda handle: None, lambda tag: f"https://n.example/tags/{tag}"
    )

    assert 'class="mention hashtag" rel="tag nofollow noopener noreferrer"' in html


def test_only_hashtag_links_get_rel_tag() -> None:
    html = sanitize_html('<a href="https://e.example" class="hashtagging" rel="tag">y</a>')

    assert 'rel="nofollow noopener noreferrer"' in html
    assert "tag nofollow" not in html
