"""Benchmark: boundary-policy evaluation per (activity, destination) against RSA signing.

Builds a 50-rule policy (keywords, regular expressions, the four detectors, label and
group rules) and a ~500-character post, times ``evaluate`` for it, and, in the same run,
times signing one request with RSA-2048 PKCS#1 v1.5 SHA-256 (what every delivery costs
anyway) as the baseline. Figures, not pass/fail.

    python bench/bench_policy.py [--repeats 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from node.policy import (
    CardNumberMatcher,
    ContentAction,
    ContentRule,
    Crossing,
    DirectionTerms,
    EmailMatcher,
    GroupRule,
    IbanMatcher,
    KeywordMatcher,
    PeerAgreement,
    PhoneMatcher,
    PolicySnapshot,
    RegexMatcher,
    Scope,
    evaluate,
)

POST = (
    "Quick update from the platform team: the migration of the billing service to the new "
    "cluster finished on Tuesday and error rates are back to normal. Thanks to everyone who "
    "stayed late to watch the dashboards! Next week we start on the search indexer; the plan "
    "is in the usual place and we would love comments before Friday. If you see slow pages "
    "in the reporting tool, please tell Maria (maria.lopez@example.com) or open a ticket so "
    "we can look at the traces. Reminder: the quarterly all-hands is on 12 June at 10:00, "
    "room 4.2 and online. Cake is confirmed."
)
KEYWORDS = [
    ("falcon", "project falcon"), ("merger",), ("acquisition", "takeover"), ("layoffs",),
    ("salary", "salaries"), ("bonus pool",), ("password",), ("secret",), ("lawsuit",),
    ("settlement",), ("insider",), ("earnings preview",), ("board minutes",), ("due diligence",),
    ("nda",), ("term sheet",), ("restructuring",), ("whistleblower",), ("subpoena",),
    ("patent draft",), ("pricing model",), ("customer list",), ("roadmap 2027",),
    ("codename orion",), ("budget cut",),
]  # fmt: skip
PATTERNS = [
    r"\bPRJ-\d{4}\b", r"\bAKIA[0-9A-Z]{16}\b", r"(?i)\bpassword\s*[:=]", r"\bghp_[A-Za-z0-9]{36}\b",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----", r"\b\d{3}-\d{2}-\d{4}\b", r"\bINV-\d{6}\b",
    r"(?i)\bapi[_-]?key\s*[:=]",
]  # fmt: skip
PEERS = [f"peer{i}.example" for i in range(20)]


def build_policy() -> PolicySnapshot:
    actions: tuple[ContentAction, ...] = ("block", "hold", "warn")
    content: list[ContentRule] = []
    for i, words in enumerate(KEYWORDS):
        scope = Scope(directions=frozenset({"outbound"}))
        if i % 5 == 1:
            scope = Scope(peers_mode="except", peers=frozenset({PEERS[0]}))
        content.append(
            ContentRule(
                id=f"keyword-{i}",
                action=actions[i % 3],
                matchers=(KeywordMatcher(words),),
                scope=scope,
                mode="dry_run" if i % 7 == 6 else "enforce",
            )
        )
    for i, pattern in enumerate(PATTERNS):
        content.append(
            ContentRule(id=f"pattern-{i}", action="block", matchers=(RegexMatcher(pattern),))
        )
    content += [
        ContentRule(id="cards", action="redact", matchers=(CardNumberMatcher(),)),
        ContentRule(id="ibans", action="redact", matchers=(IbanMatcher(),)),
        ContentRule(id="emails", action="warn", matchers=(EmailMatcher(),)),
        ContentRule(id="phones", action="hold", matchers=(PhoneMatcher(),), mode="dry_run"),
        ContentRule(id="label-cards", action="label", raise_to="confidential",
                    matchers=(CardNumberMatcher(),)),
        ContentRule(id="label-words", action="label", raise_to="confidential",
                    matchers=(KeywordMatcher(("confidential", "internal only")),)),
        ContentRule(id="label-secret", action="label", raise_to="restricted",
                    matchers=(KeywordMatcher(("strictly secret",)),)),
        ContentRule(id="no-confidential-outside", action="block",
                    scope=Scope(directions=frozenset({"outbound"}), peers_mode="except",
                                peers=frozenset({PEERS[1]}),
                                labels=frozenset({"confidential", "restricted"}))),
        ContentRule(id="hold-restricted", action="hold",
                    scope=Scope(labels=frozenset({"restricted"}))),
    ]  # fmt: skip
    groups = [
        GroupRule(id="legal-stays-home", effect="deny", kinds=frozenset({"posts", "replies"}),
                  scope=Scope(directions=frozenset({"outbound"}),
                              author_groups=frozenset({"legal"}))),
        GroupRule(id="interns-no-dm", effect="deny", kinds=frozenset({"direct_messages"}),
                  scope=Scope(directions=frozenset({"outbound"}),
                              author_groups=frozenset({"interns"}))),
        GroupRule(id="partners-dm-only", effect="allow_only",
                  kinds=frozenset({"direct_messages"}),
                  scope=Scope(directions=frozenset({"inbound"}), peers_mode="only",
                              peers=frozenset({PEERS[2]}),
                              recipient_groups=frozenset({"partners"}))),
    ] + [
        GroupRule(id=f"group-{i}", effect="deny", kinds=frozenset({"posts"}),
                  scope=Scope(author_groups=frozenset({f"team-{i}"})))
        for i in range(5)
    ]  # fmt: skip
    assert len(content) + len(groups) == 50
    terms = DirectionTerms(max_label="internal", profile_fields=frozenset({"title"}))
    peers = {p: PeerAgreement(p, "allowed", terms, terms) for p in PEERS}
    return PolicySnapshot(
        version=1, peers=peers, content_rules=tuple(content), group_rules=tuple(groups)
    )


def timings_us(action: Callable[[], object], loops: int, repeats: int) -> tuple[float, float]:
    """Median and best over ``repeats`` of the mean time of one call, in microseconds.

    The median is the headline figure; the best shows what the code costs on a quiet
    machine (other processes only ever make a repeat slower).
    """
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            action()
        samples.append((time.perf_counter() - start) / loops * 1e6)
    return statistics.median(samples), min(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args(argv)

    snapshot = build_policy()
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    crossings = [
        Crossing(
            direction="outbound", peer=peer, kind="posts", now=now, label="internal",
            fields={"content": POST, "summary": "Platform update"},
            author="@ana", author_groups=frozenset({"platform", "staff"}),
        )
        for peer in PEERS
    ]  # fmt: skip
    decisions = [evaluate(snapshot, c) for c in crossings]
    per_peer = len(crossings)

    def evaluate_all_peers() -> None:
        for crossing in crossings:
            evaluate(snapshot, crossing)

    evaluate_us, evaluate_best = (
        t / per_peer for t in timings_us(evaluate_all_peers, 200, args.repeats)
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_string = (
        b"(request-target): post /inbox\nhost: peer0.example\n"
        b"date: Fri, 01 May 2026 12:00:00 GMT\n"
        b"digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
    )

    def sign() -> bytes:
        return key.sign(signing_string, padding.PKCS1v15(), hashes.SHA256())

    sign_us, sign_best = timings_us(sign, 100, args.repeats)
    results = {
        "policy_rules": len(snapshot.content_rules) + len(snapshot.group_rules),
        "post_chars": len(POST),
        "outcome": decisions[0].outcome,
        "evaluate_median_us": round(evaluate_us, 2),
        "evaluate_best_us": round(evaluate_best, 2),
        "rsa2048_sign_median_us": round(sign_us, 1),
        "rsa2048_sign_best_us": round(sign_best, 1),
        "evaluate_to_sign_ratio": round(evaluate_us / sign_us, 4),
        "repeats": args.repeats,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(f"policy: {results['policy_rules']} rules, post: {results['post_chars']} characters")
    print(f"{'':38}{'median':>10}{'best':>10}")
    print(f"{'evaluate per (post, peer), µs':38}{evaluate_us:10.2f}{evaluate_best:10.2f}")
    print(f"{'RSA-2048 PKCS#1 v1.5 SHA-256 sign, µs':38}{sign_us:10.2f}{sign_best:10.2f}")
    print(f"{'ratio evaluate / sign':38}{evaluate_us / sign_us:10.4f}")
    print(f"outcome for {crossings[0].peer}: {decisions[0].outcome}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
