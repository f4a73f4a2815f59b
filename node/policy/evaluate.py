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
from node.policy.decision import OUTCOME_RANK, Decision, Outcome, Reason, reason_line
from node.policy.kinds import PROFILE_FIELD_PREFIX, kind_text
from node.policy.matchers import MAX_SCAN_CHARS, Matcher, ScanText, Span
from node.policy.peers import DirectionTerms
from node.policy.rules import ContentRule, GroupRule, Scope
from node.policy.snapshot import IndexedRule, PolicySnapshot
from node.translatable import Text, translatable

REDACTION: Final = "[redacted]"

# Reasons are built from marked templates, never f-strings, so that pages can show them
# in the reader's language (see node.translatable); ``Reason.message`` is the English.
_VERDICT: Final[Mapping[tuple[str, str], str]] = {
    ("outbound", "deny"): translatable("not sent to {peer}"),
    ("outbound", "hold"): translatable("held for review before sending to {peer}"),
    ("outbound", "redact"): translatable("redacted in the copy for {peer}"),
    ("outbound", "allow"): translatable("warning for {peer}"),
    ("inbound", "deny"): translatable("not accepted from {peer}"),
    ("inbound", "hold"): translatable("held for review before accepting from {peer}"),
    ("inbound", "redact"): translatable("redacted in the copy accepted from {peer}"),
    ("inbound", "allow"): translatable("warning for {peer}"),
}
_DRY_VERDICT: Final[Mapping[tuple[str, str], str]] = {
    ("outbound", "deny"): translatable("dry run: would not have been sent to {peer}"),
    ("outbound", "hold"): translatable(
        "dry run: would have been held for review before sending to {peer}"
    ),
    ("outbound", "redact"): translatable(
        "dry run: would have been redacted in the copy for {peer}"
    ),
    ("outbound", "allow"): translatable("dry run: would have warned for {peer}"),
    ("inbound", "deny"): translatable("dry run: would not have been accepted from {peer}"),
    ("inbound", "hold"): translatable(
        "dry run: would have been held for review before accepting from {peer}"
    ),
    ("inbound", "redact"): translatable(
        "dry run: would have been redacted in the copy accepted from {peer}"
    ),
    ("inbound", "allow"): translatable("dry run: would have warned for {peer}"),
}
# Activity kinds as a reason names them (kind_text), and "all <kind>" for scopes.
_KIND_WORDS: Final[Mapping[str, str]] = {
    "posts": translatable("posts"),
    "replies": translatable("replies"),
    "reactions": translatable("reactions"),
    "follows": translatable("follows"),
    "direct_messages": translatable("direct messages"),
    "profile_lookups": translatable("profile lookups"),
}
_ALL_OF_KIND: Final[Mapping[str, str]] = {
    "posts": translatable("all posts"),
    "replies": translatable("all replies"),
    "reactions": translatable("all reactions"),
    "follows": translatable("all follows"),
    "direct_messages": translatable("all direct messages"),
    "profile_lookups": translatable("all profile lookups"),
}
_NOT_IN_TERMS: Final[Mapping[str, str]] = {
    "outbound": translatable("{kinds} are not in the outbound terms with {peer}"),
    "inbound": translatable("{kinds} are not in the inbound terms with {peer}"),
}
_NO_MEDIA: Final[Mapping[str, str]] = {
    "outbound": translatable(
        "media not allowed (the outbound terms with {peer} exclude attachments)"
    ),
    "inbound": translatable(
        "media not allowed (the inbound terms with {peer} exclude attachments)"
    ),
}
_FIELD_WITHHELD: Final[Mapping[str, str]] = {
    "outbound": translatable(
        "profile field {name!r} withheld: not among the profile fields in the outbound terms"
    ),
    "inbound": translatable(
        "profile field {name!r} withheld: not among the profile fields in the inbound terms"
    ),
}
# Keyed by (direction, raised by a rule).
_ABOVE_CLEARANCE: Final[Mapping[tuple[str, bool], str]] = {
    ("outbound", False): translatable(
        "label {label} is above {max_label}, the highest label {peer} accepts"
    ),
    ("outbound", True): translatable(
        "label {label} (raised from {base} by rule '{rule}') is above {max_label}, "
        "the highest label {peer} accepts"
    ),
    ("inbound", False): translatable(
        "label {label} is above {max_label}, the highest label accepted from {peer}"
    ),
    ("inbound", True): translatable(
        "label {label} (raised from {base} by rule '{rule}') is above {max_label}, "
        "the highest label accepted from {peer}"
    ),
}
# Joins of phrases: "label confidential and peer lab.example"; "... forbids posts by ...".
_AND: Final = translatable("{first} and {then}")
_THEN: Final = "{first} {then}"  # nothing to translate
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
        body: Text,
        rule_id: str | None = None,
        field: str | None = None,
        matched: str | None = None,
        dry_run: bool = False,
        verdict: Text | None = None,
    ) -> None:
        if verdict is None:
            table = _DRY_VERDICT if dry_run else _VERDICT
            verdict = Text(table[self.crossing.direction, effect], (("peer", self.crossing.peer),))
        # One namespace for both templates; where a name repeats, its value is the same.
        params = tuple({**dict(verdict.params), **dict(body.params)}.items())
        message = reason_line(verdict.template, body.template, params)
        self.reasons.append(
            Reason(rule_id, code, message, field, matched, dry_run, effect,
                   verdict_template=verdict.template, template=body.template, params=params)
        )  # fmt: skip
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
                Text(
                    translatable(
                        "{field} is longer than {limit} characters, too long to scan completely"
                    ),
                    (("field", name), ("limit", str(MAX_SCAN_CHARS))),
                ),
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
                if agreement.note:
                    body = Text(
                        translatable("{domain} is blocked ({note})"),
                        (("domain", agreement.domain), ("note", agreement.note)),
                    )
                else:
                    body = Text(
                        translatable("{domain} is blocked"), (("domain", agreement.domain),)
                    )
                self.add("deny", "peer_blocked", body)
                return None
        if not agreements:
            if snapshot.federation_mode == "allowlist":
                self.add(
                    "deny",
                    "peer_not_allowlisted",
                    Text(
                        translatable("{peer} is not on this node's allowlist"),
                        (("peer", crossing.peer),),
                    ),
                )
                return None
            return snapshot._index.unlisted[crossing.direction]
        agreement = agreements[0]
        if agreement.status == "pending":
            self.add(
                "deny",
                "peer_pending",
                Text(
                    translatable("the agreement with {domain} is still pending"),
                    (("domain", agreement.domain),),
                ),
            )
        elif agreement.expires is not None and crossing.now >= agreement.expires:
            self.add(
                "deny",
                "agreement_expired",
                Text(
                    translatable("the agreement with {domain} expired on {expires}"),
                    (("domain", agreement.domain), ("expires", agreement.expires.isoformat())),
                ),
            )
        return agreement.terms(crossing.direction)

    def check_terms(self, terms: DirectionTerms) -> None:
        crossing = self.crossing
        if crossing.kind not in terms.kinds:
            self.add(
                "deny",
                "kind_not_allowed",
                Text(
                    _NOT_IN_TERMS[crossing.direction],
                    (("kinds", _kinds(crossing.kind)), ("peer", crossing.peer)),
                ),
            )
        if crossing.has_media and not terms.media:
            self.add(
                "deny",
                "media_not_allowed",
                Text(_NO_MEDIA[crossing.direction], (("peer", crossing.peer),)),
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
                    Text(
                        _FIELD_WITHHELD[crossing.direction],
                        (("name", name[len(PROFILE_FIELD_PREFIX) :]),),
                    ),
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
                Text(
                    translatable("label {label!r} is not one of this node's labels ({labels})"),
                    (("label", base), ("labels", ", ".join(scale.names))),
                ),
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
        params: tuple[tuple[str, str], ...] = (
            ("label", label),
            ("max_label", terms.max_label),
            ("peer", crossing.peer),
        )
        if raised_by:
            params += (("base", base), ("rule", raised_by.id))
        self.add(
            "deny",
            "label_above_clearance",
            Text(_ABOVE_CLEARANCE[crossing.direction, raised_by is not None], params),
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
            body = Text(
                translatable("rule '{rule}' matched {scope}"),
                (("rule", rule.id), ("scope", self.scope_text(rule.scope))),
            )
            self.add(effect, code, body, rule_id=rule.id, dry_run=dry_run, verdict=verdict)
            return
        for name, field_hits in hits.items():
            matcher, span = field_hits[0]
            masked = matcher.mask(self.fields[name][span.start : span.end])
            more = len(field_hits) - 1
            if not more:
                template = translatable("rule '{rule}' matched {what} in {field}")
            elif more == 1:
                template = translatable(
                    "rule '{rule}' matched {what} and {more} more match in {field}"
                )
            else:
                template = translatable(
                    "rule '{rule}' matched {what} and {more} more matches in {field}"
                )
            body = Text(
                template,
                (
                    ("rule", rule.id),
                    ("what", matcher.describe(masked)),
                    ("more", str(more)),
                    ("field", name),
                ),
            )
            self.add(effect, code, body, rule.id, name, masked, dry_run, verdict)

    def label_verdict(self, rule: ContentRule, dry_run: bool) -> Text:
        assert rule.raise_to is not None  # guaranteed by ContentRule
        params: tuple[tuple[str, str], ...] = (
            ("raised_to", rule.raise_to),
            ("peer", self.crossing.peer),
        )
        if not dry_run:
            return Text(translatable("label raised to {raised_to} for {peer}"), params)
        terms, scale = self.terms, self.snapshot.labels
        if terms is not None and scale.rank(rule.raise_to) > scale.rank(terms.max_label):
            return Text(
                translatable(
                    "dry run: label would have been raised to {raised_to} for {peer}, "
                    "above {max_label}, so it would not have crossed"
                ),
                (*params, ("max_label", terms.max_label)),
            )
        return Text(
            translatable("dry run: label would have been raised to {raised_to} for {peer}"), params
        )

    def matched_labels(self, scope: Scope) -> str:
        labels = self.snapshot.labels
        return ", ".join(sorted(scope.labels & self.seen, key=labels.rank))

    def scope_text(self, scope: Scope) -> Text:
        """What a rule without matchers matched, e.g. ``label confidential``."""
        crossing = self.crossing
        parts = []
        if scope.labels:
            parts.append(
                Text(translatable("label {labels}"), (("labels", self.matched_labels(scope)),))
            )
        if scope.author_groups:
            groups = scope.author_groups & crossing.author_groups
            parts.append(
                Text(
                    translatable("author group {groups}"), (("groups", ", ".join(sorted(groups))),)
                )
            )
        if scope.recipient_groups:
            groups = scope.recipient_groups.intersection(
                {g for r in crossing.recipients for g in r.groups}
            )
            parts.append(
                Text(
                    translatable("recipient group {groups}"),
                    (("groups", ", ".join(sorted(groups))),),
                )
            )
        if scope.peers_mode == "only":
            parts.append(Text(translatable("peer {peer}"), (("peer", crossing.peer),)))
        if not parts:
            known = _ALL_OF_KIND.get(crossing.kind)
            return (
                Text(known) if known else Text("all {kinds}", (("kinds", _kinds(crossing.kind)),))
            )
        return _joined(_AND, parts)

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
        kinds = _kinds(crossing.kind)
        if rule.effect == "deny":
            parts = [
                Text(
                    translatable("rule '{rule}' forbids {kinds}"),
                    (("rule", rule.id), ("kinds", kinds)),
                )
            ]
            if scope.author_groups:
                groups = scope.author_groups & crossing.author_groups
                parts.append(
                    Text(
                        translatable("by members of {groups}"),
                        (("groups", ", ".join(sorted(groups))),),
                    )
                )
            if scope.recipient_groups:
                groups = scope.recipient_groups.intersection(
                    {g for r in crossing.recipients for g in r.groups}
                )
                parts.append(
                    Text(
                        translatable("to members of {groups}"),
                        (("groups", ", ".join(sorted(groups))),),
                    )
                )
            if scope.labels:
                parts.append(
                    Text(
                        translatable("labelled {labels}"), (("labels", self.matched_labels(scope)),)
                    )
                )
            body = _joined(_THEN, parts)
            self.add("deny", "group_denied", body, rule_id=rule.id, dry_run=dry_run)
            return
        if scope.author_groups and scope.author_groups.isdisjoint(crossing.author_groups):
            who: str | Text = crossing.author or Text(translatable("the author"))
            self.add(
                "deny",
                "group_not_permitted",
                Text(
                    translatable(
                        "rule '{rule}' allows {kinds} only by members of {groups}, "
                        "and {who} is not one"
                    ),
                    (
                        ("rule", rule.id),
                        ("kinds", kinds),
                        ("groups", ", ".join(sorted(scope.author_groups))),
                        ("who", who),
                    ),
                ),
                rule_id=rule.id,
                dry_run=dry_run,
            )
        if scope.recipient_groups:
            outsiders = [
                r.handle for r in crossing.recipients if scope.recipient_groups.isdisjoint(r.groups)
            ]
            if not crossing.recipients:
                template = translatable(
                    "rule '{rule}' allows {kinds} only to members of {groups}, "
                    "and no recipient is known"
                )
            elif len(outsiders) == 1:
                template = translatable(
                    "rule '{rule}' allows {kinds} only to members of {groups}, "
                    "and {outsiders} is not one"
                )
            elif outsiders:
                template = translatable(
                    "rule '{rule}' allows {kinds} only to members of {groups}, "
                    "and {outsiders} are not one"
                )
            else:
                return
            self.add(
                "deny",
                "group_not_permitted",
                Text(
                    template,
                    (
                        ("rule", rule.id),
                        ("kinds", kinds),
                        ("groups", ", ".join(sorted(scope.recipient_groups))),
                        ("outsiders", ", ".join(outsiders)),
                    ),
                ),
                rule_id=rule.id,
                dry_run=dry_run,
            )


def _kinds(kind: str) -> Text:
    """An activity kind as reasons name it (``direct messages``)."""
    return Text(_KIND_WORDS.get(kind) or kind_text(kind))


def _joined(join: str, parts: list[Text]) -> Text:
    """``parts`` joined left to right with the two-placeholder template ``join``."""
    text = parts[0]
    for part in parts[1:]:
        text = Text(join, (("first", text), ("then", part)))
    return text
