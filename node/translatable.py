"""Sentences for people that the web pages can show in the reader's language.

The node writes English. Where a sentence can reach a page (a policy reason, a
service's error), it is built from a template marked with :func:`translatable`
(so the catalog tools extract it) and ``str.format`` parameters, instead of an
f-string; the page then translates the template and fills in the same values.
Nothing here depends on a language or a request: the node stays pure and
English, and a ``translate`` function comes from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

#: Maps an English template to the reader's language (gettext's ``gettext``).
Translate: TypeAlias = Callable[[str], str]
#: A parameter is a plain value (a name, a number, a domain) or a phrase to translate too.
Param: TypeAlias = "str | Text"
Params: TypeAlias = "tuple[tuple[str, Param], ...]"


def translatable(template: str) -> str:
    """Marks ``template`` for extraction into the catalogs; returns it unchanged."""
    return template


def english(template: str) -> str:
    """The :data:`Translate` of the source language."""
    return template


@dataclass(frozen=True, slots=True)
class Text:
    """A template with ``{name}`` placeholders and the values that fill them."""

    template: str
    params: Params = ()

    def render(self, translate: Translate = english) -> str:
        return render(self.template, self.params, translate)

    def to_json(self) -> dict[str, object]:
        return {"template": self.template, "params": params_json(self.params)}

    @staticmethod
    def from_json(data: object) -> Text | None:
        """The text stored by :meth:`to_json`; None when ``data`` is not one."""
        if not isinstance(data, Mapping) or not isinstance(data.get("template"), str):
            return None
        params = params_from_json(data.get("params", {}))
        return None if params is None else Text(data["template"], params)


def render(template: str, params: Params, translate: Translate = english) -> str:
    """``template`` in the reader's language, filled with ``params`` (phrases translated too)."""
    values = {
        name: value.render(translate) if isinstance(value, Text) else value
        for name, value in params
    }
    return translate(template).format(**values)


def params_json(params: Params) -> dict[str, object]:
    """Parameters as a JSON object (phrases as nested objects)."""
    return {name: value.to_json() if isinstance(value, Text) else value for name, value in params}


def params_from_json(data: object) -> Params | None:
    """The parameters stored by :func:`params_json`; None when ``data`` is not such an object."""
    if not isinstance(data, Mapping):
        return None
    params: list[tuple[str, Param]] = []
    for name, value in data.items():
        if isinstance(value, str):
            params.append((str(name), value))
            continue
        phrase = Text.from_json(value)
        if phrase is None:
            return None
        params.append((str(name), phrase))
    return tuple(params)
