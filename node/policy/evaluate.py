"""Evaluate the boundary policy for one crossing, and preview a post for many peers.

Order of evaluation (every step runs, so a preview can explain everything):

1. admission: the federation mode and the agreements covering the peer;
2. terms: activity kind, media, profile fields;
3. labels: ``label`` content rules raise the label until no more of them apply; then
   clearance (the effective, highest label against the terms' ``max_label``);
4. the other content rules, whose label scopes see every label the crossing has;
5. group rules;
6. fields too long to scan completely are held for review.

The outcome is the most restrictive enforced reason: deny > hold > redact > allow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from node.policy.crossing import Crossing
from node.policy.decision import OUTCOME_RANK, Decision, Outcome, Reason
from node.policy.kinds import PROFILE_FIELD_PREFIX, kind_text
from node.policy.matchers import MAX_SCAN_CHARS, Matcher, ScanText, Span
from node.policy.peers import DirectionTerms
from node.policy.rules import ContentRule, GroupRule, Scope
from node.policy.snapshot import IndexedRule, PolicySnapshot

REDACTION: Final = "[redacted]"

_VERDICT: Final[Mapping[tuple[str, str], str]] = {
    ("outbound", "deny"): "not sent to {peer}",
    ("outbound", "hold"): "held for review before sending to {peer}",
    ("outbound", "redact"): "redacted in the copy for {peer}",
    ("outbound", "allow"): "warning for {peer}",
    ("inbound", "deny"): "not accepted from {peer}",
    ("inbound", "hold"): "held for review before accepting from {peer}",
    ("inbound", "redact"): "redacted in the copy accepted from {peer}",
    ("inbound", "allow"): "warning for {peer}",
}
_DRY_VERDICT: Final[Mapping[tuple[str, str], str]] = {
    ("outbound", "deny"): "dry run: would not have been sent to {peer}",
    ("outbound", "hold"): "dry run: would have been held for review before sending to {peer}",
    ("outbound", "redact"): "dry run: would have been redacted in the copy for {peer}",
    ("outbound", "allow"): "dry run: would have warned for {peer}",
    ("inbound", "deny"): "dry run: would not have been accepted from {peer}",
    ("inbound", "hold"): "dry run: would have been held for review before accepting from {peer}",
    ("inbound", "redact"): "dry run: would have been redacted in the copy accepted from {peer}",
    ("inbound", "allow"): "dry run: would have warned for {peer}",
}
_ACTION_EFFECT: Final[Mapping[str, tuple[Outcome, str]]] = {
    "block": ("deny", "content_blocked"),
    "hold": ("hold", "content_held"),
    "redact": ("redact", "content_redacted"),
    "warn": ("allow", "content_warning"),
}

#: What a matcher found when it found nothing (shared, read-only).
_NOTHING: Final[Mapping[str, tuple[Span, ...]]] = MappingProxyType({})

# Matches of one rule, per field: (matcher, span) in text order.
_Hits = dict[str, list[tuple[Matcher, Span]]]


def evaluate(snapshot: PolicySnapshot, crossing: Crossing) -> Decision:
    """Decide what may cross for one activity and one peer. Pure: no I/O, no clock."""
    return _Evaluation(snapshot, crossing).run()


def preview(snapshot: PolicySnapshot, crossings: Iterable[Crossing]) -> Mapping[str, Decision]:
    """Evaluate one crossing per peer (e.g. one post for every destination), keyed by peer."""
    decisions: dict[str, Decision] = {}
    for crossing in crossings:
        if crossing.peer in decisions:
            raise ValueError(f"preview got two crossings for {crossing.peer}")
        decisions[crossing.peer] = evaluate(snapshot, crossing)
    return MappingProxyType(decisions)


class _Evaluation:
    """The working state of one evaluation; discarded afterwards."""

    __slots__ = (
        "crossing",
        "fields",
        "found",
        "matchers",
        "reasons",
        "redactions",
        "scans",
        "seen",
        "snapshot",
        "terms",
        "truncated",
        "withheld",
        "worst",
    )

    def __init__(self, snapshot: PolicySnapshot, crossing: Crossing) -> None:
        self.snapshot = snapshot
        self.crossing = crossing
        self.reasons: list[Reason] = []
        self.worst = 0
        self.fields: Mapping[str, str] = crossing.fields
        self.withheld = False
        self.scans: list[tuple[str, ScanText]] = []
        self.matchers = snapshot._index.matchers
        # Per matcher slot: None until run, then the spans per field ({} for none).
        self.found: list[Mapping[str, tuple[Span, ...]] | None] = [None] * len(self.matchers)
        self.redactions: dict[str, list[Span]] = {}
        self.truncated: set[str] = set()
        self.terms: DirectionTerms | None = None
        self.seen: set[str] = set()

    # --- bookkeeping -----------------------------------------------------------------

    def add(
        self,
        effect: Outcome,
        code: str,
        body: str,
        rule_id: str | None = None,
        field: str | None = None,
        matched: str | None = None,
        dry_run: bool = False,
        verdict: str | None = None,
    ) -> None:
        if verdict is None:
            table = _DRY_VERDICT if dry_run else _VERDICT
            verdict = table[self.crossing.direction, effect].format(peer=self.crossing.peer)
        self.reasons.append(
            Reason(rule_id, code, f"{verdict}: {body}", field, matched, dry_run, effect)
        )
        if not dry_run:
            self.worst = max(self.worst, OUTCOME_RANK[effect])

    def run(self) -> Decision:
        snapshot, crossing = self.snapshot, self.crossing
        index = snapshot._index
        direction = crossing.direction
        self.terms = self.admit()
        if self.terms is not None:
            self.check_terms(self.terms)
        passed = self.prefilter()
        label = self.effective_label(index.label_rules[direction])
        # Only rules without matchers, or with a matcher that passed its prefilter, can
        # apply; visit those in policy order.
        rules = index.content_rules[direction]
        rules_by_slot = index.rules_by_slot[direction]
        candidates = set(index.matcherless[direction])
        for slot in passed:
            candidates.update(rules_by_slot.get(slot, ()))
        for position in sorted(candidates):
            rule, slots, everywhere = rules[position]
            if not everywhere and not self.in_scope(rule.scope):
                continue
            if slots:
                for slot in slots:
                    if self.find(slot):
                        break
                else:
                    continue
            self.apply_content_rule(rule, slots)
        for group_rule in index.group_rules[direction, crossing.kind]:
            self.apply_group_rule(group_rule)
        for name in sorted(self.truncated):
            self.add(
                "hold",
                "too_long_to_scan",
                f"{name} is longer than {MAX_SCAN_CHARS} characters, too long to scan completely",
                field=name,
            )
        outcome: Outcome = ("allow", "redact", "hold", "deny")[self.worst]
        transformed = None
        if outcome != "deny" and (self.redactions or self.withheld):
            transformed = MappingProxyType(self.redacted_fields())
        reasons = tuple(self.reasons)
        return Decision(
            outcome=outcome,
            reasons=reasons,
            effective_label=label,
            transformed=transformed,
            warnings=tuple(r for r in reasons if r.code == "content_warning" and not r.dry_run)
            if reasons
            else (),
            peer=crossing.peer,
            direction=direction,
            policy_version=snapshot.version,
        )

    # --- admission and terms ---------------------------------------------------------

    def admit(self) -> DirectionTerms | None:
        """Check mode and agreements; return the terms to apply, or None when denied."""
        snapshot, crossing = self.snapshot, self.crossing
        agreements = snapshot.agreements_for(crossing.peer_patterns)
        for agreement in agreements:
            if agreement.status == "blocked":
                note = f" ({agreement.note})" if agreement.note else ""
                self.add("deny", "peer_blocked", f"{agreement.domain} is blocked{note}")
                return None
        if not agreements:
            if snapshot.federation_mode == "allowlist":
                self.add(
                    "deny",
                    "peer_not_allowlisted",
                    f"{crossing.peer} is not on this node's allowlist",
                )
                return None
            return snapshot._index.unlisted[crossing.direction]
        agreement = agreements[0]
        if agreement.status == "pending":
            self.add(
                "deny", "peer_pending", f"the agreement with {agreement.domain} is still pending"
            )
        elif agreement.expires is not None and crossing.now >= agreement.expires:
            self.add(
                "deny",
                "agreement_expired",
                f"the agreement with {agreement.domain} expired on {agreement.expires.isoformat()}",
            )
        return agreement.terms(crossing.direction)

    def check_terms(self, terms: DirectionTerms) -> None:
        crossing = self.crossing
        if crossing.kind not in terms.kinds:
            self.add(
                "deny",
                "kind_not_allowed",
                f"{kind_text(crossing.kind)} are not in the {crossing.direction} terms "
                f"with {crossing.peer}",
            )
        if crossing.has_media and not terms.media:
            self.add(
                "deny",
                "media_not_allowed",
                f"media not allowed (the {crossing.direction} terms with {crossing.peer} "
                "exclude attachments)",
            )
        kept: dict[str, str] = {}
        for name, text in crossing.fields.items():
            if name.startswith(PROFILE_FIELD_PREFIX) and not terms.shows_profile_field(
                name[len(PROFILE_FIELD_PREFIX) :]
            ):
                self.withheld = True
                self.add(
                    "redact",
                    "profile_field_withheld",
                    f"profile field {name[len(PROFILE_FIELD_PREFIX) :]!r} withheld: not among "
                    f"the profile fields in the {crossing.direction} terms",
                    field=name,
                )
            else:
                kept[name] = text
        if self.withheld:
            self.fields = kept

    # --- labels ----------------------------------------------------------------------

    def effective_label(self, label_rules: tuple[IndexedRule, ...]) -> str:
        """Apply ``label`` rules until no more apply, then check clearance.

        The crossing "has" its own label and every label an applied rule raised it to;
        a scope's labels match any of them, and the effective label is the highest.
        Adding rules can therefore only add labels, never make a rule stop applying.
        """
        snapshot, crossing = self.snapshot, self.crossing
        scale = snapshot.labels
        base = crossing.label if crossing.label is not None else snapshot.default_label
        if base not in scale:
            # Unknown labels (e.g. from a peer's vocabulary) are treated as the most
            # sensitive: nothing that depends on the label can then let too much through.
            self.seen = {base, scale.highest}
            self.add(
                "deny",
                "unknown_label",
                f"label {base!r} is not one of this node's labels ({', '.join(scale.names)})",
            )
            return base
        self.seen = {base}
        raised_by: ContentRule | None = None
        rank = scale.rank(base)
        found = self.found
        pending = [
            (rule, slots, everywhere)
            for rule, slots, everywhere in label_rules
            if rule.mode == "enforce"
            and (not slots or any(found[s] is not _NOTHING for s in slots))
        ]
        changed = True
        while changed and pending:
            changed = False
            for entry in list(pending):
                rule, slots, _ = entry
                if not self.in_scope(rule.scope):
                    continue
                hits = self.hits(rule, slots)
                pending.remove(entry)
                if hits is None:
                    continue
                assert rule.raise_to is not None  # guaranteed by ContentRule
                target = scale.rank(rule.raise_to)
                if target <= scale.rank(base):
                    continue  # a label rule never lowers a label
                self.report_rule(rule, hits, "allow", "label_raised")
                if rule.raise_to not in self.seen:
                    changed = True
                    self.seen.add(rule.raise_to)
                if target > rank:
                    rank, raised_by = target, rule
        label = scale.names[rank]
        for rule, slots, _ in label_rules:
            if rule.mode == "dry_run" and self.in_scope(rule.scope):  # rare: no fast path
                hits = self.hits(rule, slots)
                assert rule.raise_to is not None
                if hits is not None and scale.rank(rule.raise_to) > rank:
                    self.report_rule(rule, hits, "allow", "label_raised")
        self.check_clearance(label, base, raised_by)
        return label

    def check_clearance(self, label: str, base: str, raised_by: ContentRule | None) -> None:
        terms, crossing = self.terms, self.crossing
        if terms is None:
            return
        labels = self.snapshot.labels
        if labels.rank(label) <= labels.rank(terms.max_label):
            return
        accepts = (
            f"the highest label {crossing.peer} accepts"
            if crossing.direction == "outbound"
            else f"the highest label accepted from {crossing.peer}"
        )
        raised = f" (raised from {base} by rule '{raised_by.id}')" if raised_by else ""
        self.add(
            "deny",
            "label_above_clearance",
            f"label {label}{raised} is above {terms.max_label}, {accepts}",
            rule_id=raised_by.id if raised_by else None,
        )

    # --- content rules ---------------------------------------------------------------

    def in_scope(self, scope: Scope) -> bool:
        crossing = self.crossing
        if scope.labels and scope.labels.isdisjoint(self.seen):
            return False
        if not scope.covers_peer(crossing.peer_pattern_set):
            return False
        if scope.author_groups and scope.author_groups.isdisjoint(crossing.author_groups):
            return False
        return not scope.recipient_groups or any(
            not scope.recipient_groups.isdisjoint(r.groups) for r in crossing.recipients
        )

    def prefilter(self) -> list[int]:
        """Prepare the fields for scanning; return the matcher slots that may match.

        Every matcher of the direction is asked once, about all fields joined together;
        afterwards ``found[slot]`` is :data:`_NOTHING` for those that cannot match.
        """
        index = self.snapshot._index
        direction = self.crossing.direction
        keyword_probes = index.keyword_probes[direction]
        other_slots = index.other_slots[direction]
        if not keyword_probes and not other_slots:
            return []
        found = self.found
        scans = self.scans = [(name, ScanText(text)) for name, text in self.fields.items()]
        if not scans:
            found[:] = [_NOTHING] * len(found)
            return []
        self.truncated.update(name for name, scan in scans if scan.truncated)
        joined = ScanText.joined([scan for _, scan in scans])
        passed = []
        words = joined.words if keyword_probes else None
        if words is not None:
            for slot, _, word_probes in keyword_probes:
                for word in word_probes:
                    if not word or word in words:
                        passed.append(slot)
                        break
                else:
                    found[slot] = _NOTHING
        elif keyword_probes:
            folded = joined.folded
            for slot, probes, _ in keyword_probes:
                for probe in probes:
                    if probe in folded:
                        passed.append(slot)
                        break
                else:
                    found[slot] = _NOTHING
        matchers = self.matchers
        for slot in other_slots:
            if matchers[slot].may_match(joined):
                passed.append(slot)
            else:
                found[slot] = _NOTHING
        return passed

    def find(self, slot: int) -> Mapping[str, tuple[Span, ...]]:
        """Run one matcher over every field that crosses (once per evaluation)."""
        found = self.found[slot]
        if found is not None:
            return found
        matcher = self.matchers[slot]
        result = {}
        for name, scan in self.scans:
            spans = matcher.find(scan)
            if spans:
                result[name] = spans
        self.found[slot] = result
        return result

    def hits(self, rule: ContentRule, slots: tuple[int, ...]) -> _Hits | None:
        """The rule's matches per field, ``{}`` for a rule without matchers, None for no match."""
        if not slots:
            return {}
        results = [self.find(slot) for slot in slots]
        if not any(results):
            return None
        hits: _Hits = {}
        for slot, found in zip(slots, results, strict=True):
            matcher = self.matchers[slot]
            for name, spans in found.items():
                hits.setdefault(name, []).extend((matcher, span) for span in spans)
        for field_hits in hits.values():
            field_hits.sort(key=lambda hit: hit[1].start)
        return hits

    def apply_content_rule(self, rule: ContentRule, slots: tuple[int, ...]) -> None:
        """Act on a rule in scope (the caller checked) whose matchers may have matched."""
        hits = self.hits(rule, slots)
        if hits is None:
            return
        effect, code = _ACTION_EFFECT[rule.action]
        self.report_rule(rule, hits, effect, code)
        if rule.action == "redact" and rule.mode == "enforce":
            for name, field_hits in hits.items():
                self.redactions.setdefault(name, []).extend(span for _, span in field_hits)

    def report_rule(self, rule: ContentRule, hits: _Hits, effect: Outcome, code: str) -> None:
        dry_run = rule.mode == "dry_run"
        verdict = None
        if rule.action == "label":
            verdict = self.label_verdict(rule, dry_run)
        if not hits:
            body = f"rule '{rule.id}' matched {self.scope_text(rule.scope)}"
            self.add(effect, code, body, rule_id=rule.id, dry_run=dry_run, verdict=verdict)
            return
        for name, field_hits in hits.items():
            matcher, span = field_hits[0]
            masked = matcher.mask(self.fields[name][span.start : span.end])
            more = len(field_hits) - 1
            extra = f" and {more} more match{'es' if more > 1 else ''}" if more else ""
            body = f"rule '{rule.id}' matched {matcher.describe(masked)}{extra} in {name}"
            self.add(effect, code, body, rule.id, name, masked, dry_run, verdict)

    def label_verdict(self, rule: ContentRule, dry_run: bool) -> str:
        assert rule.raise_to is not None  # guaranteed by ContentRule
        peer = self.crossing.peer
        if not dry_run:
            return f"label raised to {rule.raise_to} for {peer}"
        verdict = f"dry run: label would have been raised to {rule.raise_to} for {peer}"
        terms, scale = self.terms, self.snapshot.labels
        if terms is not None and scale.rank(rule.raise_to) > scale.rank(terms.max_label):
            verdict += f", above {terms.max_label}, so it would not have crossed"
        return verdict

    def matched_labels(self, scope: Scope) -> str:
        labels = self.snapshot.labels
        return ", ".join(sorted(scope.labels & self.seen, key=labels.rank))

    def scope_text(self, scope: Scope) -> str:
        """What a rule without matchers matched, e.g. ``label confidential``."""
        crossing = self.crossing
        parts = []
        if scope.labels:
            parts.append(f"label {self.matched_labels(scope)}")
        if scope.author_groups:
            groups = scope.author_groups & crossing.author_groups
            parts.append(f"author group {', '.join(sorted(groups))}")
        if scope.recipient_groups:
            groups = scope.recipient_groups.intersection(
                {g for r in crossing.recipients for g in r.groups}
            )
            parts.append(f"recipient group {', '.join(sorted(groups))}")
        if scope.peers_mode == "only":
            parts.append(f"peer {crossing.peer}")
        return " and ".join(parts) if parts else f"all {kind_text(crossing.kind)}"

    def redacted_fields(self) -> dict[str, str]:
        """The fields that cross, matched spans replaced by :data:`REDACTION`."""
        result = dict(self.fields)
        for name, spans in self.redactions.items():
            merged: list[list[int]] = []
            for span in sorted(spans, key=lambda s: s.start):
                if merged and span.start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], span.end)
                else:
                    merged.append([span.start, span.end])
            text = result[name]
            pieces = []
            position = 0
            for start, end in merged:
                pieces += [text[position:start], REDACTION]
                position = end
            pieces.append(text[position:])
            result[name] = "".join(pieces)
        return result

    # --- group rules -----------------------------------------------------------------

    def apply_group_rule(self, rule: GroupRule) -> None:
        """Apply a group rule of the crossing's direction and kind."""
        crossing = self.crossing
        scope = rule.scope
        # A deny rule's groups are conditions; an allow_only rule's are checked below.
        if rule.effect == "deny":
            applies = self.in_scope(scope)
        else:
            applies = scope.covers_peer(crossing.peer_pattern_set) and not (
                scope.labels and scope.labels.isdisjoint(self.seen)
            )
        if not applies:
            return
        dry_run = rule.mode == "dry_run"
        kinds = kind_text(crossing.kind)
        if rule.effect == "deny":
            conditions = []
            if scope.author_groups:
                groups = scope.author_groups & crossing.author_groups
                conditions.append(f"by members of {', '.join(sorted(groups))}")
            if scope.recipient_groups:
                groups = scope.recipient_groups.intersection(
                    {g for r in crossing.recipients for g in r.groups}
                )
                conditions.append(f"to members of {', '.join(sorted(groups))}")
            if scope.labels:
                conditions.append(f"labelled {self.matched_labels(scope)}")
            body = " ".join([f"rule '{rule.id}' forbids {kinds}", *conditions])
            self.add("deny", "group_denied", body, rule_id=rule.id, dry_run=dry_run)
            return
        if scope.author_groups and scope.author_groups.isdisjoint(crossing.author_groups):
            who = crossing.author or "the author"
            self.add(
                "deny",
                "group_not_permitted",
                f"rule '{rule.id}' allows {kinds} only by members of "
                f"{', '.join(sorted(scope.author_groups))}, and {who} is not one",
                rule_id=rule.id,
                dry_run=dry_run,
            )
        if scope.recipient_groups:
            allowed = ", ".join(sorted(scope.recipient_groups))
            outsiders = [
                r.handle for r in crossing.recipients if scope.recipient_groups.isdisjoint(r.groups)
            ]
            if not crossing.recipients:
                problem = "no recipient is known"
            elif outsiders:
                problem = f"{', '.join(outsiders)} {'is' if len(outsiders) == 1 else 'are'} not"
            else:
                return
            self.add(
                "deny",
                "group_not_permitted",
                f"rule '{rule.id}' allows {kinds} only to members of {allowed}, and {problem}"
                + (" one" if outsiders else ""),
                rule_id=rule.id,
                dry_run=dry_run,
            )
