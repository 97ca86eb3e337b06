"""Drifts of the network stack the plugin must see through (pure): a dual-stack socket, an
IPv6-only ufw rule, a UDP service that answers junk, port forwards (Docker's iptables DNAT and
an nftables one), the SmartServer set up as the vendor's own `ufw status numbered` listing, and
a listener in a namespace of its own that only a scan from outside can see (hidden-listener).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import cast

from pytest_portspec.errors import LabError
from pytest_portspec.lab.drift_kind import DriftKind, expose_loopback, mentions, port_number, port_proto
from pytest_portspec.lab.plan import MANAGEMENT_PORT, AppliancePlan, Listener, NatForward
from pytest_portspec.spec.model import Proto

JUNK_PROCESS = "udp-junk"
LON_PROCESS = "echlte"
LON_TCP_PORTS = (2541, *range(1628, 1646))  # the table's LON rows (lon-ip70, lon)
# The vendor's `ufw status numbered` example: [3] 2541/udp ALLOW IN, [4] 2541/udp ALLOW OUT,
# [17] 1628/udp ALLOW IN, [18] 1628/udp ALLOW OUT, and no TCP rule for LON.
LON_LISTING = (
    ("allow", "2541/udp"),
    ("allow", "out", "2541/udp"),
    ("allow", "1628/udp"),
    ("allow", "out", "1628/udp"),
)


def _expose_dual(plan: AppliancePlan, argument: str) -> AppliancePlan:
    return expose_loopback(plan, argument, "::")


def _ufw_allow6(plan: AppliancePlan, argument: str) -> AppliancePlan:
    port, proto = port_proto(argument)
    # ufw writes a rule whose source is an IPv6 network to user6.rules only
    rule = ("allow", "in", "from", "::/0", "to", "any", "port", str(port), "proto", proto)
    return replace(plan, ufw_commands=(*plan.ufw_commands, rule))


def _udp_junk(plan: AppliancePlan, argument: str) -> AppliancePlan:
    port = port_number(argument)
    if any((item.proto, item.port) == ("udp", port) for item in plan.listeners):
        raise LabError(f"{port}/udp is already held by a service of this appliance")
    junk = Listener(JUNK_PROCESS, "udp", "0.0.0.0", port, reply="junk")
    return replace(plan, listeners=(*plan.listeners, junk))


def _nat_forward(kind: str) -> Callable[[AppliancePlan, str], AppliancePlan]:
    def apply(plan: AppliancePlan, argument: str) -> AppliancePlan:
        where, _, to = argument.rpartition(":")
        port, proto = port_proto(where)
        if (proto, port) == ("tcp", MANAGEMENT_PORT):
            raise LabError(f"forwarding {MANAGEMENT_PORT}/tcp would cut the lab's own access")
        forward = NatForward(kind, proto, port, port_number(to))
        return replace(plan, nat_forwards=(*plan.nat_forwards, forward))

    return apply


def _vendor_lon_listing(plan: AppliancePlan, argument: str) -> AppliancePlan:
    tcp = [i for i in plan.listeners if i.process == LON_PROCESS and i.proto == "tcp"]
    if not tcp:
        raise LabError(f"no LON service ({LON_PROCESS} on TCP) runs on this appliance")
    udp = [Listener(LON_PROCESS, "udp", "0.0.0.0", port) for port in (2541, 1628)]
    held = {(i.proto, i.port) for i in plan.listeners if i not in tcp}
    listeners = [i for i in plan.listeners if i not in tcp]
    listeners += [i for i in udp if (i.proto, i.port) not in held]
    commands = [
        c
        for c in plan.ufw_commands
        if not (c[0] in ("allow", "limit") and any(mentions(c, p, "tcp") for p in LON_TCP_PORTS))
    ]
    return replace(plan, listeners=tuple(listeners), ufw_commands=(*commands, *LON_LISTING))


def _hidden_listener(plan: AppliancePlan, argument: str) -> AppliancePlan:
    match = re.fullmatch(r"(\d{1,5})(?:/(tcp|udp))?", argument)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise LabError(f"expected PORT or PORT/PROTO such as 8443 or 8443/udp, found {argument!r}")
    port, proto = int(match.group(1)), cast(Proto, match.group(2) or "tcp")
    if (proto, port) == ("tcp", MANAGEMENT_PORT):
        raise LabError(f"hiding {MANAGEMENT_PORT}/tcp would cut the lab's own access to the appliance")
    if (proto, port) in plan.hidden_listeners:
        raise LabError(f"{port}/{proto} is already hidden")
    taken = _shadowed(plan, proto, port)
    if taken:
        raise LabError(f"{port}/{proto} is already {taken}")
    return replace(plan, hidden_listeners=(*plan.hidden_listeners, (proto, port)))


def _shadowed(plan: AppliancePlan, proto: Proto, port: int) -> str:
    """What of the appliance's own a hidden port would take the traffic from ("" for nothing): the tc
    redirect comes before the appliance's sockets and nat rules, so the drifts would not add up."""
    if any((item.proto, item.port) == (proto, port) for item in plan.listeners):
        return "held by a service of this appliance"
    forwarded = {(p, f) for p, f, _ in plan.forwards} | {(f.proto, f.port) for f in plan.nat_forwards}
    return "forwarded by a nat rule of this appliance" if (proto, port) in forwarded else ""


def check_hidden(plan: AppliancePlan) -> None:
    """After every drift: a later drift must not put a socket or a forward on a hidden port either."""
    for proto, port in plan.hidden_listeners:
        taken = _shadowed(plan, proto, port)
        if taken:
            raise LabError(f"drift 'hidden-listener:{port}/{proto}': {port}/{proto} is also {taken}")


NET_KINDS = (
    DriftKind(
        "expose-dual",
        "PORT",
        "an internal service listens on :: with IPV6_V6ONLY off (ss: *:PORT, IPv4 and IPv6) "
        "instead of loopback",
        _expose_dual,
    ),
    DriftKind(
        "ufw-allow6",
        "PORT/PROTO",
        "an extra ufw rule allows inbound traffic to the port over IPv6 only (from ::/0: user6.rules)",
        _ufw_allow6,
    ),
    DriftKind(
        "udp-junk",
        "PORT",
        f"a service ({JUNK_PROCESS}) answers any datagram to PORT/udp with junk bytes, "
        "no reply of the port's protocol",
        _udp_junk,
    ),
    DriftKind(
        "docker-forward",
        "PORT/PROTO:TO-PORT",
        "a port published as Docker does (nat PREROUTING -> DOCKER chain -> DNAT to the appliance's "
        "management address, port TO-PORT): ufw never shows it",
        _nat_forward("docker"),
    ),
    DriftKind(
        "docker-forward-local",
        "PORT/PROTO:TO-PORT",
        "a port Docker publishes on 127.0.0.1 only (the DNAT matches -d 127.0.0.1/32): "
        "not reachable from outside",
        _nat_forward("docker-local"),
    ),
    DriftKind(
        "nft-forward",
        "PORT/PROTO:TO-PORT",
        "an nftables table of its own (ip portspec-nat) DNATs the port to the management address's TO-PORT",
        _nat_forward("nft"),
    ),
    DriftKind(
        "vendor-lon-listing",
        "",
        "LON as the vendor's own `ufw status numbered` example: echlte on 1628/udp and 2541/udp, "
        "ufw allow (in and out) 2541/udp and 1628/udp, no TCP LON rule or listener",
        _vendor_lon_listing,
    ),
    DriftKind(
        "hidden-listener",
        "PORT[/PROTO]",
        "a listener in a network namespace of its own on the appliance, reached by a tc redirect on "
        "eth0 (IPv4, TCP unless /udp): no socket, firewall rule or nat rule of the appliance shows it",
        _hidden_listener,
    ),
)
