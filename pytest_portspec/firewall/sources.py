"""Who the kernel lets in on some ports: the remote addresses, per family, decided over every flow (pure).

    let_in(model, "tcp", ports) -> Sources | "why a family is unavailable"

Every remote address, source port, interface and own address of each family the device has
(as `questions.closed` asks), never samples: `who` holds each address with at least one new flow
the kernel accepts or forwards for sure, `unsure` the flows a rule the model cannot read decides.
A cluster-only row asks it: its sources must be the cluster, not every address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_portspec.firewall.evaluate import Decided, clip
from pytest_portspec.firewall.intervals import EMPTY, Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.questions import OPEN, describe, describe_addresses, families
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.space import DPORT, L4, SRC, with_dim
from pytest_portspec.firewall.values import address_span, format_ports


@dataclass
class Sources:
    ports: Intervals
    proto: L4
    who: dict[Family, Intervals] = field(default_factory=dict)  # addresses with a flow let in
    parts: list[tuple[Family, Decided]] = field(default_factory=list)  # those flows
    unsure: list[tuple[Family, Decided]] = field(default_factory=list)  # flows not decided

    def of(self, family: Family) -> Intervals:
        return self.who.get(family, EMPTY)

    def anyone(self) -> bool:
        return any(self.who.values())


def let_in(
    model: KernelModel, proto: L4, ports: Intervals, only: tuple[Family, ...] = (4, 6)
) -> Sources | str:
    """`only`: the families asked about (a socket's: the others reach nothing there)."""
    found = Sources(ports, proto)
    for family in (f for f in families(model) if f in only):
        decided = model.decided(family, "in", proto)
        if isinstance(decided, str):
            return decided
        space = model.space(family, "in", proto)
        for part in clip(decided, with_dim(space.all(), DPORT, ports)):
            if part.outcome in OPEN and part.definite:
                found.who[family] = found.of(family) | part.box[SRC]
                found.parts.append((family, part))
            elif part.outcome in OPEN or part.outcome == "undecided":
                found.unsure.append((family, part))
    return found


def nets_by_family(model: KernelModel, nets: tuple[str, ...]) -> dict[Family, Intervals]:
    """Networks as remote addresses of each family (the device's own addresses are no remote)."""
    found: dict[Family, Intervals] = {}
    for net in nets:
        family: Family = 6 if ":" in net else 4
        remote = model.space(family, "in", "tcp").remote
        found[family] = found.get(family, EMPTY) | (Intervals.of(address_span(net, family)) & remote)
    return found


def every_address(model: KernelModel, sources: Sources, family: Family) -> bool:
    """Whether the sources of a family are (nearly) every address: more than half of them, as
    `any address` or `any address except …` — no cluster's network is that wide."""
    remote = model.space(family, "in", sources.proto).remote
    return sources.of(family).size() * 2 > remote.size()


def flows_from(model: KernelModel, sources: Sources, family: Family, addresses: Intervals) -> str:
    """'27017,27030/tcp from any address (IPv6)'."""
    text = f"{format_ports(sources.ports)}/{sources.proto} from {addresses_text(model, family, addresses)}"
    return text + (" (IPv6)" if family == 6 else "")


def addresses_text(model: KernelModel, family: Family, addresses: Intervals) -> str:
    """Remote addresses as a reviewer reads them: the device's own addresses, never a remote, are
    filled in between their neighbours, so a rule's 198.18.40.0/24 reads as written."""
    space = model.space(family, "in", "tcp")
    own = [a for lo, hi in space.local for a in range(lo, min(hi, lo + 16) + 1)]
    filled = Intervals.merged(
        [*addresses, *((a, a) for a in own if a - 1 in addresses and a + 1 in addresses)]
    )
    return "any address" if not space.remote - filled else describe_addresses(space, filled)


def rules_for(model: KernelModel, sources: Sources, family: Family, addresses: Intervals) -> list[str]:
    """The flows from `addresses` the kernel lets in, one line per deciding rule."""
    parts = [(f, p) for f, p in sources.parts if f == family and p.box[SRC] & addresses]
    return describe(model, "in", sources.proto, parts)
