"""The policy file: a node's boundary policy as TOML, read with ``tomllib``.

Layout (every key except those marked *required* may be omitted)::

    federation_mode = "allowlist"              # allowlist | blocklist | open
    labels = ["public", "internal", "confidential", "restricted"]   # lowest first
    default_label = "internal"                 # label of crossings that carry none

    [unlisted]                                 # peers without an agreement (blocklist/open)
    outbound = { kinds = ["posts"], max_label = "public", media = true, profile_fields = [] }
    inbound = { max_label = "internal" }

    [[peers]]
    domain = "sales.example"                   # required; "*.corp.example" = every subdomain
    status = "allowed"                         # required: allowed | blocked | pending
    note = "Intra-group agreement 2026-03"
    expires = 2027-03-31T00:00:00Z             # optional, with a time zone offset
    inbound = { max_label = "confidential" }   # an inline table (on one line), or:
    [peers.outbound]                           # a sub-table of this peer
    kinds = ["posts", "replies", "reactions", "follows", "direct_messages", "profile_lookups"]
    max_label = "internal"
    media = true
    profile_fields = ["title", "department"]   # "profile.title" etc.; ["*"] = all

    [[content_rules]]
    id = "redact-card-numbers"                 # required, unique across all rules
    description = "Payment card numbers never leave the node"
    matchers = [{ type = "card_number" }]      # keyword (words = [...]), regex (pattern =
                                               # '...', ignore_case = false), card_number,
                                               # iban, email, phone
    action = "redact"                          # required: block | redact | hold | warn | label
    raise_to = "confidential"                  # required for action = "label", else absent
    mode = "enforce"                           # enforce | dry_run
    scope = { directions = ["outbound"], peers = "all" }

    [[group_rules]]
    id = "legal-stays-home"                    # required
    description = "Posts by members of Legal never leave the node"
    effect = "deny"                            # required: deny | allow_only
    kinds = ["posts", "replies"]
    mode = "enforce"
    scope = { directions = ["outbound"], author_groups = ["legal"] }

Defaults: ``federation_mode`` allowlist; ``labels`` public < internal < confidential <
restricted; ``default_label`` internal (the lowest label when the scale has no
"internal"); no peers and no rules. Direction terms (``outbound``/``inbound`` of a peer
or of ``[unlisted]``): every kind, ``max_label`` the lowest label, media allowed,
``profile_fields`` none outbound and all (``["*"]``) inbound. Rules: empty
``description``, no ``matchers`` (the rule then matches everything in scope), ``mode``
enforce, group rule ``kinds`` all. Scope: both directions, ``peers = "all"`` (or
``{ only = [...] }`` / ``{ except = [...] }``), no group or label conditions.

Unknown keys are errors: a misspelt key in a security policy must not be ignored.
Errors name the table path (``content_rules[2].action``) and the line, found by looking
for the element's ``id``/``domain`` and then the key inside it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Final, TypeVar, cast

from node.policy.errors import InvalidPolicyError, PolicyFileError
from node.policy.kinds import (
    ALL_DIRECTIONS,
    ALL_KINDS,
    ANY_PROFILE_FIELD,
    DIRECTIONS,
    KINDS,
    Direction,
    FederationMode,
    Kind,
    PeerStatus,
    RuleMode,
)
from node.policy.labels import DEFAULT_LABELS, LabelScale
from node.policy.matchers import (
    DETECTORS,
    MATCHER_TYPES,
    KeywordMatcher,
    Matcher,
    RegexMatcher,
)
from node.policy.peers import DirectionTerms, PeerAgreement
from node.policy.rules import ContentAction, ContentRule, GroupEffect, GroupRule, PeersMode, Scope
from node.policy.snapshot import PolicySnapshot
from node.translatable import translatable

T = TypeVar("T")
_MISSING: Final = object()
# What a key of the wrong type should have held: a whole sentence per type, for translations.
_EXPECTED: Final[dict[type, str]] = {
    str: translatable("expected text, got {value!r}"),
    bool: translatable("expected true or false, got {value!r}"),
    list: translatable("expected a list, got {value!r}"),
    dict: translatable("expected a table, got {value!r}"),
    datetime: translatable("expected a date-time, got {value!r}"),
}


def parse_policy_file(text: str, version: int) -> PolicySnapshot:
    """Read a policy file into a validated snapshot.

    Raises :class:`PolicyFileError` naming the problem, the table path
    (``content_rules[2].action``) and, where it can be found, the line.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"at line (\d+)", str(error))
        # tomllib's own explanation stays as it is (English): a parameter, not translated.
        raise PolicyFileError(
            translatable("not valid TOML: {error}"),
            int(found.group(1)) if found else None,
            error=str(error),
        ) from None
    try:
        return _read_snapshot(_Table(data, ""), version)
    except InvalidPolicyError as error:
        line = _locate(text, data, error.path) if error.path else None
        raise PolicyFileError.of(error, line) from None


# --- reading -----------------------------------------------------------------------


class _Table:
    """A TOML table being read: typed getters that name the path, and unknown-key checks."""

    def __init__(self, data: Mapping[str, object], path: str) -> None:
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type[T], default: object = _MISSING) -> T:
        self.used.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise InvalidPolicyError(translatable("required key is missing"), self.at(key))
            return cast(T, default)
        value = self.data[key]
        # bool is an int in Python; TOML keeps them apart and so do we.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise InvalidPolicyError(_EXPECTED[kind], self.at(key), value=value)
        return value

    def texts(self, key: str, default: Iterable[str] = ()) -> frozenset[str]:
        return frozenset(self.text_list(key, default))

    def text_list(self, key: str, default: Iterable[str] = ()) -> list[str]:
        values = self.get(key, list, list(default))
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidPolicyError(_EXPECTED[str], f"{self.at(key)}[{index}]", value=value)
        return cast(list[str], values)

    def table(self, key: str) -> _Table | None:
        value = self.get(key, dict, None)
        return None if value is None else _Table(value, self.at(key))

    def tables(self, key: str) -> list[_Table]:
        values = self.get(key, list, [])
        tables = []
        for index, value in enumerate(values):
            path = f"{self.at(key)}[{index}]"
            if not isinstance(value, dict):
                raise InvalidPolicyError(_EXPECTED[dict], path, value=value)
            tables.append(_Table(value, path))
        return tables

    def done(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise InvalidPolicyError(translatable("unknown key"), self.at(key))


def _build(path: str, make: Callable[[], T]) -> T:
    """Construct a policy part, locating its own validation errors under ``path``.

    Read every value before calling this: errors of the getters already carry full paths.
    """
    try:
        return make()
    except InvalidPolicyError as error:
        raise error.under(path) from None


def _read_snapshot(top: _Table, version: int) -> PolicySnapshot:
    mode = top.get("federation_mode", str, "allowlist")
    names = tuple(top.text_list("labels", DEFAULT_LABELS))
    labels = _build("", lambda: LabelScale(names))
    default_label = top.get(
        "default_label", str, "internal" if "internal" in labels else labels.lowest
    )
    unlisted = top.table("unlisted")
    terms: dict[str, DirectionTerms | None] = {"outbound": None, "inbound": None}
    if unlisted is not None:
        for direction in DIRECTIONS:
            terms[direction] = _read_terms(unlisted, direction, labels)
        unlisted.done()
    peers: dict[str, PeerAgreement] = {}
    for table in top.tables("peers"):
        agreement = _read_peer(table, labels)
        if agreement.domain in peers:
            raise InvalidPolicyError(
                translatable("duplicate peer {domain!r}"),
                table.at("domain"),
                domain=agreement.domain,
            )
        peers[agreement.domain] = agreement
    content_rules = tuple(_read_content_rule(t) for t in top.tables("content_rules"))
    group_rules = tuple(_read_group_rule(t) for t in top.tables("group_rules"))
    top.done()
    return PolicySnapshot(
        version=version,
        federation_mode=cast(FederationMode, mode),  # validated by PolicySnapshot
        labels=labels,
        default_label=default_label,
        peers=peers,
        content_rules=content_rules,
        group_rules=group_rules,
        unlisted_outbound=terms["outbound"],
        unlisted_inbound=terms["inbound"],
    )


def _read_terms(parent: _Table, direction: str, labels: LabelScale) -> DirectionTerms:
    """``parent.outbound`` or ``parent.inbound``, with the documented defaults."""
    default_fields = [] if direction == "outbound" else [ANY_PROFILE_FIELD]
    table = parent.table(direction)
    if table is None:
        return DirectionTerms(
            kinds=ALL_KINDS,
            max_label=labels.lowest,
            media=True,
            profile_fields=frozenset(default_fields),
        )
    max_label = labels.check(table.get("max_label", str, labels.lowest), table.at("max_label"))
    kinds = table.texts("kinds", KINDS)
    media = table.get("media", bool, True)
    profile_fields = table.texts("profile_fields", default_fields)
    table.done()
    return _build(
        table.path,
        lambda: DirectionTerms(
            kinds=cast(frozenset[Kind], kinds),
            max_label=max_label,
            media=media,
            profile_fields=profile_fields,
        ),
    )


def _read_peer(table: _Table, labels: LabelScale) -> PeerAgreement:
    domain = table.get("domain", str)
    status = table.get("status", str)
    note = table.get("note", str, "")
    expires = table.get("expires", datetime, None)
    outbound = _read_terms(table, "outbound", labels)
    inbound = _read_terms(table, "inbound", labels)
    table.done()
    return _build(
        table.path,
        lambda: PeerAgreement(domain, cast(PeerStatus, status), outbound, inbound, note, expires),
    )


def _read_matcher(table: _Table) -> Matcher:
    kind = table.get("type", str)
    matcher: Matcher
    if kind == "keyword":
        words = tuple(table.text_list("words"))
        table.done()
        matcher = _build(table.path, lambda: KeywordMatcher(words))
    elif kind == "regex":
        pattern = table.get("pattern", str)
        ignore_case = table.get("ignore_case", bool, False)
        table.done()
        matcher = _build(table.path, lambda: RegexMatcher(pattern, ignore_case))
    elif kind in DETECTORS:
        table.done()
        matcher = DETECTORS[kind]()
    else:
        raise InvalidPolicyError(
            translatable("unknown matcher type {value!r} (expected one of {choices})"),
            table.at("type"),
            value=kind,
            choices=", ".join(MATCHER_TYPES),
        )
    return matcher


def _read_scope(parent: _Table) -> Scope:
    table = parent.table("scope")
    if table is None:
        return Scope()
    table.used.add("peers")
    peers = table.data.get("peers", "all")
    if peers == "all":
        mode, listed = "all", frozenset[str]()
    elif isinstance(peers, dict) and len(peers) == 1 and next(iter(peers)) in ("only", "except"):
        mode = next(iter(peers))
        listed = _Table(peers, table.at("peers")).texts(mode)
    else:
        raise InvalidPolicyError(
            translatable('expected "all", { only = [...] } or { except = [...] }'),
            table.at("peers"),
        )
    directions = table.texts("directions", ALL_DIRECTIONS)
    author_groups = table.texts("author_groups")
    recipient_groups = table.texts("recipient_groups")
    scope_labels = table.texts("labels")
    table.done()
    return _build(
        table.path,
        lambda: Scope(
            directions=cast(frozenset[Direction], directions),
            peers_mode=cast(PeersMode, mode),
            peers=listed,
            author_groups=author_groups,
            recipient_groups=recipient_groups,
            labels=scope_labels,
        ),
    )


def _read_content_rule(table: _Table) -> ContentRule:
    rule_id = table.get("id", str)
    description = table.get("description", str, "")
    action = table.get("action", str)
    matchers = tuple(_read_matcher(t) for t in table.tables("matchers"))
    raise_to = table.get("raise_to", str, None)
    mode = table.get("mode", str, "enforce")
    scope = _read_scope(table)
    table.done()
    return _build(
        table.path,
        lambda: ContentRule(
            id=rule_id,
            description=description,
            action=cast(ContentAction, action),
            matchers=matchers,
            raise_to=raise_to,
            mode=cast(RuleMode, mode),
            scope=scope,
        ),
    )


def _read_group_rule(table: _Table) -> GroupRule:
    rule_id = table.get("id", str)
    description = table.get("description", str, "")
    effect = table.get("effect", str)
    kinds = table.texts("kinds", KINDS)
    mode = table.get("mode", str, "enforce")
    scope = _read_scope(table)
    table.done()
    return _build(
        table.path,
        lambda: GroupRule(
            id=rule_id,
            description=description,
            effect=cast(GroupEffect, effect),
            kinds=cast(frozenset[Kind], kinds),
            mode=cast(RuleMode, mode),
            scope=scope,
        ),
    )


# --- locating errors ---------------------------------------------------------------

_PATH_PART: Final = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?")
#: The key that identifies an element of each array of tables, used to find its line.
_IDENTIFYING_KEY: Final = {"peers": "domain", "content_rules": "id", "group_rules": "id"}


def _locate(text: str, data: Mapping[str, object], path: str) -> int | None:
    """Best-effort 1-based line of ``path`` in the file, or None."""
    lines = text.splitlines()
    parts = [(m.group(1), m.group(2)) for m in _PATH_PART.finditer(path)]
    if not parts:
        return None
    start, end = 0, len(lines)
    anchor: int | None = None
    name, index = parts[0]
    if index is not None:
        anchor = _element_line(lines, data, name, int(index))
        if anchor is None:
            return None
        start = anchor
        while start > 0 and not lines[start].lstrip().startswith("["):
            start -= 1
        # The element ends at the next header that is not one of its sub-tables.
        end = next(
            (
                i
                for i in range(anchor + 1, len(lines))
                if lines[i].lstrip().startswith("[")
                and not lines[i].lstrip().startswith(f"[{name}.")
            ),
            len(lines),
        )
        parts = parts[1:]
    for key, _ in parts:
        quoted = re.escape(key)
        pattern = re.compile(
            rf"(?:^|[\s{{,.])[\"']?{quoted}[\"']?\s*[=.]"  # key = ..., key.sub = ...
            rf"|^\s*\[+\s*(?:[^\]]*\.)?{quoted}\s*\]"  # [key], [table.key]
        )
        found = next((i for i in range(start, end) if pattern.search(lines[i])), None)
        if found is not None:
            anchor = start = found
    return None if anchor is None else anchor + 1


def _element_line(
    lines: list[str], data: Mapping[str, object], name: str, index: int
) -> int | None:
    """The line of the ``id``/``domain`` of element ``index`` of array ``name``, or its header."""
    elements = data.get(name)
    key = _IDENTIFYING_KEY.get(name)
    if isinstance(elements, list) and index < len(elements) and key:
        element = elements[index]
        value = element.get(key) if isinstance(element, dict) else None
        if isinstance(value, str):
            # Count same-valued elements before this one, so duplicates find their own line.
            occurrence = sum(
                1 for e in elements[:index] if isinstance(e, dict) and e.get(key) == value
            )
            pattern = re.compile(
                rf"^\s*{key}\s*=\s*(\"{re.escape(value)}\"|'{re.escape(value)}')\s*(#.*)?$"
            )
            hits = [i for i, line in enumerate(lines) if pattern.match(line)]
            if occurrence < len(hits):
                return hits[occurrence]
    header = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]")
    headers = [i for i, line in enumerate(lines) if header.match(line)]
    return headers[index] if index < len(headers) else None


# --- writing -----------------------------------------------------------------------

_BASIC_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                         "\f": "\\f", "\r": "\\r"}  # fmt: skip


def _string(value: str, literal_ok: bool = False) -> str:
    """A TOML string: a 'literal' (no escapes, easier to read for patterns) when possible."""
    controls = any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    if literal_ok and "'" not in value and not controls:
        return f"'{value}'"
    escaped = "".join(
        _BASIC_ESCAPES.get(c) or (f"\\u{ord(c):04X}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
        for c in value
    )
    return f'"{escaped}"'


def _strings(values: Iterable[str], order: tuple[str, ...] = ()) -> str:
    ordered = [v for v in order if v in values] if order else sorted(values)
    return "[" + ", ".join(_string(v) for v in ordered) + "]"


def _inline(pairs: list[tuple[str, str]]) -> str:
    return "{ " + ", ".join(f"{k} = {v}" for k, v in pairs) + " }" if pairs else "{}"


def _terms(terms: DirectionTerms) -> str:
    return _inline(
        [
            ("kinds", _strings(terms.kinds, KINDS)),
            ("max_label", _string(terms.max_label)),
            ("media", "true" if terms.media else "false"),
            ("profile_fields", _strings(terms.profile_fields)),
        ]
    )


def _matcher(matcher: Matcher) -> str:
    pairs = [("type", _string(matcher.type_name))]
    if isinstance(matcher, KeywordMatcher):
        pairs.append(("words", "[" + ", ".join(_string(w) for w in matcher.words) + "]"))
    elif isinstance(matcher, RegexMatcher):
        pairs.append(("pattern", _string(matcher.pattern, literal_ok=True)))
        pairs.append(("ignore_case", "true" if matcher.ignore_case else "false"))
    return _inline(pairs)


def _scope(scope: Scope) -> str:
    pairs = [("directions", _strings(scope.directions, DIRECTIONS))]
    if scope.peers_mode == "all":
        pairs.append(("peers", '"all"'))
    else:
        pairs.append(("peers", _inline([(scope.peers_mode, _strings(scope.peers))])))
    for name in ("author_groups", "recipient_groups", "labels"):
        values: frozenset[str] = getattr(scope, name)
        if values:
            pairs.append((name, _strings(values)))
    return _inline(pairs)


def policy_to_toml(snapshot: PolicySnapshot) -> str:
    """The snapshot as a policy file with every default spelt out (for ``policy show``).

    ``parse_policy_file(policy_to_toml(s), s.version) == s`` for every snapshot.
    """
    labels = snapshot.labels
    out = [
        f"# Fedwall boundary policy, version {snapshot.version}",
        f"federation_mode = {_string(snapshot.federation_mode)}",
        f"labels = {_strings(labels.names, labels.names)}",
        f"default_label = {_string(snapshot.default_label)}",
        "",
        "[unlisted]",
    ]
    for direction in DIRECTIONS:
        terms = getattr(snapshot, f"unlisted_{direction}")
        out.append(f"{direction} = {_terms(terms)}")
    for agreement in snapshot.peers.values():
        out += ["", "[[peers]]", f"domain = {_string(agreement.domain)}"]
        out.append(f"status = {_string(agreement.status)}")
        out.append(f"note = {_string(agreement.note)}")
        if agreement.expires is not None:
            out.append(f"expires = {agreement.expires.isoformat()}")
        out.append(f"outbound = {_terms(agreement.outbound)}")
        out.append(f"inbound = {_terms(agreement.inbound)}")
    for rule in snapshot.content_rules:
        out += ["", "[[content_rules]]", f"id = {_string(rule.id)}"]
        out.append(f"description = {_string(rule.description)}")
        out.append(f"action = {_string(rule.action)}")
        if rule.raise_to is not None:
            out.append(f"raise_to = {_string(rule.raise_to)}")
        out.append(f"mode = {_string(rule.mode)}")
        out.append("matchers = [" + ", ".join(_matcher(m) for m in rule.matchers) + "]")
        out.append(f"scope = {_scope(rule.scope)}")
    for group_rule in snapshot.group_rules:
        out += ["", "[[group_rules]]", f"id = {_string(group_rule.id)}"]
        out.append(f"description = {_string(group_rule.description)}")
        out.append(f"effect = {_string(group_rule.effect)}")
        out.append(f"kinds = {_strings(group_rule.kinds, KINDS)}")
        out.append(f"mode = {_string(group_rule.mode)}")
        out.append(f"scope = {_scope(group_rule.scope)}")
    return "\n".join(out) + "\n"
