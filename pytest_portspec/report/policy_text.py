"""Plain-text renderings of specs and effective policies for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_portspec.spec import Spec
from pytest_portspec.spec.model import ports_label
from pytest_portspec.spec.policy import EffectivePolicy, Expectation
from pytest_portspec.spec.readings import describe


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def policy_text(policy: EffectivePolicy) -> str:
    spec = policy.spec
    conditions = (
        ", ".join(f"{c.name}={'on' if c.enabled else 'off'} ({c.decided_by})" for c in policy.conditions)
        or "none"
    )
    head = [
        f"{spec.product} ({spec.vendor}) — spec {spec.name} revision {spec.revision}",
        f"source: {spec.source_doc} — {spec.source_title}",
        f"profile: {policy.profile.name} ({policy.profile.title})"
        + (f", firmware {policy.firmware}" if policy.firmware else "")
        + (f", role {policy.role}" if policy.role else ""),
        f"conditions: {conditions}",
        f'default: in {policy.default_in}, out {policy.default_out} — "{spec.default.citation.quote}"',
        "",
    ]
    with_role = bool(spec.roles) and policy.role is None
    headers = ["KEY", *(["ROLE"] if with_role else []), "ACTION", "LISTENER", "SERVICE", "PEERS", "STATUS"]
    body = [_policy_row(e, with_role) for e in policy.rows]
    return "\n".join(head) + table(headers, body) + _readings_text(spec)


def _readings_text(spec: Spec) -> str:
    """The other readings of a document that contradicts itself: a device may follow any of them."""
    lines = [
        f"\ndecision {d.id}: rows as {d.reading}; also accepted: {a.title} "
        f'({"; ".join(f"{row}: {describe(o)}" for row, o in a.rows.items())}) — "{a.citation.quote}"'
        for d in spec.decisions
        for a in d.alternatives
    ]
    return "\n" + "".join(lines) if lines else ""


def _policy_row(e: Expectation, with_role: bool) -> list[str]:
    peers = e.side.destinations if e.side.direction == "out" else e.side.sources
    status = "applies" if e.applies else f"skipped: {e.decision}"
    if e.applies and e.row.manual:
        status = f"manual: {e.row.manual}"
    if e.overridden:
        status += f" (block overridden by {', '.join(e.superseded_by)})"
    elif e.superseded_by:
        status += f" (partly allowed by {', '.join(e.superseded_by)}; block holds for {_ports(e)})"
    service = e.row.service + (f" [{'/'.join(e.row.process)}]" if e.row.process else "")
    if e.row.configurable:
        service += " (configurable)"
    if e.row.scope == "loopback":
        service += " (internal)"
    return [
        e.key,
        *([e.side.role or ""] if with_role else []),
        e.action or "-",
        e.listener or "-",
        service,
        ", ".join(str(p) for p in peers) or "-",
        status,
    ]


def spec_summary(spec: Spec) -> dict[str, object]:
    return {
        "name": spec.name,
        "product": spec.product,
        "vendor": spec.vendor,
        "revision": spec.revision,
        "path": str(spec.path),
        "source": {"doc": spec.source_doc, "title": spec.source_title},
        "profiles": [
            {
                "name": p.name,
                "title": p.title,
                "default": p.default,
                "firmware": str(p.firmware) if p.firmware else None,
            }
            for p in spec.profiles.values()
        ],
        "conditions": [
            {"name": c.name, "title": c.title, "default": c.default} for c in spec.conditions.values()
        ],
        "roles": [{"name": r.name, "title": r.title} for r in spec.roles.values()],
        "rows": len(spec.rows),
        "manual_rows": sum(1 for r in spec.rows if r.manual),
    }


def list_text(specs: Sequence[Spec]) -> str:
    rows = []
    for spec in specs:
        profiles = ", ".join(p.name + ("*" if p.default else "") for p in spec.profiles.values())
        conditions = ", ".join(f"{c.name}({'on' if c.default else 'off'})" for c in spec.conditions.values())
        rows.append(
            [
                spec.name,
                spec.source_doc,
                profiles,
                conditions or "-",
                ", ".join(spec.roles) or "-",
                str(len(spec.rows)),
            ]
        )
    headers = ["SPEC", "DOCUMENT", "PROFILES (*default)", "CONDITIONS (default)", "ROLES", "ROWS"]
    return table(headers, rows)


def _ports(e: Expectation) -> str:
    return ports_label(e.blocked_ports or ())
