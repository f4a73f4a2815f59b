"""Built-in detectors for secrets that must not leak: card numbers, IBANs, e-mail, phones.

Each ``find_*`` function takes text and returns ``(start, end)`` spans. They aim at
accidental disclosure, not determined evasion: digits are ASCII, separators are single
spaces or dashes (dots, slashes and parentheses for phones), and there is no Unicode
normalisation. Checksums (Luhn, ISO 13616 mod-97) keep false positives rare.
"""

from __future__ import annotations

import re
from typing import Final

Span = tuple[int, int]

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


def find_card_numbers(text: str) -> list[Span]:
    """Spans of 13-19 digit, Luhn-valid numbers, optionally grouped by spaces or dashes.

    A run of digit groups longer than a card (a card followed by an expiry year, say) is
    searched for the longest Luhn-valid window of whole groups.
    """
    spans: list[Span] = []
    for run in _DIGIT_RUN.finditer(text):
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
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})([0-9]{2})")


def _is_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def iban_valid(iban: str) -> bool:
    """Country length and the ISO 7064 mod-97 check of an IBAN without spaces."""
    iban = iban.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def find_ibans(text: str) -> list[Span]:
    """Spans of mod-97-valid IBANs, written compactly or in groups separated by spaces."""
    spans: list[Span] = []
    pos = 0
    limit = len(text)
    while match := _IBAN_START.search(text, pos):
        pos = match.start() + 1
        length = IBAN_LENGTHS.get(match.group(1).upper())
        if length is None:
            continue
        chars = [match.group(1), match.group(2)]
        need = length - 4
        i = match.end()
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
            spans.append((match.start(), i))
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


def find_phone_numbers(text: str) -> list[Span]:
    """International (``+CC``/``00CC``) and common national formats with 8-15 digits.

    National numbers must start with a trunk ``0`` or use the North American
    ``(555) 123-4567`` shape, so dates, amounts and version numbers do not match.
    """
    spans: list[Span] = []
    for match in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in match.group())
        if PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS:
            spans.append(match.span())
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
