"""Decisions and the reasons behind them, in words a user understands.

Reason codes:

===========================  =========================================================
``peer_not_allowlisted``     allowlist mode and no agreement covers the peer
``peer_blocked``             an agreement covering the peer is ``blocked``
``peer_pending``             the agreement is still ``pending``
``agreement_expired``        the agreement's ``expires`` time has passed
``kind_not_allowed``         the terms do not include the activity kind
``unknown_label``            the crossing's label is not on the node's scale
``label_above_clearance``    the effective label is above the terms' ``max_label``
``media_not_allowed``        the crossing has media and the terms exclude media
``profile_field_withheld``   a ``profile.*`` field is not in the terms' profile fields
``too_long_to_scan``         a field is longer than the scan cap; held for review
``content_blocked``          a ``block`` content rule matched
``content_redacted``         a ``redact`` content rule matched
``content_held``             a ``hold`` content rule matched
``content_warning``          a ``warn`` content rule matched
``label_raised``             a ``label`` content rule raised the effective label
``group_denied``             a ``deny`` group rule applies
``group_not_permitted``      an ``allow_only`` group rule excludes the author/recipient
===========================  =========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from node.policy.kinds import Direction
from node.translatable import Params, Translate, english, params_json, render, translatable

Outcome: TypeAlias = Literal["allow", "redact", "hold", "deny"]

#: Outcomes from least to most restrictive; the most restrictive reason wins.
OUTCOME_RANK: Final[Mapping[Outcome, int]] = {"allow": 0, "redact": 1, "hold": 2, "deny": 3}

#: How a reason's verdict and its body make one line.
REASON_LINE: Final = translatable("{verdict}: {reason}")


def reason_line(verdict: str, template: str, params: Params, translate: Translate = english) -> str:
    """A reason's line from its templates, in the language of ``translate``."""
    return translate(REASON_LINE).format(
        verdict=render(verdict, params, translate), reason=render(template, params, translate)
    )


@dataclass(frozen=True, slots=True)
class Reason:
    """One thing the policy found, whether or not it changed the outcome.

    ``effect`` is the outcome this reason asks for (``allow`` for warnings and label
    changes). ``matched`` is a masked excerpt, never a full secret. A ``dry_run``
    reason reports what a dry-run rule would have done and never counts.
    ``message`` is the English line; ``verdict_template``, ``template`` and ``params``
    are what it was rendered from, for pages in other languages (None for reasons
    made without templates).
    """

    rule_id: str | None
    code: str
    message: str
    field: str | None = None
    matched: str | None = None
    dry_run: bool = False
    effect: Outcome = "allow"
    verdict_template: str | None = None
    template: str | None = None
    params: Params = ()

    def text(self, translate: Translate = english) -> str:
        """The line in the language of ``translate`` (the message when there are no templates)."""
        if self.verdict_template is None or self.template is None:
            return self.message
        return reason_line(self.verdict_template, self.template, self.params, translate)

    def text_fields(self) -> dict[str, object]:
        """What a stored copy of this reason keeps to be translated later (empty without
        templates): ``verdict``, ``template`` and ``params``."""
        if self.verdict_template is None or self.template is None:
            return {}
        return {
            "verdict": self.verdict_template,
            "template": self.template,
            "params": params_json(self.params),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one crossing.

    ``reasons``: everything found, in evaluation order, including warnings and dry-run
    reports. ``warnings``: the enforced ``warn`` reasons, for the author preview.
    ``transformed``: the fields to use instead of the original ones when rules
    redacted text or withheld profile fields (withheld fields are absent), for this
    peer only; ``None`` when the original fields are fine or the outcome is ``deny``.
    (On ``hold`` it is what a reviewer would release.)
    ``effective_label``: the crossing's label after ``label`` rules raised it.
    """

    outcome: Outcome
    reasons: tuple[Reason, ...]
    effective_label: str
    transformed: Mapping[str, str] | None
    warnings: tuple[Reason, ...]
    peer: str
    direction: Direction
    policy_version: int

    @property
    def crosses(self) -> bool:
        """True when something crosses now (the original or the transformed copy)."""
        return self.outcome in ("allow", "redact")

    def decisive(self) -> tuple[Reason, ...]:
        """The enforced reasons that produced the outcome."""
        return tuple(r for r in self.reasons if not r.dry_run and r.effect == self.outcome)


_SUMMARY: Final[Mapping[tuple[Direction, Outcome], str]] = {
    ("outbound", "allow"): "sent to {peer}",
    ("outbound", "redact"): "sent to {peer} with redactions",
    ("outbound", "hold"): "held for review before sending to {peer}",
    ("outbound", "deny"): "not sent to {peer}",
    ("inbound", "allow"): "accepted from {peer}",
    ("inbound", "redact"): "accepted from {peer} with redactions",
    ("inbound", "hold"): "held for review before accepting from {peer}",
    ("inbound", "deny"): "not accepted from {peer}",
}


def explain(decision: Decision) -> str:
    """One line for people: the verdict or its first decisive reason, then what else there is."""
    decisive = decision.decisive()
    lead: Reason | None = decisive[0] if decisive and decision.outcome != "allow" else None
    line = (
        lead.message
        if lead
        else _SUMMARY[decision.direction, decision.outcome].format(peer=decision.peer)
    )
    extras = [decision.warnings[0].message] if decision.warnings else []
    others = len(decision.reasons) - (lead is not None) - (len(extras) > 0)
    if others:
        extras.append(f"{others} more reason{'s' if others != 1 else ''}")
    return f"{line} ({'; '.join(extras)})" if extras else line
