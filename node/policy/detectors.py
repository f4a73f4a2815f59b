"""Built-in detectors for secrets that must not leak: card numbers, IBANs, e-mail, phones.

Each ``find_*`` function takes text and returns ``(start, end)`` spans. They aim at
accidental disclosure, not determined evasion: digits are ASCII, separators are single
spaces or dashes (dots, slashes and parentheses for phones), and there is no Unicode
normalisation. Checksums (Luhn, ISO 13616 mod-97) keep false positives rare.

Running a pattern over every position of a post costs several microseconds, so the
detectors first search the text's *character classes* (:func:`char_classes`, one byte
per character) for the shape of what they look for, a byte search that skips ahead
quickly, and only then look closely where that shape occurs.
"""

from __future__ import annotations

import re
from typing import Final

Span = tuple[int, int]

# ASCII digits -> "0", ASCII letters -> "a", the separators detectors care about kept as
# they are, everything else (including every non-ASCII character) -> "_".
_KEPT: Final = frozenset(b" -./()+@?")
_CLASSES: Final = bytes(
    48 if 48 <= b <= 57 else 97 if (65 <= b <= 90 or 97 <= b <= 122) else b if b in _KEPT else 95
    for b in range(256)
)
#: 13 digits with single space/dash separators: every card number has that shape.
CARD_SHAPE: Final = re.compile(rb"0(?:[ \-]?0){12}")
#: 8 digits at most 3 separator characters apart: every phone number has that shape.
PHONE_SHAPE: Final = re.compile(rb"0(?:[ .\-/()]{0,3}0){7}")
#: Two letters and two digits: the country code and check digits of an IBAN.
IBAN_SHAPE: Final = re.compile(rb"aa00")


def char_classes(text: str) -> bytes:
    """The character class of each character of ``text`` (same length, same positions)."""
    # "replace" turns each non-ASCII character into one "?", keeping positions.
    return text.encode("ascii", "replace").translate(_CLASSES)


# --- payment card numbers -----------------------------------------------------------

CARD_MIN_DIGITS: Final = 13
CARD_MAX_DIGITS: Final = 19
# Separated card numbers are written in groups of 3 or more (4-4-4-4, 4-6-5, 4-4-4-4-3);
# requiring that keeps adjacent dates such as "2024-01-01 2024-12-31" out.
_CARD_MIN_GROUP: Final = 3
_DIGIT_RUN = re.compile(r"[0-9](?:[ -]?[0-9])+")
_DIGIT_GROUP = re.compile(r"[0-9]+")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position & 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_runs(text: str, classes: bytes) -> list[re.Match[str]]:
    """Maximal runs of digits and single separators that have at least 13 digits."""
    runs = []
    pos = 0
    while shape := CARD_SHAPE.search(classes, pos):
        # The leftmost shape starts where its run starts: an earlier start would chain
        # 13 digits too and have been found first.
        run = _DIGIT_RUN.match(text, shape.start())
        assert run is not None  # the shape guarantees a digit at its start
        runs.append(run)
        pos = run.end()
    return runs


def find_card_numbers(text: str, classes: bytes | None = None) -> list[Span]:
    """Spans of 13-19 digit, Luhn-valid numbers, optionally grouped by spaces or dashes.

    A run of digit groups longer than a card (a card followed by an expiry year, say) is
    searched for the longest Luhn-valid window of whole groups. ``classes`` is
    ``char_classes(text)`` when the caller has it already.
    """
    spans: list[Span] = []
    for run in _card_runs(text, char_classes(text) if classes is None else classes):
        groups = [g.span() for g in _DIGIT_GROUP.finditer(run.group())]
        total = sum(end - start for start, end in groups)
        if total < CARD_MIN_DIGITS:
            continue
        base = run.start()
        run_text = run.group()
        i = 0
        while i < len(groups):
            found = -1
            count = 0
            candidates: list[tuple[int, int]] = []
            for j in range(i, len(groups)):
                start, end = groups[j]
                if len(groups) > 1 and end - start < _CARD_MIN_GROUP:
                    break
                count += end - start
                if count > CARD_MAX_DIGITS:
                    break
                if count >= CARD_MIN_DIGITS:
                    candidates.append((j, count))
            for j, _count in reversed(candidates):
                digits = "".join(run_text[s:e] for s, e in groups[i : j + 1])
                if luhn_valid(digits):
                    found = j
                    break
            if found >= 0:
                spans.append((base + groups[i][0], base + groups[found][1]))
                i = found + 1
            else:
                i += 1
    return spans


def mask_card_number(matched: str) -> str:
    digits = "".join(c for c in matched if c.isdigit())
    return f"**** **** **** {digits[-4:]}"


# --- IBAN ---------------------------------------------------------------------------

#: Total IBAN length per country (ISO 13616 registry). Only listed countries are found.
IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip


def _is_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def iban_valid(iban: str) -> bool:
    """Country length and the ISO 7064 mod-97 check of an IBAN without spaces."""
    iban = iban.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def find_ibans(text: str, classes: bytes | None = None) -> list[Span]:
    """Spans of mod-97-valid IBANs, written compactly or in groups separated by spaces."""
    if classes is None:
        classes = char_classes(text)
    spans: list[Span] = []
    pos = 0
    limit = len(text)
    while shape := IBAN_SHAPE.search(classes, pos):
        start = shape.start()
        pos = start + 1
        if start and classes[start - 1] in b"a0":
            continue  # inside a longer word or number
        length = IBAN_LENGTHS.get(text[start : start + 2].upper())
        if length is None:
            continue
        chars = [text[start : start + 4]]
        need = length - 4
        i = start + 4
        while need and i < limit:
            char = text[i]
            if _is_alnum(char):
                chars.append(char)
                need -= 1
            elif not (char == " " and i + 1 < limit and _is_alnum(text[i + 1])):
                break
            i += 1
        if need or (i < limit and _is_alnum(text[i])):
            continue
        if iban_valid("".join(chars)):
            spans.append((start, i))
            pos = i
    return spans


def mask_iban(matched: str) -> str:
    compact = matched.replace(" ", "").upper()
    return f"{compact[:4]} **** {compact[-4:]}"


# --- e-mail addresses ---------------------------------------------------------------

_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}(?![A-Za-z0-9-])"
)
_LOCAL_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
)
_LOCAL_MAX: Final = 64  # RFC 5321
_WORD_CHAR = re.compile(r"[\w@]")


def find_emails(text: str) -> list[Span]:
    """Spans of e-mail addresses.

    Not preceded by a word character or "@": ``@alice@sales.example`` is a fediverse
    mention, not an address. Works outwards from each "@" instead of trying a pattern at
    every position, which is several times faster on ordinary text.
    """
    spans: list[Span] = []
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start < _LOCAL_MAX and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        match = None
        if start < at and not (start > 0 and _WORD_CHAR.match(text, start - 1)):
            match = _EMAIL.match(text, start)
        if match:
            spans.append(match.span())
            at = text.find("@", match.end())
        else:
            at = text.find("@", at + 1)
    return spans


def mask_email(matched: str) -> str:
    local, _, domain = matched.partition("@")
    return f"{local[:1]}***@{domain}"


# --- phone numbers ------------------------------------------------------------------

PHONE_MIN_DIGITS: Final = 8
PHONE_MAX_DIGITS: Final = 15  # E.164
_PHONE = re.compile(
    r"""
    (?<![\w+])
    (?:
        (?:\+|00)[1-9](?:[ .\-/()]{0,2}[0-9]){6,14}                   # +49 30 1234567, 0044 ...
      | \(?0[0-9]{1,4}\)?(?:[ .\-/]{0,2}[0-9]){5,12}                  # national: 030 1234567
      | (?:\([0-9]{3}\)[ ]?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}     # (555) 123-4567
    )
    (?![0-9])
    """,
    re.VERBOSE,
)


_PHONE_CHARS: Final = re.compile(rb"[0 .\-/()+]*")


def find_phone_numbers(text: str, classes: bytes | None = None) -> list[Span]:
    """International (``+CC``/``00CC``) and common national formats with 8-15 digits.

    National numbers must start with a trunk ``0`` or use the North American
    ``(555) 123-4567`` shape, so dates, amounts and version numbers do not match.
    """
    if classes is None:
        classes = char_classes(text)
    spans: list[Span] = []
    pos = 0
    while shape := PHONE_SHAPE.search(classes, pos):
        # A number's first digit is where the leftmost shape starts, or later, and at
        # most "+", "(" or "(+" come before it; it ends where digits and separators end.
        start = max(shape.start() - 2, pos)
        end = _PHONE_CHARS.match(classes, shape.end())
        assert end is not None  # * matches the empty string
        for match in _PHONE.finditer(text, start, end.end()):
            digits = sum(c.isdigit() for c in match.group())
            if PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS:
                spans.append(match.span())
        pos = end.end()
    return spans


def mask_digits(matched: str, keep_last: int) -> str:
    """Replace every digit but the last ``keep_last`` with ``*``, keeping separators."""
    positions = [i for i, c in enumerate(matched) if c.isdigit()]
    hidden = set(positions[: max(len(positions) - keep_last, 0)])
    return "".join("*" if i in hidden else c for i, c in enumerate(matched))


def mask_phone_number(matched: str) -> str:
    return mask_digits(matched, keep_last=2)


def mask_text(matched: str) -> str:
    """Generic mask for pattern matches: first and last character only."""
    if len(matched) < 4:
        return "*" * len(matched)
    return f"{matched[0]}{'*' * min(len(matched) - 2, 8)}{matched[-1]}"
