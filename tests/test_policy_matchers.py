"""Matchers and built-in detectors: true positives, validated false positives, masking."""

from __future__ import annotations

import re

import pytest

from node.policy import (
    CardNumberMatcher,
    EmailMatcher,
    IbanMatcher,
    InvalidPolicyError,
    KeywordMatcher,
    PhoneMatcher,
    RegexMatcher,
    find_spans,
)
from node.policy.detectors import iban_valid, luhn_valid
from node.policy.matchers import ScanText


def found(matcher: object, text: str) -> list[str]:
    assert hasattr(matcher, "find")
    return [text[s.start : s.end] for s in matcher.find(ScanText(text))]


# --- keywords -----------------------------------------------------------------------


def test_keyword_matches_case_insensitively() -> None:
    assert found(KeywordMatcher(("falcon",)), "Project FALCON starts") == ["FALCON"]


def test_keyword_matches_whole_words_only() -> None:
    assert found(KeywordMatcher(("falcon",)), "falconry and falcons") == []


def test_keyword_with_several_words_matches_across_any_whitespace() -> None:
    assert found(KeywordMatcher(("project falcon",)), "the project\n  Falcon plan") == [
        "project\n  Falcon"
    ]


def test_keyword_matcher_reports_every_occurrence_of_every_word() -> None:
    matcher = KeywordMatcher(("merger", "takeover"))
    assert found(matcher, "merger talk, takeover talk, merger again") == [
        "merger",
        "takeover",
        "merger",
    ]


def test_keyword_without_word_characters_still_matches() -> None:
    assert found(KeywordMatcher(("$$$",)), "send $$$ now") == ["$$$"]


def test_keyword_matches_in_text_that_is_not_ascii() -> None:
    assert found(KeywordMatcher(("falcon",)), "Café: FALCON über alles") == ["FALCON"]


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("secret", "\u017fecret"),  # long s, which re.IGNORECASE equates with "s"
        ("key", "\u212aey"),  # Kelvin sign
        ("pin", "P\u0130N"),  # dotted capital I
        ("pin", "p\u0131n"),  # dotless i
    ],
)
def test_keyword_prefilter_does_not_hide_unicode_case_variants(keyword: str, text: str) -> None:
    assert found(KeywordMatcher((keyword,)), text) == [text]


def test_keyword_matcher_rejects_empty_words() -> None:
    with pytest.raises(InvalidPolicyError):
        KeywordMatcher(("falcon", " "))


# --- regular expressions ------------------------------------------------------------


def test_regex_matches_pattern() -> None:
    assert found(RegexMatcher(r"\bPRJ-\d{4}\b"), "see PRJ-1234 and PRJ-99") == ["PRJ-1234"]


def test_regex_ignore_case_option_applies() -> None:
    assert found(RegexMatcher("password", ignore_case=True), "PassWord: x") == ["PassWord"]


def test_regex_inline_ignore_case_survives_the_literal_prefilter() -> None:
    assert found(RegexMatcher(r"(?i)\bapi[_-]?key\s*[:=]"), "API-KEY = abc") == ["API-KEY ="]


def test_regex_digit_prefilter_does_not_hide_non_ascii_digits() -> None:
    text = "id ٣٣٣-٢٢-٤٤٤٤"
    assert found(RegexMatcher(r"\d{3}-\d{2}-\d{4}"), text) == ["٣٣٣-٢٢-٤٤٤٤"]


def test_invalid_regex_is_rejected_with_its_location() -> None:
    with pytest.raises(InvalidPolicyError) as error:
        RegexMatcher("(unclosed")
    assert error.value.path == "pattern"
    assert "invalid regular expression" in error.value.message


def test_regex_matching_empty_text_is_rejected() -> None:
    with pytest.raises(InvalidPolicyError, match="empty text"):
        RegexMatcher(r"\d*")


def test_regex_match_is_masked() -> None:
    assert RegexMatcher("x").mask("AKIAIOSFODNN7EXAMPLE") == "A********E"


# --- card numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "3782 822463 10005",  # American Express, 15 digits in 4-6-5
        "6011 0009 9013 9424",
        "4222222222222",  # 13 digits
    ],
)
def test_card_number_detector_finds_luhn_valid_numbers(card: str) -> None:
    assert found(CardNumberMatcher(), f"card: {card}, thanks") == [card]


def test_luhn_invalid_number_is_not_a_card() -> None:
    assert not luhn_valid("4111111111111112")
    assert found(CardNumberMatcher(), "card 4111 1111 1111 1112") == []


def test_twelve_digits_are_not_a_card() -> None:
    assert found(CardNumberMatcher(), "order 4111 1111 1111") == []


def test_card_number_followed_by_more_digits_is_still_found() -> None:
    assert found(CardNumberMatcher(), "4111 1111 1111 1111 2027") == ["4111 1111 1111 1111"]


def test_adjacent_dates_are_not_a_card() -> None:
    # 16 digits and Luhn-valid, but grouped like dates, not like a card.
    assert luhn_valid("2024010120241218")
    assert found(CardNumberMatcher(), "from 2024-01-01 2024-12-18 on") == []


def test_every_card_number_in_a_text_is_found() -> None:
    text = "4111 1111 1111 1111 and 5500-0000-0000-0004, also 378282246310005."
    assert found(CardNumberMatcher(), text) == [
        "4111 1111 1111 1111",
        "5500-0000-0000-0004",
        "378282246310005",
    ]


def test_card_number_is_masked_to_its_last_four_digits() -> None:
    assert CardNumberMatcher().mask("4111-1111-1111-1111") == "**** **** **** 1111"


# --- IBAN ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NO93 8601 1117 947",
    ],
)
def test_iban_detector_finds_mod97_valid_ibans(iban: str) -> None:
    assert found(IbanMatcher(), f"pay to {iban}. Thanks") == [iban]


def test_mod97_invalid_iban_is_not_an_iban() -> None:
    assert not iban_valid("DE89370400440532013001")
    assert found(IbanMatcher(), "pay to DE89 3704 0044 0532 0130 01") == []


def test_iban_of_wrong_length_for_its_country_is_not_an_iban() -> None:
    assert found(IbanMatcher(), "DE89 3704 0044 0532 0130 0012") == []


def test_iban_inside_a_longer_word_is_not_an_iban() -> None:
    assert found(IbanMatcher(), "XDE89370400440532013000") == []


def test_iban_is_masked_to_country_and_last_four() -> None:
    assert IbanMatcher().mask("DE89 3704 0044 0532 0130 00") == "DE89 **** 3000"


# --- e-mail -------------------------------------------------------------------------


def test_email_detector_finds_addresses() -> None:
    text = "write to maria.lopez@example.com or a+b@mail.corp.example."
    assert found(EmailMatcher(), text) == ["maria.lopez@example.com", "a+b@mail.corp.example"]


def test_fediverse_mention_is_not_an_email_address() -> None:
    assert found(EmailMatcher(), "thanks @alice@sales.example!") == []


def test_text_without_a_domain_is_not_an_email_address() -> None:
    assert found(EmailMatcher(), "meet me @ noon, user@localhost") == []


def test_email_is_masked_to_first_letter_and_domain() -> None:
    assert EmailMatcher().mask("maria.lopez@example.com") == "m***@example.com"


# --- phone numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+49 30 1234567",
        "+1 (555) 123-4567",
        "+44 (0)20 7946 0958",
        "0044 20 7946 0958",
        "030 1234 5678",
        "(555) 123-4567",
        "555-123-4567",
    ],
)
def test_phone_detector_finds_international_and_national_numbers(phone: str) -> None:
    assert found(PhoneMatcher(), f"call {phone} today") == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "on 2026-03-14 at 10:00",
        "version 1.2.3.4",
        "we sold 12345678 units",
        "+49 123 45",
        "room 0.123456789",
    ],
)
def test_phone_detector_ignores_dates_counts_and_short_numbers(text: str) -> None:
    assert found(PhoneMatcher(), text) == []


def test_every_phone_number_in_a_text_is_found() -> None:
    text = "call +49 30 1234567, (555) 123-4567 or 030 7654 3210"
    assert found(PhoneMatcher(), text) == ["+49 30 1234567", "(555) 123-4567", "030 7654 3210"]


def test_phone_number_glued_to_a_word_is_not_found() -> None:
    assert found(PhoneMatcher(), "ref+49 30 1234567 and id0301234567") == []


def test_phone_number_is_masked_except_its_last_two_digits() -> None:
    assert PhoneMatcher().mask("+49 30 1234567") == "+** ** *****67"


# --- spans per field ----------------------------------------------------------------


def test_matchers_report_spans_per_field() -> None:
    spans = find_spans(
        KeywordMatcher(("falcon",)), {"content": "about falcon", "summary": "x", "t": "Falcon"}
    )
    assert {name: [(s.start, s.end) for s in found] for name, found in spans.items()} == {
        "content": [(6, 12)],
        "t": [(0, 6)],
    }


def test_keyword_and_pattern_agree_on_random_looking_text() -> None:
    text = "Falcon, FALCON; falcon's falcon-ish (falcon)"
    expected = [m.group() for m in re.finditer(r"(?<!\w)falcon(?!\w)", text, re.IGNORECASE)]
    assert found(KeywordMatcher(("falcon",)), text) == expected
