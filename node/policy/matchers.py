"""Matchers find text in a crossing's fields: keywords, regular expressions, detectors.

Every matcher is a frozen, hashable value that compiles what it needs when it is
constructed (that is, when the snapshot is built), and reports match spans per field.
``may_match`` is a cheap prefilter without false negatives: when it says no, ``find``
finds nothing, so an evaluation asks it once for all fields joined together.

Scanned text is capped at :data:`MAX_SCAN_CHARS` characters per field. Python's ``re``
has no timeout, so the cap is what bounds the cost of an administrator's pattern on
hostile input (a regular expression that backtracks exponentially is still slow on
short text: keep patterns simple). The evaluator holds for review anything whose
fields were too long to scan completely, so the unscanned tail can never leak.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final, TypeAlias

from node.policy import detectors
from node.policy.errors import InvalidPolicyError
from node.translatable import Text, translatable

MAX_SCAN_CHARS: Final = 32_768

# Case-insensitive prefilters compare case-folded text. ``str.casefold`` agrees with
# the case-insensitive matching of ``re`` on every character except these two, which
# ``re`` treats as "i"; mapping them first keeps every prefilter free of false negatives.
_FOLD_FIXES: Final = {0x130: "i", 0x131: "i"}
# ASCII letters lower-cased, digits and "_" kept, everything else a space: splitting the
# result gives the lower-cased \w+ words of ASCII text.
_WORDS: Final = bytes(
    b + 32 if 65 <= b <= 90 else b if (97 <= b <= 122 or 48 <= b <= 57 or b == 95) else 32
    for b in range(256)
)


def fold(text: str) -> str:
    """Case-fold for prefilters: a superset of what ``re.IGNORECASE`` considers equal."""
    return text.casefold() if text.isascii() else text.translate(_FOLD_FIXES).casefold()


@dataclass(frozen=True, slots=True)
class Span:
    """A match in one field: ``text[start:end]``."""

    start: int
    end: int


class ScanText:
    """One field's text, prepared once and shared by every matcher of an evaluation.

    The case-folded copy and the character classes are computed on first use: they are
    the cheap prefilters that let most matchers skip the text without running a pattern.
    """

    __slots__ = ("_classes", "_digits", "_folded", "_words", "text", "truncated")

    def __init__(self, text: str) -> None:
        self.truncated = len(text) > MAX_SCAN_CHARS
        self.text = text[:MAX_SCAN_CHARS] if self.truncated else text
        self._folded: str | None = None
        self._classes: bytes | None = None
        self._words: frozenset[bytes] | None = None
        self._digits = -1

    @classmethod
    def joined(cls, scans: list[ScanText]) -> ScanText:
        """All fields in one text for prefilters (``may_match``); NUL keeps them apart."""
        if len(scans) == 1:
            return scans[0]
        joined = cls("")
        joined.text = "\x00".join(scan.text for scan in scans)
        return joined

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = fold(self.text)
        return self._folded

    @property
    def classes(self) -> bytes:
        """:func:`detectors.char_classes` of the text."""
        if self._classes is None:
            self._classes = detectors.char_classes(self.text)
        return self._classes

    @property
    def words(self) -> frozenset[bytes] | None:
        """The lower-cased ``\\w+`` words of ASCII text; None when the text is not ASCII.

        For ASCII text, every word-piece of a case-insensitive keyword match is one of
        these words (see :attr:`KeywordMatcher.word_probes`), so a set lookup replaces a
        substring search per keyword.
        """
        if self._words is None:
            if not self.text.isascii():
                return None
            self._words = frozenset(self.text.encode("ascii").translate(_WORDS).split())
        return self._words

    @property
    def digits(self) -> int:
        """How many ASCII digits the text has."""
        if self._digits < 0:
            self._digits = self.classes.count(48)
        return self._digits


def _spans(found: list[tuple[int, int]]) -> tuple[Span, ...]:
    return tuple(Span(start, end) for start, end in found)


def _required(pattern: re.Pattern[str]) -> tuple[str, bool, int]:
    """What every match of ``pattern`` must contain: (literal, case-insensitive, digits).

    Derived from the parsed pattern, conservatively: the longest run of literal
    characters at the top level and the fewest digits any match needs. Both are only
    used to skip text that cannot match, so when in doubt they say "nothing required".
    """
    try:
        # Private modules of ``re``; should they change, there is simply no prefilter.
        c = importlib.import_module("re._constants")
        parsed = importlib.import_module("re._parser").parse(pattern.pattern, pattern.flags)
    except (ImportError, AttributeError, re.error):
        return "", False, 0
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    best: list[str] = []
    run: list[str] = []

    def flush() -> None:
        nonlocal best, run
        if len(run) > len(best):
            best = run
        run = []

    def is_digit_class(op: object, av: object) -> bool:
        if op is c.LITERAL:
            return isinstance(av, int) and 48 <= av <= 57
        if op is c.IN and isinstance(av, list) and av:
            return all(
                (o is c.CATEGORY and a is c.CATEGORY_DIGIT)
                or (o is c.RANGE and a[0] >= 48 and a[1] <= 57)
                or (o is c.LITERAL and 48 <= a <= 57)
                for o, a in av
            )
        return False

    def digits(items: object) -> int:
        total = 0
        for op, av in items:  # type: ignore[attr-defined]
            if is_digit_class(op, av):
                total += 1
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
                total += av[0] * digits(av[2])
            elif op is c.SUBPATTERN:
                total += digits(av[3])
            elif op is c.BRANCH:
                total += min(digits(branch) for branch in av[1])
        return total

    def walk(items: object) -> None:
        for op, av in items:  # type: ignore[attr-defined]
            if op is c.LITERAL:
                run.append(chr(av))
            elif op is c.SUBPATTERN and av[1] == 0 and av[2] == 0:
                walk(av[3])
            else:
                flush()

    try:
        walk(parsed)
        flush()
        need_digits = digits(parsed)
    except (TypeError, ValueError, IndexError, AttributeError):
        return "", False, 0
    literal = "".join(best)
    if len(literal) < 2:
        literal = ""
    return (fold(literal) if ignore_case else literal), ignore_case, need_digits


@dataclass(frozen=True, slots=True)
class KeywordMatcher:
    """Any of ``words`` as whole words, case-insensitively; inner spaces match any whitespace."""

    words: tuple[str, ...]
    type_name: ClassVar[str] = "keyword"
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _probes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _word_probes: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = tuple(w.strip() for w in self.words)
        if not words or not all(words):
            raise InvalidPolicyError(
                translatable("a keyword matcher needs non-empty words"), "words"
            )
        object.__setattr__(self, "words", words)
        alternatives = sorted(
            (r"\s+".join(map(re.escape, w.split())) for w in words), key=len, reverse=True
        )
        pattern = r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"
        object.__setattr__(self, "_pattern", re.compile(pattern, re.IGNORECASE))
        # The longest word-like piece of each keyword must occur in the case-folded text
        # before the pattern is worth running; "" (no such piece) means always run.
        probes = []
        for word in words:
            pieces = re.findall(r"\w+", fold(word))
            probes.append(max(pieces, key=len) if pieces else "")
        object.__setattr__(self, "_probes", tuple(dict.fromkeys(probes)))
        # ASCII text can only match a keyword whose folded pieces are ASCII: the
        # non-ASCII characters that re.IGNORECASE equates with ASCII ones (long s,
        # Kelvin sign, dotted and dotless i) fold to ASCII. Non-ASCII probes drop out.
        object.__setattr__(
            self,
            "_word_probes",
            tuple(p.encode("ascii") for p in self._probes if p.isascii()),
        )

    @property
    def probes(self) -> tuple[str, ...]:
        """Case-folded pieces; one of them occurs in the folded text of every match.

        An empty piece means the keyword has no word characters and must always run.
        """
        return self._probes

    @property
    def word_probes(self) -> tuple[bytes, ...]:
        """:attr:`probes` for ASCII text, as bytes to look up in :attr:`ScanText.words`.

        ``b""`` means "always run"; no probe at all means ASCII text cannot match.
        """
        return self._word_probes

    def may_match(self, scan: ScanText) -> bool:
        words = scan.words
        if words is not None:
            # Loops, not any(): a generator expression costs more than the lookups here.
            for word in self._word_probes:  # noqa: SIM110
                if not word or word in words:
                    return True
            return False
        folded = scan.folded
        for probe in self._probes:  # noqa: SIM110
            if probe in folded:
                return True
        return False

    def find(self, scan: ScanText) -> tuple[Span, ...]:
        # Substring probes here: one field's word set costs more than it saves.
        folded = scan.folded
        for probe in self._probes:
            if probe in folded:
                return tuple(Span(*m.span()) for m in self._pattern.finditer(scan.text))
        return ()

    def describe(self, masked: str) -> Text:
        return Text(translatable("keyword {match!r}"), (("match", masked),))

    def mask(self, matched: str) -> str:
        # Keywords are the administrator's words, not the author's secrets.
        return matched


@dataclass(frozen=True, slots=True)
class RegexMatcher:
    """A Python regular expression, compiled once; matches are masked in reasons.

    A literal every match must contain, and the number of digits every match needs, are
    worked out at construction and checked before the pattern runs.
    """

    pattern: str
    ignore_case: bool = False
    type_name: ClassVar[str] = "regex"
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _literal: str = field(init=False, repr=False, compare=False)
    _literal_folded: bool = field(init=False, repr=False, compare=False)
    _digits: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)
        except re.error as error:
            # Python's own explanation stays as it is (English): a parameter, not translated.
            raise InvalidPolicyError(
                translatable("invalid regular expression: {error}"), "pattern", error=str(error)
            ) from None
        if compiled.fullmatch(""):
            raise InvalidPolicyError(
                translatable("regular expression matches empty text, so it would match everything"),
                "pattern",
            )
        literal, folded, digits = _required(compiled)
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "_literal", literal)
        object.__setattr__(self, "_literal_folded", folded)
        object.__setattr__(self, "_digits", digits)

    def may_match(self, scan: ScanText) -> bool:
        if self._literal and self._literal not in (
            scan.folded if self._literal_folded else scan.text
        ):
            return False
        # \d also matches non-ASCII digits, which ScanText.digits does not count.
        return not (self._digits and scan.digits < self._digits and scan.text.isascii())

    def find(self, scan: ScanText) -> tuple[Span, ...]:
        if not self.may_match(scan):
            return ()
        return tuple(
            Span(*m.span()) for m in self._compiled.finditer(scan.text) if m.end() > m.start()
        )

    def describe(self, masked: str) -> Text:
        return Text(translatable("pattern match {match!r}"), (("match", masked),))

    def mask(self, matched: str) -> str:
        return detectors.mask_text(matched)


@dataclass(frozen=True, slots=True)
class CardNumberMatcher:
    """Payment card numbers: 13-19 digits, optional space/dash groups, Luhn-valid."""

    type_name: ClassVar[str] = "card_number"

    def may_match(self, scan: ScanText) -> bool:
        return scan.digits >= detectors.CARD_MIN_DIGITS and bool(
            detectors.CARD_SHAPE.search(scan.classes)
        )

    def find(self, scan: ScanText) -> tuple[Span, ...]:
        if not self.may_match(scan):
            return ()
        return _spans(detectors.find_card_numbers(scan.text, scan.classes))

    def describe(self, masked: str) -> Text:
        return Text(translatable("card number {match}"), (("match", masked),))

    def mask(self, matched: str) -> str:
        return detectors.mask_card_number(matched)


@dataclass(frozen=True, slots=True)
class IbanMatcher:
    """IBANs of registered countries, with or without spaces, length and mod-97 valid."""

    type_name: ClassVar[str] = "iban"

    def may_match(self, scan: ScanText) -> bool:
        return scan.digits >= 2 and bool(detectors.IBAN_SHAPE.search(scan.classes))

    def find(self, scan: ScanText) -> tuple[Span, ...]:
        if not self.may_match(scan):
            return ()
        return _spans(detectors.find_ibans(scan.text, scan.classes))

    def describe(self, masked: str) -> Text:
        return Text(translatable("IBAN {match}"), (("match", masked),))

    def mask(self, matched: str) -> str:
        return detectors.mask_iban(matched)


@dataclass(frozen=True, slots=True)
class EmailMatcher:
    """E-mail addresses (fediverse mentions such as ``@alice@sales.example`` excluded)."""

    type_name: ClassVar[str] = "email"

    def may_match(self, scan: ScanText) -> bool:
        return "@" in scan.text

    def find(self, scan: ScanText) -> tuple[Span, ...]:
        if not self.may_match(scan):
            return ()
        return _spans(detectors.find_emails(scan.text))

    def describe(self, masked: str) -> Text:
        return Text(translatable("e-mail address {match}"), (("match", masked),))

    def mask(self, matched: str) -> str:
        return detectors.mask_email(matched)


@dataclass(frozen=True, slots=True)
class PhoneMatcher:
    """Phone numbers: ``+CC``/``00CC`` international or common national formats, 8+ digits."""

    type_name: ClassVar[str] = "phone"

    def may_match(self, scan: ScanText) -> bool:
        return scan.digits >= detectors.PHONE_MIN_DIGITS and bool(
            detectors.PHONE_SHAPE.search(scan.classes)
        )

    def find(self, scan: ScanText) -> tuple[Span, ...]:
        if not self.may_match(scan):
            return ()
        return _spans(detectors.find_phone_numbers(scan.text, scan.classes))

    def describe(self, masked: str) -> Text:
        return Text(translatable("phone number {match}"), (("match", masked),))

    def mask(self, matched: str) -> str:
        return detectors.mask_phone_number(matched)


Matcher: TypeAlias = (
    KeywordMatcher | RegexMatcher | CardNumberMatcher | IbanMatcher | EmailMatcher | PhoneMatcher
)
DETECTORS: Final[Mapping[str, Callable[[], Matcher]]] = {
    "card_number": CardNumberMatcher,
    "iban": IbanMatcher,
    "email": EmailMatcher,
    "phone": PhoneMatcher,
}
MATCHER_TYPES: Final = ("keyword", "regex", *DETECTORS)


def find_spans(matcher: Matcher, fields: Mapping[str, str]) -> dict[str, tuple[Span, ...]]:
    """Run one matcher over named fields; only fields with matches appear in the result."""
    found = {}
    for name, text in fields.items():
        spans = matcher.find(ScanText(text))
        if spans:
            found[name] = spans
    return found
