"""Does a device's ufw permit some traffic? First-match semantics over the parsed state (pure).

    decide(state, Packet(direction="in", proto="tcp", port=502)) -> UfwVerdict

Order, as ufw's chains evaluate it: ufw inactive (everything passes) -> the implicit
accepts of ufw's before.rules (loopback; DHCP client replies; mDNS/UPnP multicast) ->
the user rules of the packet's family (v4 or v6) in order, first match wins -> the
default policy of the direction. A rule that only covers part of the traffic asked
about (restricted to some sources/destinations or to one interface, when the packet
does not say which) does not decide; it is reported in `partial` and evaluation goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_portspec.parse.ufw import UfwRule, UfwState


@dataclass(frozen=True)
class Packet:
    direction: Literal["in", "out"]
    proto: Literal["tcp", "udp"]
    port: int  # destination port
    remote: str | None = None  # source address (in) or destination address (out); None = anyone
    interface: str | None = None  # interface it crosses; None = any non-loopback interface
    v6: bool = False
    sport: int | None = None  # source port, when known (DHCP replies: 67 -> 68)


@dataclass(frozen=True)
class UfwVerdict:
    permitted: bool
    rule: UfwRule | None  # the deciding user rule; None when ufw is inactive, a before.rules accept or the default decided
    decided_by: Literal["inactive", "before-rules", "rule", "default"]
    reason: str  # one sentence for the report: "rule 22/tcp ALLOW IN Anywhere", "default deny (incoming)"
    partial: tuple[UfwRule, ...] = ()  # earlier matching rules that only cover part of the traffic
    limited: bool = False  # permitted by a LIMIT rule (rate-limited)


def decide(state: UfwState, packet: Packet) -> UfwVerdict:
    raise NotImplementedError
