"""The admin's policy editor: form fields to a new policy snapshot and back, as pure functions.

Every change is a new snapshot derived from the one in force with
:func:`dataclasses.replace` and written out with :func:`policy_to_toml`; the admin pages
store that text through ``PolicyStore.apply``, as the TOML form does, so versions, audit
and validation stay one path. Nothing here reads the database or the request.

Form values stay text as the admin typed them (``ContentRuleForm`` and friends), so a
refused form can be shown again as it was submitted. :class:`FormError` names the form
field a problem belongs to.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias, cast

from werkzeug.datastructures import MultiDict

from node.policy import (
    ANY_PROFILE_FIELD,
    DIRECTIONS,
    KINDS,
    PEERS_MODES,
    PROFILE_FIELD_PREFIX,
    ContentRule,
    GroupRule,
    InvalidPolicyError,
    KeywordMatcher,
    LabelScale,
    Matcher,
    PolicySnapshot,
    RegexMatcher,
    Scope,
    policy_to_toml,
)
from node.policy.matchers import DETECTORS
from node.services.policy import profile_field_key
from webui.i18n import gettext as _
from webui.i18n import lazy, service_message

Form: TypeAlias = MultiDict[str, str]
RuleKind: TypeAlias = Literal["content", "group"]
Rule: TypeAlias = ContentRule | GroupRule

RULE_KINDS: Final[tuple[RuleKind, ...]] = ("content", "group")
#: The form fields' names as the pages show them, to say which field a problem is in.
FIELD_NAMES: Final = {
    "id": lazy("Rule id"),
    "description": lazy("Description"),
    "action": lazy("Action"),
    "raise_to": lazy("Raise the label to"),
    "mode": lazy("Mode"),
    "keywords": lazy("Keywords"),
    "patterns": lazy("Regular expressions"),
    "detectors": lazy("Detectors"),
    "directions": lazy("Directions"),
    "peers_mode": lazy("Peers"),
    "peers": lazy("Peer domains"),
    "labels": lazy("Labels"),
    "author_groups": lazy("Author groups"),
    "recipient_groups": lazy("Recipient groups"),
    "effect": lazy("Effect"),
    "kinds": lazy("Kinds of activity"),
    "name": lazy("New label"),
    "position": lazy("Position"),
    "label": lazy("Label"),
    "fields": lazy("Profile fields"),
    "other_fields": lazy("Other profile fields"),
}
# Where the engine's errors point (the last part of their path) -> the form field.
_FIELD_OF_PATH: Final = {"words": "keywords", "pattern": "patterns", "scope": "author_groups"}
_SEPARATORS: Final = re.compile(r"[\s,]+")


class FormError(Exception):
    """A form the policy refuses; ``field`` is the form field at fault (None: the whole form)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        name = FIELD_NAMES.get(field or "")
        super().__init__(
            _("%(where)s: %(problem)s", where=_(name), problem=message) if name else message
        )

    @property
    def text(self) -> str:
        """The message with the field's name, for a summary above the form."""
        return str(self)


class StaleFormError(FormError):
    """The policy changed after the form was opened: the admin should look again."""


@dataclass(frozen=True)
class PolicyEdit:
    """A change to the policy: the new snapshot, what changed, and whether anything did.

    ``summary`` (English, like the services' comments) becomes the version comment when
    the admin gives none; ``message`` tells the admin, in the page's language.
    """

    snapshot: PolicySnapshot
    summary: str
    message: str
    changed: bool = True

    @property
    def source(self) -> str:
        """The new policy file."""
        return policy_to_toml(self.snapshot)


def check_base_version(submitted: str, current: int) -> None:
    """Refuse a form opened on another version than the one now in force."""
    submitted = submitted.strip()
    if submitted and submitted != str(current):
        raise StaleFormError(
            _(
                "The policy changed after this form was opened (version %(version)d is now in "
                "force): check the form and submit it again.",
                version=current,
            )
        )


def _form_error(error: InvalidPolicyError) -> FormError:
    """The engine's error, attached to the form field its path ends in."""
    last = re.sub(r"\[\d+\]", "", (error.path or "").rsplit(".", 1)[-1])
    name = _FIELD_OF_PATH.get(last, last)
    return FormError(service_message(error), name if name in FIELD_NAMES else None)


def _edit(snapshot: PolicySnapshot, summary: str, message: str, **changes: Any) -> PolicyEdit:
    """``snapshot`` with ``changes``, numbered as the next version (its file header says so)."""
    try:
        new = dataclasses.replace(snapshot, version=snapshot.version + 1, **changes)
    except InvalidPolicyError as error:
        raise _form_error(error) from None
    changed = any(getattr(new, name) != getattr(snapshot, name) for name in changes)
    return PolicyEdit(new, summary, message, changed)


def _split(text: str) -> list[str]:
    """Comma- or space-separated values, in order, without repeats."""
    return list(dict.fromkeys(v for v in _SEPARATORS.split(text) if v))


def _joinable(values: Iterable[str]) -> bool:
    """True when :func:`_split` gives ``values`` back from their comma-separated text."""
    return all(_split(value) == [value] for value in values)


def _lines(text: str) -> list[str]:
    """The non-blank lines of a text area, as typed (patterns keep their spaces)."""
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


# ----------------------------------------------------------------- scope


@dataclass(frozen=True)
class ScopeForm:
    """The scope fields shared by content and group rules."""

    directions: tuple[str, ...] = DIRECTIONS
    peers_mode: str = "all"
    peers: str = ""
    labels: tuple[str, ...] = ()
    author_groups: str = ""
    recipient_groups: str = ""

    @classmethod
    def read(cls, form: Form) -> ScopeForm:
        return cls(
            directions=tuple(form.getlist("directions")),
            peers_mode=form.get("peers_mode", "all"),
            peers=form.get("peers", "").strip(),
            labels=tuple(form.getlist("labels")),
            author_groups=form.get("author_groups", "").strip(),
            recipient_groups=form.get("recipient_groups", "").strip(),
        )

    @classmethod
    def of(cls, scope: Scope) -> ScopeForm | None:
        """The form for ``scope``; None when a name has a comma or space the form cannot keep."""
        if not _joinable(scope.peers | scope.author_groups | scope.recipient_groups):
            return None
        return cls(
            directions=tuple(d for d in DIRECTIONS if d in scope.directions),
            peers_mode=scope.peers_mode,
            peers=", ".join(sorted(scope.peers)),
            labels=tuple(sorted(scope.labels)),
            author_groups=", ".join(sorted(scope.author_groups)),
            recipient_groups=", ".join(sorted(scope.recipient_groups)),
        )

    def scope(self) -> Scope:
        if not self.directions:
            raise FormError(_("choose at least one direction"), "directions")
        if self.peers_mode not in PEERS_MODES:
            raise FormError(_("choose which peers the rule applies to"), "peers_mode")
        # The domains are only for "only" and "except"; with "all" they are not asked for.
        peers = _split(self.peers) if self.peers_mode != "all" else []
        if self.peers_mode != "all" and not peers:
            raise FormError(_("list at least one peer domain"), "peers")
        try:
            return Scope(
                directions=cast(Any, frozenset(self.directions)),
                peers_mode=cast(Any, self.peers_mode),
                peers=frozenset(peers),
                labels=frozenset(self.labels),
                author_groups=frozenset(_split(self.author_groups)),
                recipient_groups=frozenset(_split(self.recipient_groups)),
            )
        except InvalidPolicyError as error:
            raise _form_error(error) from None


# ----------------------------------------------------------------- rules


@dataclass(frozen=True)
class ContentRuleForm:
    """A content rule as its form holds it; ``original_id`` is empty for a new rule."""

    original_id: str = ""
    id: str = ""
    description: str = ""
    action: str = "block"
    raise_to: str = ""
    mode: str = "enforce"
    keywords: str = ""
    patterns: str = ""
    ignore_case: bool = False
    detectors: tuple[str, ...] = ()
    scope: ScopeForm = field(default_factory=ScopeForm)

    @classmethod
    def read(cls, form: Form) -> ContentRuleForm:
        return cls(
            original_id=form.get("original_id", ""),
            id=form.get("id", "").strip(),
            description=form.get("description", "").replace("\r\n", "\n"),
            action=form.get("action", ""),
            raise_to=form.get("raise_to", ""),
            mode=form.get("mode", ""),
            keywords=form.get("keywords", "").replace("\r\n", "\n"),
            patterns=form.get("patterns", "").replace("\r\n", "\n"),
            ignore_case=bool(form.get("ignore_case")),
            detectors=tuple(form.getlist("detectors")),
            scope=ScopeForm.read(form),
        )

    @classmethod
    def of(cls, rule: ContentRule) -> ContentRuleForm | None:
        """The form showing ``rule`` exactly, or None when the form cannot.

        The form has one keyword list, one list of patterns sharing one case setting,
        and each detector once; a rule with more (written in the policy file) is edited
        there.
        """
        keywords = [m for m in rule.matchers if isinstance(m, KeywordMatcher)]
        patterns = [m for m in rule.matchers if isinstance(m, RegexMatcher)]
        detectors = [m.type_name for m in rule.matchers if m.type_name in DETECTORS]
        scope = ScopeForm.of(rule.scope)
        if (
            scope is None
            or len(keywords) > 1
            or len({p.ignore_case for p in patterns}) > 1
            or len(set(detectors)) != len(detectors)
            or not all(_fits_a_line(w) for k in keywords for w in k.words)
            or not all(_fits_a_line(p.pattern) for p in patterns)
        ):
            return None
        return cls(
            original_id=rule.id,
            id=rule.id,
            description=rule.description,
            action=rule.action,
            raise_to=rule.raise_to or "",
            mode=rule.mode,
            keywords="\n".join(keywords[0].words) if keywords else "",
            patterns="\n".join(p.pattern for p in patterns),
            ignore_case=bool(patterns) and patterns[0].ignore_case,
            detectors=tuple(d for d in DETECTORS if d in detectors),
            scope=scope,
        )

    def matchers(self) -> list[Matcher]:
        found: list[Matcher] = []
        words = [line.strip() for line in _lines(self.keywords)]
        if words:
            try:
                found.append(KeywordMatcher(tuple(words)))
            except InvalidPolicyError as error:
                raise FormError(service_message(error), "keywords") from None
        for number, pattern in enumerate(_lines(self.patterns), start=1):
            try:
                found.append(RegexMatcher(pattern, self.ignore_case))
            except InvalidPolicyError as error:
                raise FormError(
                    _("line %(line)d: %(problem)s", line=number, problem=service_message(error)),
                    "patterns",
                ) from None
        for name in self.detectors:
            if name not in DETECTORS:
                raise FormError(_("unknown detector %(name)s", name=name), "detectors")
        found += [DETECTORS[name]() for name in DETECTORS if name in self.detectors]
        return found

    def rule(self, original: ContentRule | None = None) -> ContentRule:
        """The rule the form describes; an edited rule keeps the order of its matchers."""
        matchers = self.matchers()
        if original is not None:
            matchers = _ordered_like(original.matchers, matchers)
        scope = self.scope.scope()
        try:
            return ContentRule(
                id=self.id,
                description=self.description,
                action=cast(Any, self.action),
                # The label to raise to only counts for the "label" action.
                raise_to=(self.raise_to or None) if self.action == "label" else None,
                mode=cast(Any, self.mode),
                matchers=tuple(matchers),
                scope=scope,
            )
        except InvalidPolicyError as error:
            raise _form_error(error) from None


def _fits_a_line(text: str) -> bool:
    """True when ``text`` survives being one line of a text area."""
    return bool(text.strip()) and "\n" not in text and "\r" not in text


def _ordered_like(original: tuple[Matcher, ...], new: list[Matcher]) -> list[Matcher]:
    """``new`` with unchanged matchers where they were, changed ones where their type was."""

    def rank(item: tuple[int, Matcher]) -> tuple[int, int, int]:
        position, matcher = item
        if matcher in original:
            return original.index(matcher), 0, position
        same_type = [i for i, m in enumerate(original) if m.type_name == matcher.type_name]
        return same_type[0] if same_type else len(original), 1, position

    return [m for _, m in sorted(enumerate(new), key=rank)]


@dataclass(frozen=True)
class GroupRuleForm:
    """A group rule as its form holds it; ``original_id`` is empty for a new rule."""

    original_id: str = ""
    id: str = ""
    description: str = ""
    effect: str = "deny"
    kinds: tuple[str, ...] = KINDS
    mode: str = "enforce"
    scope: ScopeForm = field(default_factory=ScopeForm)

    @classmethod
    def read(cls, form: Form) -> GroupRuleForm:
        return cls(
            original_id=form.get("original_id", ""),
            id=form.get("id", "").strip(),
            description=form.get("description", "").replace("\r\n", "\n"),
            effect=form.get("effect", ""),
            kinds=tuple(form.getlist("kinds")),
            mode=form.get("mode", ""),
            scope=ScopeForm.read(form),
        )

    @classmethod
    def of(cls, rule: GroupRule) -> GroupRuleForm | None:
        scope = ScopeForm.of(rule.scope)
        if scope is None:
            return None
        return cls(
            original_id=rule.id,
            id=rule.id,
            description=rule.description,
            effect=rule.effect,
            kinds=tuple(k for k in KINDS if k in rule.kinds),
            mode=rule.mode,
            scope=scope,
        )

    def rule(self, original: GroupRule | None = None) -> GroupRule:
        scope = self.scope.scope()
        try:
            return GroupRule(
                id=self.id,
                description=self.description,
                effect=cast(Any, self.effect),
                kinds=cast(Any, frozenset(self.kinds)),
                mode=cast(Any, self.mode),
                scope=scope,
            )
        except InvalidPolicyError as error:
            raise _form_error(error) from None


RuleForm: TypeAlias = ContentRuleForm | GroupRuleForm


def read_rule_form(kind: RuleKind, form: Form) -> RuleForm:
    return ContentRuleForm.read(form) if kind == "content" else GroupRuleForm.read(form)


def new_rule_form(kind: RuleKind) -> RuleForm:
    return ContentRuleForm() if kind == "content" else GroupRuleForm()


def rules_of(snapshot: PolicySnapshot, kind: RuleKind) -> tuple[Rule, ...]:
    return snapshot.content_rules if kind == "content" else snapshot.group_rules


def find_rule(snapshot: PolicySnapshot, kind: RuleKind, rule_id: str) -> Rule | None:
    return next((r for r in rules_of(snapshot, kind) if r.id == rule_id), None)


def form_of(rule: Rule) -> RuleForm | None:
    """The form showing ``rule``, or None when only the policy file can express it."""
    return ContentRuleForm.of(rule) if isinstance(rule, ContentRule) else GroupRuleForm.of(rule)


def _position(rules: tuple[Rule, ...], rule_id: str) -> int:
    for position, rule in enumerate(rules):
        if rule.id == rule_id:
            return position
    raise FormError(_("There is no rule %(id)s (any more).", id=rule_id))


def _with_rules(
    snapshot: PolicySnapshot, kind: RuleKind, rules: list[Rule], summary: str, message: str
) -> PolicyEdit:
    table = "content_rules" if kind == "content" else "group_rules"
    return _edit(snapshot, summary, message, **{table: tuple(rules)})


def save_rule(snapshot: PolicySnapshot, values: RuleForm) -> PolicyEdit:
    """Add the rule of the form at the end, or replace the rule it was opened on in place."""
    kind: RuleKind = "content" if isinstance(values, ContentRuleForm) else "group"
    rules = list(rules_of(snapshot, kind))
    what = "content rule" if kind == "content" else "group rule"
    if values.original_id:
        position = _position(tuple(rules), values.original_id)
        original = rules[position]
        rule = (
            values.rule(cast(ContentRule, original))
            if isinstance(values, ContentRuleForm)
            else values.rule(cast(GroupRule, original))
        )
        rules[position] = rule
        renamed = f" (was {values.original_id!r})" if rule.id != values.original_id else ""
        summary = f"{what} {rule.id!r} changed{renamed}"
    else:
        rule = values.rule()
        rules.append(rule)
        summary = f"{what} {rule.id!r} added"
    return _with_rules(snapshot, kind, rules, summary, _("Rule %(id)s saved.", id=rule.id))


def delete_rule(snapshot: PolicySnapshot, kind: RuleKind, rule_id: str) -> PolicyEdit:
    rules = list(rules_of(snapshot, kind))
    del rules[_position(tuple(rules), rule_id)]
    what = "content rule" if kind == "content" else "group rule"
    return _with_rules(
        snapshot, kind, rules, f"{what} {rule_id!r} deleted", _("Rule %(id)s deleted.", id=rule_id)
    )


def move_rule(snapshot: PolicySnapshot, kind: RuleKind, rule_id: str, offset: int) -> PolicyEdit:
    """Move a rule ``offset`` places (negative: earlier); at either end it stays."""
    rules = list(rules_of(snapshot, kind))
    position = _position(tuple(rules), rule_id)
    target = max(0, min(len(rules) - 1, position + offset))
    rules.insert(target, rules.pop(position))
    what = "content rule" if kind == "content" else "group rule"
    way = "up" if offset < 0 else "down"
    return _with_rules(
        snapshot,
        kind,
        rules,
        f"{what} {rule_id!r} moved {way} to position {target + 1}",
        _("Rule %(id)s moved to position %(position)d.", id=rule_id, position=target + 1),
    )


# ----------------------------------------------------------------- labels


def label_uses(snapshot: PolicySnapshot, label: str) -> list[str]:
    """Where the policy refers to ``label``, in words (empty: the label can go)."""
    uses = []
    if snapshot.default_label == label:
        uses.append(_("the default label"))
    for agreement in snapshot.peers.values():
        if agreement.outbound.max_label == label:
            uses.append(_("the outbound terms of %(peer)s", peer=agreement.domain))
        if agreement.inbound.max_label == label:
            uses.append(_("the inbound terms of %(peer)s", peer=agreement.domain))
    if snapshot.unlisted_outbound and snapshot.unlisted_outbound.max_label == label:
        uses.append(_("the outbound terms of peers without an agreement"))
    if snapshot.unlisted_inbound and snapshot.unlisted_inbound.max_label == label:
        uses.append(_("the inbound terms of peers without an agreement"))
    for rule in snapshot.content_rules:
        if rule.raise_to == label or label in rule.scope.labels:
            uses.append(_("content rule %(id)s", id=rule.id))
    for group_rule in snapshot.group_rules:
        if label in group_rule.scope.labels:
            uses.append(_("group rule %(id)s", id=group_rule.id))
    return uses


def _scale(names: Iterable[str], field_name: str) -> LabelScale:
    try:
        return LabelScale(tuple(names))
    except InvalidPolicyError as error:
        raise FormError(service_message(error), field_name) from None


def add_label(snapshot: PolicySnapshot, name: str, position: str) -> PolicyEdit:
    """Insert ``name`` on the scale before the label now at ``position`` (0: lowest)."""
    name = name.strip()
    names = list(snapshot.labels.names)
    if not name:
        raise FormError(_("give the new label a name"), "name")
    if name in names:
        raise FormError(_("there is already a label %(label)s", label=name), "name")
    if not position.strip().isdigit() or int(position) > len(names):
        raise FormError(_("choose a position on the scale"), "position")
    names.insert(int(position), name)
    return _edit(
        snapshot,
        f"label {name!r} added at position {int(position) + 1}",
        _("Label %(label)s added.", label=name),
        labels=_scale(names, "name"),
    )


def remove_label(snapshot: PolicySnapshot, name: str) -> PolicyEdit:
    """Take ``name`` off the scale; refused while the policy still refers to it."""
    if name not in snapshot.labels:
        raise FormError(_("there is no label %(label)s", label=name), "label")
    uses = label_uses(snapshot, name)
    if uses:
        raise FormError(
            _(
                "%(label)s is still used by %(uses)s: change those first.",
                label=name,
                uses="; ".join(uses),
            ),
            "label",
        )
    names = [n for n in snapshot.labels.names if n != name]
    return _edit(
        snapshot,
        f"label {name!r} removed",
        _("Label %(label)s removed.", label=name),
        labels=_scale(names, "label"),
    )


def set_default_label(snapshot: PolicySnapshot, name: str) -> PolicyEdit:
    if name not in snapshot.labels:
        raise FormError(_("there is no label %(label)s", label=name), "label")
    return _edit(
        snapshot,
        f"default label set to {name!r}",
        _("The default label is now %(label)s.", label=name),
        default_label=name,
    )


# ----------------------------------------------------------------- profile fields


def field_key(name: str) -> str:
    """A profile field as the policy names it: ``Job title`` (or ``profile.job_title``) ->
    ``job_title``; ``*`` stays ``*``."""
    name = name.strip()
    if name == ANY_PROFILE_FIELD:
        return name
    if name.lower().startswith(PROFILE_FIELD_PREFIX):
        name = name[len(PROFILE_FIELD_PREFIX) :]
    return profile_field_key(name)[len(PROFILE_FIELD_PREFIX) :]


@dataclass(frozen=True)
class FieldChoice:
    """A profile field people on the node have: its policy key and the names they gave it."""

    key: str
    names: tuple[str, ...]


def profile_field_choices(names: Iterable[str]) -> tuple[FieldChoice, ...]:
    """The fields named by local accounts, plus ``email`` (every account's address), by key."""
    found: dict[str, list[str]] = {"email": []}
    for name in names:
        key = field_key(name)
        if key and key != ANY_PROFILE_FIELD:
            spellings = found.setdefault(key, [])
            if name.strip() not in spellings and name.strip() != key:
                spellings.append(name.strip())
    return tuple(FieldChoice(key, tuple(found[key])) for key in sorted(found))


@dataclass(frozen=True)
class ProfileFieldsForm:
    """Which profile fields of local people one peer may see (its outbound terms)."""

    domain: str
    fields: tuple[str, ...] = ()
    other_fields: str = ""

    @property
    def all_fields(self) -> bool:
        return ANY_PROFILE_FIELD in self.fields

    @classmethod
    def read(cls, form: Form) -> ProfileFieldsForm:
        return cls(
            domain=form.get("domain", "").strip(),
            fields=tuple(form.getlist("fields")),
            other_fields=form.get("other_fields", "").strip(),
        )

    @classmethod
    def of(
        cls, domain: str, shown: frozenset[str], choices: Iterable[FieldChoice]
    ) -> ProfileFieldsForm:
        keys = {c.key for c in choices} | {ANY_PROFILE_FIELD}
        return cls(
            domain=domain,
            fields=tuple(sorted(shown & keys)),
            other_fields=", ".join(sorted(shown - keys)),
        )

    def keys(self) -> frozenset[str]:
        if self.all_fields:
            return frozenset({ANY_PROFILE_FIELD})
        # Names as people write them may hold spaces: only commas separate them.
        typed = [n for n in self.other_fields.split(",") if n.strip()]
        keys = set()
        for name in [*self.fields, *typed]:
            key = field_key(name)
            if not key:
                raise FormError(
                    _("%(name)s is not a profile field name", name=name), "other_fields"
                )
            keys.add(key)
        return frozenset(keys)


def set_profile_fields(snapshot: PolicySnapshot, values: ProfileFieldsForm) -> PolicyEdit:
    """Set the profile fields the peer of ``values`` may see of local people."""
    agreement = snapshot.peers.get(values.domain.lower())
    if agreement is None:
        raise FormError(_("There is no agreement with %(domain)s.", domain=values.domain))
    keys = values.keys()
    try:
        outbound = dataclasses.replace(agreement.outbound, profile_fields=keys)
        changed = dataclasses.replace(agreement, outbound=outbound)
    except InvalidPolicyError as error:
        raise _form_error(error) from None
    peers = {**snapshot.peers, agreement.domain: changed}
    shown = ", ".join(sorted(keys)) or "none"
    return _edit(
        snapshot,
        f"profile fields shown to {agreement.domain}: {shown}",
        _("Profile fields for %(domain)s saved.", domain=agreement.domain),
        peers=peers,
    )


# ----------------------------------------------------------------- the page


@dataclass(frozen=True)
class EditorView:
    """What the policy page shows besides the snapshot itself."""

    label_uses: Mapping[str, list[str]]
    #: Ids of the content and group rules the forms can edit.
    editable: frozenset[tuple[RuleKind, str]]
    field_choices: tuple[FieldChoice, ...]
    field_forms: Mapping[str, ProfileFieldsForm]


def editor_view(snapshot: PolicySnapshot, profile_field_names: Iterable[str]) -> EditorView:
    choices = profile_field_choices(profile_field_names)
    editable = {
        (kind, rule.id)
        for kind in RULE_KINDS
        for rule in rules_of(snapshot, kind)
        if form_of(rule) is not None
    }
    return EditorView(
        label_uses={label: label_uses(snapshot, label) for label in snapshot.labels},
        editable=frozenset(editable),
        field_choices=choices,
        field_forms={
            domain: ProfileFieldsForm.of(domain, agreement.outbound.profile_fields, choices)
            for domain, agreement in snapshot.peers.items()
        },
    )
