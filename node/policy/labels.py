"""Classification labels: an ordered scale of names, lowest first."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from node.policy.errors import InvalidPolicyError, UnknownLabelError
from node.translatable import translatable

DEFAULT_LABELS: Final = ("public", "internal", "confidential", "restricted")


@dataclass(frozen=True, slots=True)
class LabelScale:
    """Label names from least to most sensitive, e.g. ``public < internal < confidential``.

    Every helper raises :class:`UnknownLabelError` (which names the known labels) for a
    name that is not on the scale.
    """

    names: tuple[str, ...] = DEFAULT_LABELS
    _ranks: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(self.names)
        object.__setattr__(self, "names", names)
        if not names:
            raise InvalidPolicyError(
                translatable("the label scale needs at least one label"), "labels"
            )
        for name in names:
            if not isinstance(name, str) or not name.strip():
                raise InvalidPolicyError(
                    translatable("label names must be non-empty text: {name!r}"),
                    "labels",
                    name=name,
                )
        if len(set(names)) != len(names):
            raise InvalidPolicyError(translatable("label names must be unique"), "labels")
        object.__setattr__(self, "_ranks", MappingProxyType({n: i for i, n in enumerate(names)}))

    def __contains__(self, label: object) -> bool:
        return label in self._ranks

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def lowest(self) -> str:
        return self.names[0]

    @property
    def highest(self) -> str:
        return self.names[-1]

    def rank(self, label: str) -> int:
        """Position on the scale, 0 for the lowest label."""
        try:
            return self._ranks[label]
        except KeyError:
            raise UnknownLabelError(label, self.names) from None

    def check(self, label: str, path: str | None = None) -> str:
        """Return ``label`` if it is on the scale, else raise naming ``path``."""
        if label not in self._ranks:
            raise UnknownLabelError(label, self.names, path)
        return label

    def compare(self, a: str, b: str) -> int:
        """Negative, zero or positive as ``a`` is below, equal to or above ``b``."""
        return self.rank(a) - self.rank(b)

    def at_most(self, label: str, ceiling: str) -> bool:
        """True when ``label`` may go where ``ceiling`` is the highest label accepted."""
        return self.rank(label) <= self.rank(ceiling)

    def higher(self, a: str, b: str) -> str:
        """The more sensitive of two labels."""
        return a if self.rank(a) >= self.rank(b) else b
