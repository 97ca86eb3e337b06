"""The firewall check of a row: does what the kernel enforces do what the document requires (pure).

The verdict comes from the kernel's ruleset (`facts.kernel`), over every remote, source port,
interface and both families (`firewall.questions`); ufw's own view of the same traffic is shown
beside it as evidence, in the words the operator and the vendor document use. A question the
model cannot decide is an error quoting the rule, never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_portspec.checks.cluster_rows import check_cluster_row
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.kinds import RowCheck
from pytest_portspec.checks.ports import configured_port, unknown_port_reason
from pytest_portspec.checks.verdict import Verdict, for_row, row_skip
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import Answer, closed, open_to
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.ufw_view import Packet, decide
from pytest_portspec.firewall.values import address_span
from pytest_portspec.spec.model import Destination, PortRange, ports_label
from pytest_portspec.spec.policy import Expectation


def port_set(ranges: tuple[PortRange, ...]) -> Intervals:
    return Intervals.merged((r.lo, r.hi) for r in ranges)


def kernel_unread(facts: Facts) -> str:
    return (
        f"the kernel's ruleset could not be read: {facts.kernel_error or 'no iptables-save in the snapshot'}"
    )


def ufw_view(facts: Facts, direction: str, proto: str, port: int) -> tuple[bool | None, str]:
    """ufw's own view of one port, as the operator reads it (evidence beside the kernel's verdict):
    whether ufw's rules let it in, even only for some sources (None: not read), and its words."""
    if facts.ufw is None:
        return None, "ufw's view: not read"
    if not facts.ufw.active:
        return True, "ufw's view: ufw is inactive"
    try:
        found = decide(facts.ufw, Packet(direction, proto, port))  # type: ignore[arg-type]
    except ValueError as exc:
        return None, f"ufw's view: {exc}"
    some = any(r.action in ("allow", "limit") for r in found.partial)
    return found.permitted or some, f"ufw's view: {found.reason}"


def _klass(word: str, ufw_says: bool | None, kernel_permits: bool) -> str:
    """'permitted-by-ufw' when ufw's own view says the same as the kernel, else '-by-kernel' (a raw
    rule, a policy set by hand, another program's chain decided it)."""
    return f"{word}-by-ufw" if ufw_says is kernel_permits else f"{word}-by-kernel"


def check_row(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    if facts.kernel is None:
        return for_row(e, "ufw", "error", _expected(e), kernel_unread(facts))
    if e.action == "allow":
        return _check_allow(e, facts, facts.kernel, declared)
    return _check_block(e, facts, facts.kernel, declared)


def _expected(e: Expectation, ports: str | None = None) -> str:
    what = "permit" if e.action == "allow" else "block"
    where = ports or ports_label(e.row.ports)
    return f"the firewall must {what} {e.side.direction}bound {where}/{e.side.proto} ({e.row.service})"


def _not_judged(e: Expectation, expected: str, answer: Answer) -> Verdict:
    return for_row(e, "ufw", "error", expected, answer.why, evidence=answer.evidence, notes=answer.notes)


def _kernel_failed(
    e: Expectation, expected: str, answer: Answer, view: str, klass: str, notes: list[str], why: str = ""
) -> Verdict:
    """The kernel's answer fails the row; ufw's own view stands beside its evidence."""
    evidence = [*answer.evidence, view]
    return for_row(
        e, "ufw", "failed", expected, why or answer.why, evidence=evidence, failure_class=klass, notes=notes
    )


def _ports_to_check(
    e: Expectation, facts: Facts, declared: Declarations
) -> tuple[tuple[PortRange, ...], list[str]] | None:
    """The row's ports, or the one port a configurable row is configured to (None: not known)."""
    if not e.row.configurable:
        return e.row.ports, []
    port, how = configured_port(e, facts, declared)
    if port is None:
        return None
    return (PortRange(port, port),), [f"port {port} from {how}"]


def _check_allow(e: Expectation, facts: Facts, model: KernelModel, declared: Declarations) -> Verdict:
    chosen = _ports_to_check(e, facts, declared)
    if chosen is None:
        return row_skip(e, "ufw", unknown_port_reason(e))
    ranges, notes = chosen
    ports = port_set(ranges)
    direction, proto = e.side.direction, e.side.proto
    expected = _expected(e, ports_label(ranges))
    if e.cluster_ports and not e.row.configurable:  # who may reach it is the cluster (cluster_rows.py)
        ufw = ufw_view(facts, direction, proto, e.cluster_ports[0].lo)
        return check_cluster_row(e, model, declared, _expected(e, ports_label(e.cluster_ports)), ufw)
    says, view = ufw_view(facts, direction, proto, ranges[0].lo)
    answer = open_to(model, direction, proto, ports, _named_sources(e))
    if answer.status in ("undecided", "unavailable"):
        return _not_judged(e, expected, answer)
    if answer.status == "no":
        narrower = _narrower(e, facts, model, ports, answer)
        if narrower is not None:
            return narrower
        some = closed(model, direction, proto, ports).status == "no"
        return _kernel_failed(
            e,
            expected,
            answer,
            view,
            "restricted" if some else _klass("blocked", says, False),
            [*notes, *answer.notes],
            answer.why + ("; it lets some others in" if some and direction == "in" else ""),
        )
    if e.row.configurable:
        extra = _unused_range_ports(e, facts, model, ranges[0].lo)
        if extra:
            return for_row(
                e,
                "ufw",
                "failed",
                expected,
                f"the kernel also lets in {extra} of the configurable range, where nothing listens",
                failure_class="unused-range-open",
                notes=notes,
            )
    return for_row(
        e,
        "ufw",
        "passed",
        expected,
        answer.why,
        evidence=[*answer.evidence, view],
        notes=[*notes, *answer.notes],
    )


def _documented_addresses(named: tuple[Destination, ...]) -> tuple[list[str], bool]:
    """The addresses a row writes for its remotes, and whether it writes them for every one
    (not for roles, configured or unresolved host names)."""
    found: list[str] = []
    complete = True
    for d in named:
        if d.kind in ("ip", "cidr"):
            found.append(d.value)
        elif d.kind == "host" and d.ips:
            found += list(d.ips)
        else:
            complete = False
    return found, complete


def _named_sources(e: Expectation) -> Mapping[Family, Intervals] | None:
    """The remotes an inbound row names as addresses; None: anyone (or names the model cannot turn
    into addresses: roles, configured hosts)."""
    found, complete = _documented_addresses(e.side.sources if e.side.direction == "in" else ())
    return _by_family(found) if found and complete else None


def _by_family(addresses: list[str]) -> dict[Family, Intervals]:
    found: dict[Family, Intervals] = {}
    for text in addresses:
        family: Family = 6 if ":" in text else 4
        found[family] = found.get(family, Intervals()) | Intervals.of(address_span(text, family))
    return found


def _narrower(
    e: Expectation, facts: Facts, model: KernelModel, ports: Intervals, answer: Answer
) -> Verdict | None:
    """A row open only to some remotes that is right anyway: an outbound row open to its own
    destinations; a row whose sources are cluster roles (who they are needs an inventory)."""
    direction, proto = e.side.direction, e.side.proto
    if direction == "out":
        addresses = _destination_addresses(e, facts)
        if addresses is None:
            return None
        to_them = open_to(model, direction, proto, ports, _by_family(addresses))
        if to_them.status == "yes":
            row_own = ", ".join(addresses)
            note = f"the kernel allows this only to some destinations, among them the row's ({row_own})"
            return for_row(
                e, "ufw", "passed", _expected(e), to_them.why, evidence=to_them.evidence, notes=[note]
            )
        return None
    some = closed(model, direction, proto, ports)
    if e.side.sources and _named_sources(e) is None and some.status == "no":
        sources = ", ".join(str(s) for s in e.side.sources)
        return row_skip(
            e,
            "ufw",
            f"the kernel lets this in only from some sources ({some.evidence[0]});"
            f" the document limits it to {sources}: whether those match needs the site's addresses"
            " (an inventory)",
        )
    return None


def _destination_addresses(e: Expectation, facts: Facts) -> list[str] | None:
    """The addresses of an outbound row's destinations: documented, and resolved by its probes."""
    found, complete = _documented_addresses(e.side.destinations)
    prefix = f"{e.side.role or ''}|{e.key}|"  # reach._probe_id
    resolved = [a for r in facts.outbound.values() if r.id.startswith(prefix) for a in r.addresses]
    if not complete and not resolved:
        return None
    return found + resolved or None


def _unused_range_ports(e: Expectation, facts: Facts, model: KernelModel, used: int) -> str:
    """Inbound ports of a configurable range that the kernel opens while nothing listens there."""
    if e.side.direction != "in":
        return ""
    listening = {s.port for s in facts.sockets if s.proto == e.side.proto}
    others = port_set(e.row.ports) - Intervals.merged([(used, used)] + [(p, p) for p in listening])
    if not others:
        return ""
    answer = closed(model, "in", e.side.proto, others)
    return answer.evidence[0] if answer.status == "no" else ""


def _check_block(e: Expectation, facts: Facts, model: KernelModel, declared: Declarations) -> Verdict:
    if e.overridden:
        return row_skip(
            e,
            "ufw",
            f"this row's block is overridden: {', '.join(e.superseded_by)} allow(s) the "
            f"same traffic in this profile",
        )
    blocked = e.blocked_ports or e.row.ports
    expected = _expected(e, ports_label(blocked))
    site = declared.site_allow if e.side.direction == "in" else frozenset()  # --site-allow: inbound ports
    declared_here = Intervals.merged((p, p) for proto, p in site if proto == e.side.proto)
    ports = port_set(blocked) - declared_here
    notes = [
        f"{p}/{e.side.proto} declared as a site addition (--site-allow)"
        for _, p in sorted(site)
        if e.side.proto == _ and any(r.lo <= p <= r.hi for r in blocked)
    ]
    if not ports:
        return row_skip(e, "ufw", "; ".join(notes) or "every port of this row is a declared site addition")
    answer = closed(model, e.side.direction, e.side.proto, ports)
    says, view = ufw_view(facts, e.side.direction, e.side.proto, blocked[0].lo)
    if answer.status in ("undecided", "unavailable"):
        return _not_judged(e, expected, answer)
    if answer.status == "no":
        return _kernel_failed(e, expected, answer, view, _klass("permitted", says, True), notes)
    return for_row(e, "ufw", "passed", expected, answer.why, evidence=[view], notes=notes)


def has_ufw_check(e: Expectation) -> bool:
    return e.row.scope == "external" and bool(e.row.ports or e.row.manual)


def _shown_anyway(e: Expectation) -> bool:
    """A manual row, or one without an action of its own: one item shows it (skipped, with its reason)."""
    return bool(e.row.manual) or e.action is None


UFW = RowCheck(applies=has_ufw_check, evaluate=check_row, otherwise=_shown_anyway)  # kinds.py registers it
