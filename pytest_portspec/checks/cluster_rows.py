"""Cluster-only ports: a row the document gives for the cluster's nodes, judged by who can reach it (pure).

A cluster-only row (the cluster tables' `between` rows, or `cluster_only: true`) is let in from
the cluster, and from nobody else:
- without the cluster's network: the sources the kernel lets in are accepted as the cluster
  (a note names them, for the reviewer to compare with the cluster's addresses), unless they are
  every address (more than half of a family's addresses): `cluster-open`;
- with `--cluster-net`: no address outside those networks may get in (`cluster-open`), and every
  address of them must (`restricted`, or blocked where nobody gets in); the site's management
  networks (`--management-net`) may get in too, and need not. They never excuse a port open to
  every address, and without the cluster's network they are only named in the note.
Either way every flow of the sources let in must get in (each port of the row, client source
ports, the device's own addresses): a rule for one of two ports is `restricted`. A family counts
where the kernel lets someone in there: an IPv4-only cluster rule set is complete on a node that
also has IPv6 addresses. The kernel's ruleset decides; ufw's view stands beside it as evidence.
"""

from __future__ import annotations

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.verdict import Verdict, for_row
from pytest_portspec.firewall.intervals import EMPTY, Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import Answer, open_to, undecided
from pytest_portspec.firewall.sources import (
    Sources,
    addresses_text,
    every_address,
    flows_from,
    let_in,
    nets_by_family,
    rules_for,
)
from pytest_portspec.firewall.values import format_ports
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.spec.policy import Expectation

OPEN_CLASS = "cluster-open"


def cluster_ports(e: Expectation) -> Intervals:
    return Intervals.merged((r.lo, r.hi) for r in e.cluster_ports or ())


def check_cluster_row(
    e: Expectation,
    model: KernelModel,
    declared: Declarations,
    expected: str,
    ufw: tuple[bool | None, str],
) -> Verdict:
    """The firewall item of a cluster-only row (`ufw`: ufw's own view, shown beside the kernel's:
    whether its rules let the port in, and its words)."""
    view = ufw[1]
    ports = cluster_ports(e)
    sources = let_in(model, e.side.proto, ports)
    if isinstance(sources, str):
        return for_row(e, "ufw", "error", expected, sources)
    notes = _other_ports_note(e)
    wide = _too_wide(model, sources, declared)
    if wide is not None:
        why, evidence = wide
        return for_row(
            e,
            "ufw",
            "failed",
            expected,
            why,
            evidence=[*evidence, view],
            failure_class=OPEN_CLASS,
            notes=notes,
        )
    if sources.unsure:
        answer = undecided(model, "in", e.side.proto, sources.unsure)
        return for_row(e, "ufw", "error", expected, answer.why, evidence=answer.evidence)
    nets = nets_by_family(model, declared.cluster_nets)
    required = nets or {f: who for f, who in sources.who.items() if who}
    answer = open_to(model, "in", e.side.proto, ports, required or None)
    if answer.status == "yes":
        managed, rules = _management(model, sources, declared)
        notes += [_accepted(model, sources, declared.cluster_nets, managed)]
        evidence = [*answer.evidence, *rules, view]
        return for_row(e, "ufw", "passed", expected, answer.why, evidence=evidence, notes=notes)
    if answer.status != "no":
        return for_row(e, "ufw", "error", expected, answer.why, evidence=answer.evidence, notes=notes)
    return _refused(e, answer, sources, declared, expected, ufw, notes)


def _refused(
    e: Expectation,
    answer: Answer,
    sources: Sources,
    declared: Declarations,
    expected: str,
    ufw: tuple[bool | None, str],
    notes: list[str],
) -> Verdict:
    """The cluster (or the sources let in) does not get in on every flow of the row."""
    if declared.cluster_nets:
        why = f"the cluster network ({', '.join(declared.cluster_nets)}) does not get in: {answer.why}"
    elif sources.anyone():
        why = f"the sources the kernel lets in get in on only some of the row's flows: {answer.why}"
    else:
        why = answer.why
    # as checks/firewall._klass: '-by-ufw' where ufw's own view refuses it too
    klass = "restricted" if sources.anyone() else f"blocked-by-{'ufw' if ufw[0] is False else 'kernel'}"
    view = ufw[1]
    return for_row(
        e,
        "ufw",
        "failed",
        expected,
        why,
        evidence=[*answer.evidence, view],
        failure_class=klass,
        notes=[*notes, *answer.notes],
    )


def _too_wide(model: KernelModel, sources: Sources, declared: Declarations) -> tuple[str, list[str]] | None:
    """Why the sources let in are more than the cluster (and the management networks, once the
    cluster's network is known), with the rules that let them in."""
    nets, managed = declared.cluster_nets, declared.management_nets
    cluster = nets_by_family(model, nets)
    allowed = nets_by_family(model, managed) if nets else {}
    for family, who in sorted(sources.who.items()):
        if nets:
            # a management network as wide as every address still leaves the port open to everyone
            extra = EMPTY if every_address(model, sources, family) else allowed.get(family, EMPTY)
            outside = who - (cluster.get(family, EMPTY) | extra)
            where = f"addresses outside the cluster network ({', '.join(nets)})"
            where += f" and the management networks ({', '.join(managed)})" if managed else ""
        else:
            outside = who if every_address(model, sources, family) else Intervals()
            where = "every address"
        if outside:
            flows = flows_from(model, sources, family, outside)
            why = f"the kernel lets in {flows}: a cluster-only port open to {where}"
            return why, rules_for(model, sources, family, outside)[:6]
    return None


def _accepted(model: KernelModel, sources: Sources, nets: tuple[str, ...], managed: list[str]) -> str:
    """The note of a passed cluster-only row: who gets in, for the reviewer to compare."""
    who = "; ".join(
        f"{addresses_text(model, f, w)}{' (IPv6)' if f == 6 else ''}"
        for f, w in sorted(sources.who.items())
        if w
    )
    names = ", ".join(managed)
    if nets:
        others = f"but the site's management networks ({names}), which may get in" if managed else "else"
        cluster = ", ".join(nets)
        return f"cluster-only port: the kernel lets in the cluster network ({cluster}) and nobody {others}"
    return (
        f"cluster-only port: the kernel lets it in only from {who}"
        + (f" (in the site's management networks: {names})" if managed else "")
        + "; the document gives it for the cluster's nodes: compare with their addresses"
        " (--cluster-net CIDR judges it)"
    )


def _management(model: KernelModel, sources: Sources, declared: Declarations) -> tuple[list[str], list[str]]:
    """The management networks some of whose addresses get in (beyond the cluster network, when it
    is known) and, when it is, the rules that let them in: the evidence of what they were allowed."""
    cluster = nets_by_family(model, declared.cluster_nets)
    named: list[str] = []
    rules: list[str] = []
    for net in declared.management_nets:
        for family, addresses in nets_by_family(model, (net,)).items():
            got_in = sources.of(family) & addresses
            got_in -= cluster.get(family, EMPTY)
            if got_in:
                named.append(net)
                rules += rules_for(model, sources, family, got_in) if declared.cluster_nets else []
    return list(dict.fromkeys(named)), list(dict.fromkeys(rules))[:6]


def _other_ports_note(e: Expectation) -> list[str]:
    judged = cluster_ports(e)
    others = Intervals.merged((r.lo, r.hi) for r in e.row.ports) - judged
    if not others:
        return []
    return [
        f"{format_ports(others)}/{e.side.proto} of this row: another row opens it to everyone, and judges it"
    ]


def cluster_exposure(facts: Facts, s: Socket, rows: list[Expectation], declared: Declarations) -> str:
    """The exposure audit's finding for a socket only cluster-only rows document: the kernel lets
    every address (or, with --cluster-net, addresses outside the cluster) in ("" if not)."""
    port = Intervals.of((s.port, s.port))
    if facts.kernel is None or any(port - cluster_ports(e) for e in rows):
        return ""
    sources = let_in(facts.kernel, s.proto, port, s.families)
    if isinstance(sources, str):
        return ""
    wide = _too_wide(facts.kernel, sources, declared)
    if wide is None:
        return ""
    where = wide[0].rpartition(": a cluster-only port open to ")[2]
    row = ", ".join(dict.fromkeys(e.row.id for e in rows))
    return f"cluster-only port {s.port}/{s.proto} open to {where} ({s.describe()}; row {row})"
