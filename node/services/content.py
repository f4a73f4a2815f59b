"""Turning what people type into safe HTML, and finding mentions and hashtags.

Posts are plain text, as on Mastodon: paragraphs, line breaks, links,
``@user`` / ``@user@domain`` mentions and ``#hashtags``. Whatever the input,
the HTML produced (and any HTML received from other nodes) goes through nh3
with an allowlist: no scripts, no event handlers, no ``javascript:`` links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

ALLOWED_TAGS = {
    "p", "br", "a", "span", "strong", "b", "em", "i", "u", "s", "del", "code", "pre",
    "blockquote", "ul", "ol", "li",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "class", "title"}, "span": {"class"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}

_URL = r"(?P<url>https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]}])"
_MENTION = (
    r"(?P<mention>(?<![\w@/])@(?P<m_user>[A-Za-z0-9_]{1,64})"
    r"(?:@(?P<m_domain>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?))?)"
)
_HASHTAG = r"(?P<tag>(?<![\w&/#])#(?P<t_name>\w{0,99}[^\W\d_]\w{0,99}))"
_TOKENS = re.compile(f"{_URL}|{_MENTION}|{_HASHTAG}")


@dataclass(frozen=True)
class Handle:
    """A mention as typed: ``@username`` (domain None) or ``@username@domain``."""

    username: str
    domain: str | None

    def __str__(self) -> str:
        return f"@{self.username}" + (f"@{self.domain}" if self.domain else "")


# A hashtag link as the sanitiser writes it: its class, then the rel it set.
_HASHTAG_REL = re.compile(r'(<a [^>]*class="[^"]*\bhashtag\b[^"]*" )rel="nofollow')


def find_mentions(text: str) -> list[Handle]:
    """Distinct mentions in order of appearance."""
    seen: dict[Handle, None] = {}
    for match in _TOKENS.finditer(text):
        if match.group("mention"):
            domain = match.group("m_domain")
            handle = Handle(match.group("m_user").lower(), domain.lower() if domain else None)
            seen.setdefault(handle, None)
    return list(seen)


def find_hashtags(text: str) -> list[str]:
    """Distinct hashtags (lower case, without ``#``) in order of appearance."""
    seen: dict[str, None] = {}
    for match in _TOKENS.finditer(text):
        if match.group("tag"):
            seen.setdefault(match.group("t_name").lower(), None)
    return list(seen)


def sanitize_html(markup: str) -> str:
    """Reduce any HTML to the allowlist; links get ``rel="nofollow noopener noreferrer"``,
    hashtag links ``rel="tag …"`` as well (the sanitiser replaces any ``rel`` it finds)."""
    cleaned = nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
    return _HASHTAG_REL.sub(r'\1rel="tag nofollow', cleaned)


def html_to_text(markup: str) -> str:
    """Plain text of sanitised HTML (for previews, search and policy scanning)."""
    with_breaks = re.sub(r"<br\s*/?>|</p>\s*<p>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", with_breaks)).strip()


def render_text(
    text: str,
    mention_url: Callable[[Handle], str | None],
    tag_url: Callable[[str], str],
) -> str:
    """Render plain ``text`` to sanitised HTML.

    ``mention_url`` returns the profile URL of a mentioned account, or None when
    the handle is unknown (it then stays plain text).
    """
    paragraphs = re.split(r"\n\s*\n", text.strip().replace("\r\n", "\n"))
    rendered = []
    for paragraph in paragraphs:
        parts: list[str] = []
        position = 0
        for match in _TOKENS.finditer(paragraph):
            parts.append(html.escape(paragraph[position : match.start()]))
            position = match.end()
            if match.group("url"):
                url = match.group("url")
                parts.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
            elif match.group("mention"):
                domain = match.group("m_domain")
                handle = Handle(match.group("m_user").lower(), domain.lower() if domain else None)
                href = mention_url(handle)
                if href is None:
                    parts.append(html.escape(match.group("mention")))
                else:
                    parts.append(
                        f'<span class="h-card"><a href="{html.escape(href)}" class="u-url mention">'
                        f"@<span>{html.escape(match.group('m_user'))}</span></a></span>"
                    )
            else:
                name = match.group("t_name")
                parts.append(
                    f'<a href="{html.escape(tag_url(name.lower()))}" class="mention hashtag" '
                    f'rel="tag">#<span>{html.escape(name)}</span></a>'
                )
        parts.append(html.escape(paragraph[position:]))
        rendered.append("<p>" + "".join(parts).replace("\n", "<br>") + "</p>")
    return sanitize_html("".join(rendered))
