"""Every ufw rule of a device, explained against the document (pure).

    explain_rules(policy, state, declared) -> [RuleExplanation]

Each rule is one of: documented by a row, loopback housekeeping (as in the vendor's own
example), the lab's or tester's management access, a declared site addition, a rule that
contradicts the document (a row says Blocked, or gives a cluster-only port that the rule opens to
every address), an inconsistency of the document itself
(the table gives another protocol for that port, and a recorded decision says so), or
undocumented. Nothing is left without an explanation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pytest_portspec.checks.context import Declarations
from pytest_portspec.parse.ufw import UfwRule, UfwState
from pytest_portspec.parse.ufw_rules import PORTLESS
from pytest_portspec.spec.policy import EffectivePolicy, Expectation

ANYWHERE = ("0.0.0.0/0", "::/0")
Kind = Literal[
    "documented",
    "loopback",
    "management",
    "site",
    "contradicts",
    "inconsistent",
    "partly",
    "restrictive",
    "protocol",
    "undocumented",
]


@dataclass(frozen=True)
class RuleExplanation:
    rule: UfwRule
    kind: Kind
    text: str

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule.describe(),
            "line": self.rule.text,
            "kind": self.kind,
            "explanation": self.text,
        }


def _listed_number(rule: UfwRule) -> int | None:
    match = re.match(r"\[\s*(\d+)\]", rule.text)
    return int(match.group(1)) if match else None


def _ports(rule: UfwRule) -> list[int]:
    return [p for r in rule.dports for p in (range(r.lo, r.hi + 1) if r.hi - r.lo < 64 else (r.lo, r.hi))]


def _covers(e: Expectation, proto: str, port: int) -> bool:
    return e.side.proto == proto and any(r.lo <= port <= r.hi for r in e.row.ports)


def _cluster_only(e: Expectation, port: int) -> bool:
    """Only the cluster's nodes may reach this port of the row (checks/cluster_rows.py)."""
    return any(r.lo <= port <= r.hi for r in e.cluster_ports or ())


def explain_rules(policy: EffectivePolicy, state: UfwState, declared: Declarations) -> list[RuleExplanation]:
    return [_explain(policy, rule, declared) for rule in state.rules]


def _explain(policy: EffectivePolicy, rule: UfwRule, declared: Declarations) -> RuleExplanation:
    found = _explain_kind(policy, rule, declared)
    listed = _listed_number(rule)
    if listed is not None and listed != rule.position:
        text = f"{found.text} (listed as [{listed}], but it is rule {rule.position} in order)"
        return RuleExplanation(rule, found.kind, text)
    return found


def _explain_kind(policy: EffectivePolicy, rule: UfwRule, declared: Declarations) -> RuleExplanation:
    if rule.proto in PORTLESS:
        return RuleExplanation(
            rule,
            "protocol",
            f"{rule.proto} carries no TCP or UDP ports: no row of the document concerns it, and it never "
            f"matches a TCP or UDP flow",
        )
    if rule.interface == "lo" or (rule.action == "deny" and rule.src.startswith("127.")):
        return RuleExplanation(rule, "loopback", "loopback housekeeping, as in the vendor's own example")
    if (
        rule.direction == "in"
        and declared.management_port in _ports(rule)
        and ((rule.comment and "management" in rule.comment) or rule.src not in ANYWHERE)
    ):  # a comment alone explains nothing: `allow 3306 comment 'management'` is still 3306
        return RuleExplanation(rule, "management", "management access for this test (source-restricted SSH)")
    if rule.action in ("deny", "reject"):
        return RuleExplanation(
            rule, "restrictive", "narrows what the device allows; the document's defaults decide"
        )
    if not rule.dports:
        where = f" on interface {rule.interface}" if rule.interface else ""
        return RuleExplanation(
            rule,
            "undocumented",
            f"allows every {rule.direction}bound port{where}: the document has no such row",
        )
    protos = ["tcp", "udp"] if rule.proto == "any" else [rule.proto]
    parts = [_explain_port(policy, rule, proto, port, declared) for proto in protos for port in _ports(rule)]
    kinds = {kind for kind, _ in parts}
    texts = list(dict.fromkeys(text for _, text in parts))
    if len(kinds) == 1:
        return RuleExplanation(rule, parts[0][0], "; ".join(texts))
    if kinds <= {"documented", "site"}:
        return RuleExplanation(rule, "documented", "; ".join(texts))
    worst: Kind = next(k for k in ("contradicts", "inconsistent", "undocumented") if k in kinds)
    return RuleExplanation(rule, "partly" if {"documented", "site"} & kinds else worst, "; ".join(texts))


def _explain_port(
    policy: EffectivePolicy, rule: UfwRule, proto: str, port: int, declared: Declarations
) -> tuple[Kind, str]:
    same = [
        e
        for e in policy.rows
        if e.applies
        and e.side.direction == rule.direction
        and e.row.scope == "external"
        and _covers(e, proto, port)
    ]
    allowing = [e for e in same if e.action == "allow"]
    if allowing:
        text = f"{port}/{proto}: row {allowing[0].row.id} ({allowing[0].row.service})"
        if rule.src in ANYWHERE and all(_cluster_only(e, port) for e in allowing):
            return "contradicts", f"{text} gives a cluster-only port, which this rule opens to every address"
        return "documented", text
    if rule.direction == "in" and (proto, port) in declared.site_allow:
        return "site", f"{port}/{proto}: declared site addition (--site-allow)"
    if same:
        return "contradicts", (
            f"{port}/{proto}: row {same[0].row.id} requires {rule.direction}bound "
            f"{port}/{proto} blocked in profile {policy.profile.name}"
        )
    other = "udp" if proto == "tcp" else "tcp"
    elsewhere = [e for e in policy.rows if e.side.direction == rule.direction and _covers(e, other, port)]
    if elsewhere:
        row = elsewhere[0].row
        decided = [d.id for d in policy.spec.decisions if row.id in d.rows]
        note = f" (decision {decided[0]})" if decided else ""
        return "inconsistent", (
            f"{port}/{proto}: the document gives {port} as {other} (row {row.id}), not {proto}{note}"
        )
    return "undocumented", f"{port}/{proto}: no row of the document"
