"""The boundary policy: what may cross this node's boundary, decided per crossing.

Pure: plain data in (a :class:`PolicySnapshot` and a :class:`Crossing`), a
:class:`Decision` with reasons out. No database, network or clock. The delivery worker
evaluates once per destination peer, the inbox once per received activity, and the
author preview calls the very same :func:`evaluate` through :func:`preview`.
"""

from node.policy.crossing import Crossing, Recipient
from node.policy.decision import OUTCOME_RANK, Decision, Outcome, Reason, explain
from node.policy.errors import (
    InvalidPolicyError,
    PolicyError,
    PolicyFileError,
    UnknownLabelError,
)
from node.policy.evaluate import REDACTION, evaluate, preview
from node.policy.kinds import (
    ALL_DIRECTIONS,
    ALL_KINDS,
    ANY_PROFILE_FIELD,
    DIRECTIONS,
    FEDERATION_MODES,
    KINDS,
    PEER_STATUSES,
    PROFILE_FIELD_PREFIX,
    RULE_MODES,
    Direction,
    FederationMode,
    Kind,
    PeerStatus,
    RuleMode,
)
from node.policy.labels import DEFAULT_LABELS, LabelScale
from node.policy.matchers import (
    MAX_SCAN_CHARS,
    CardNumberMatcher,
    EmailMatcher,
    IbanMatcher,
    KeywordMatcher,
    Matcher,
    PhoneMatcher,
    RegexMatcher,
    Span,
    find_spans,
)
from node.policy.peers import DirectionTerms, PeerAgreement
from node.policy.policyfile import parse_policy_file, policy_to_toml
from node.policy.rules import (
    CONTENT_ACTIONS,
    GROUP_EFFECTS,
    PEERS_MODES,
    ContentAction,
    ContentRule,
    GroupEffect,
    GroupRule,
    PeersMode,
    Scope,
)
from node.policy.snapshot import PolicySnapshot

__all__ = [
    "ALL_DIRECTIONS",
    "ALL_KINDS",
    "ANY_PROFILE_FIELD",
    "CONTENT_ACTIONS",
    "DEFAULT_LABELS",
    "DIRECTIONS",
    "FEDERATION_MODES",
    "GROUP_EFFECTS",
    "KINDS",
    "MAX_SCAN_CHARS",
    "OUTCOME_RANK",
    "PEERS_MODES",
    "PEER_STATUSES",
    "PROFILE_FIELD_PREFIX",
    "REDACTION",
    "RULE_MODES",
    "CardNumberMatcher",
    "ContentAction",
    "ContentRule",
    "Crossing",
    "Decision",
    "Direction",
    "DirectionTerms",
    "EmailMatcher",
    "FederationMode",
    "GroupEffect",
    "GroupRule",
    "IbanMatcher",
    "InvalidPolicyError",
    "KeywordMatcher",
    "Kind",
    "LabelScale",
    "Matcher",
    "Outcome",
    "PeerAgreement",
    "PeerStatus",
    "PeersMode",
    "PhoneMatcher",
    "PolicyError",
    "PolicyFileError",
    "PolicySnapshot",
    "Reason",
    "Recipient",
    "RegexMatcher",
    "RuleMode",
    "Scope",
    "Span",
    "UnknownLabelError",
    "evaluate",
    "explain",
    "find_spans",
    "parse_policy_file",
    "policy_to_toml",
    "preview",
]
