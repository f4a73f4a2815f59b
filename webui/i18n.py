"""Languages of the pages: English and French through standard gettext catalogs.

The language is the signed-in person's account setting, else the choice made
before signing in (the ``fedwall_lang`` cookie, set from the language links at the
foot of every page), else the best match of the browser's ``Accept-Language``,
else English. Catalogs live in
``webui/translations/<lang>/LC_MESSAGES/messages.{po,mo}``; the compiled ``.mo``
is committed so an installed package needs no build step, and a test fails
when it falls behind its ``.po`` (``python -m webui.catalogs`` rebuilds both).
"""

from __future__ import annotations

import datetime as dt
import gettext as gettext_module
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from quart import Quart, g, has_request_context, request

from node.policy.decision import Reason, reason_line
from node.translatable import Params, params_from_json

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
# Language code -> its own name, as the language links show it.
LANGUAGES = {"en": "English", "fr": "Français"}
LANGUAGE_COOKIE = "fedwall_lang"
LANGUAGE_COOKIE_AGE = 365 * 86400


@cache
def translations_for(language: str) -> gettext_module.NullTranslations:
    """The catalog of ``language`` (English needs none: the source strings are English)."""
    if language == DEFAULT_LANGUAGE:
        return gettext_module.NullTranslations()
    return gettext_module.translation(DOMAIN, TRANSLATIONS_DIR, languages=[language])


def negotiate(choices: Sequence[str | None], accept_language: Any) -> str:
    """The first of ``choices`` (account setting, then cookie) we have, else the browser's."""
    for choice in choices:
        if choice in LANGUAGES:
            return choice
    best: str | None = accept_language.best_match(list(LANGUAGES))
    return best or DEFAULT_LANGUAGE


def remember_language(response: Any, code: str, *, secure: bool) -> None:
    """Set the language cookie on ``response`` (the choice outlives the session)."""
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=LANGUAGE_COOKIE_AGE, httponly=True,
                        secure=secure, samesite="Lax")  # fmt: skip


def current_language() -> str:
    """The language of the page being rendered (English outside a request)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    language: str | None = g.get("language")
    if language is None:
        viewer = g.get("viewer")
        account_choice = viewer.language if viewer is not None else None
        language = negotiate(
            (account_choice, request.cookies.get(LANGUAGE_COOKIE)), request.accept_languages
        )
        g.language = language
    return language


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the page's language, with ``%(name)s`` placeholders filled."""
    text = translations_for(current_language()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The singular or plural form for ``n``; ``%(num)d`` is ``n``."""
    text = translations_for(current_language()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def _raw_gettext(message: str) -> str:
    return translations_for(current_language()).gettext(message)


def _raw_ngettext(singular: str, plural: str, n: int) -> str:
    return translations_for(current_language()).ngettext(singular, plural, n)


def lazy(message: str) -> str:
    """Marks ``message`` for extraction; translate it later with :func:`gettext`."""
    return message


# Names of the node's default classification labels and of visibilities. Labels a
# node defines itself are shown as they are named in its configuration.
LABEL_NAMES = {
    "public": lazy("public"),
    "internal": lazy("internal"),
    "confidential": lazy("confidential"),
    "restricted": lazy("restricted"),
}
VISIBILITY_NAMES = {
    "public": lazy("Public"),
    "node": lazy("This node only"),
    "followers": lazy("Followers"),
    "direct": lazy("Mentioned people only"),
}


def label_name(label: str) -> str:
    known = LABEL_NAMES.get(label)
    return gettext(known) if known else label


def visibility_name(visibility: str) -> str:
    known = VISIBILITY_NAMES.get(visibility)
    return gettext(known) if known else visibility


def _translate_template(template: str) -> str:
    # gettext("") is the catalog's header, never a translation of an empty text.
    return _raw_gettext(template) if template else template


class TemplatedError(Protocol):
    """An error raised with a translatable template and its parameters: a service's
    :class:`~node.errors.FedwallError`, or the policy engine's ``InvalidPolicyError`` and
    ``PolicyFileError``."""

    @property
    def message(self) -> str: ...
    @property
    def template(self) -> str: ...
    @property
    def params(self) -> Mapping[str, object]: ...


def service_message(error: TemplatedError) -> str:
    """A service's or the policy engine's error in the page's language: its template
    translated, then filled in (without the policy path or line, which the caller places).

    Templates the catalog does not know stay in English.
    """
    text = _translate_template(error.template)
    if not error.params:
        return text
    try:
        return text.format(**error.params)
    except (KeyError, IndexError, ValueError):
        # A translation naming a placeholder the template lacks: the English is still right.
        return error.message


def reason_text(reason: Reason | Mapping[str, Any]) -> str:
    """A policy reason in the page's language, from a :class:`Reason` or a stored copy (an
    audit entry's or a review item's dict); a copy stored without templates is shown as
    its English ``message``."""
    params: Params | None
    if isinstance(reason, Reason):
        verdict, template, params = reason.verdict_template, reason.template, reason.params
        message = reason.message
    else:
        verdict, template = reason.get("verdict"), reason.get("template")
        params = params_from_json(reason.get("params"))
        message = str(reason.get("message") or "")
    if not isinstance(verdict, str) or not isinstance(template, str) or params is None:
        return message
    try:
        return reason_line(verdict, template, params, _translate_template)
    except (KeyError, IndexError, ValueError):
        return message


def ago(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """How long ago ``moment`` was, short: "5 min", "3 h", "2 d"."""
    seconds = int(((now or dt.datetime.now(dt.UTC)) - moment).total_seconds())
    if seconds >= 86400:
        return gettext("%(n)d d", n=seconds // 86400)
    if seconds >= 3600:
        return gettext("%(n)d h", n=seconds // 3600)
    if seconds >= 60:
        return gettext("%(n)d min", n=seconds // 60)
    return gettext("now")


def install(app: Quart) -> None:
    """Give the app's templates ``_``/``gettext``/``ngettext`` and the language filters."""
    env = app.jinja_env
    env.add_extension("jinja2.ext.i18n")
    # Jinja's "new style" fills the placeholders itself (and escapes the values).
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_raw_gettext, ngettext=_raw_ngettext, newstyle=True
    )
    env.filters["label_name"] = label_name
    env.filters["visibility_name"] = visibility_name
    env.filters["ago"] = ago
    env.filters["reason_text"] = reason_text
    env.globals["current_language"] = current_language
    env.globals["languages"] = LANGUAGES
