"""Drifts: named, composable changes that model what goes wrong in the field (pure).

A drift is written `NAME` or `NAME:ARGUMENT`, e.g. `stop:nginx` or `site-block:123/udp`;
`apply_drifts(plan, drifts)` returns the changed plan, or raises LabError naming the
drift that does not fit this appliance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from pytest_portspec.addresses import is_hostname
from pytest_portspec.errors import LabError
from pytest_portspec.lab.drift_kind import DriftKind, expose_loopback
from pytest_portspec.lab.drift_kind import in_port_spec as _in_port_spec
from pytest_portspec.lab.drift_kind import mentions as _mentions
from pytest_portspec.lab.drift_kind import port_proto as _port_proto
from pytest_portspec.lab.drifts_net import NET_KINDS, check_hidden
from pytest_portspec.lab.plan import MANAGEMENT_PORT, AppliancePlan, Listener
from pytest_portspec.spec.model import Proto


def _listen(plan: AppliancePlan, argument: str) -> AppliancePlan:
    where, _, process = argument.rpartition(":")
    port, proto = _port_proto(where)
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,15}", process):
        raise LabError(f"expected a process name of at most 15 characters, found {process!r}")
    if (proto, port) == ("tcp", MANAGEMENT_PORT) or any(
        (item.proto, item.port) == (proto, port) for item in plan.listeners
    ):
        raise LabError(f"{port}/{proto} is already held by a service of this appliance")
    return replace(plan, listeners=(*plan.listeners, Listener(process, proto, "0.0.0.0", port)))


def _stop(plan: AppliancePlan, process: str) -> AppliancePlan:
    if process == "sshd":
        raise LabError("stop:sshd would cut the lab's own access to the appliance")
    kept = tuple(item for item in plan.listeners if item.process != process)
    if len(kept) == len(plan.listeners):
        names = ", ".join(sorted({item.process for item in plan.listeners})) or "none"
        raise LabError(f"no service named {process!r} runs on this appliance; services: {names}")
    if not plan.dynamic_firewall:
        return replace(plan, listeners=kept)
    # the vendor's dynamic firewall closes the ports of a stopped service (those no other one holds)
    held = {(item.proto, item.port) for item in kept}
    closed = {(i.proto, i.port) for i in plan.listeners if i.process == process and i.port} - held
    commands = [
        _without_ports(c, closed) if c[:2] in (("allow", "in"), ("limit", "in")) else c
        for c in plan.ufw_commands
    ]
    return replace(plan, listeners=kept, ufw_commands=tuple(c for c in commands if c))


def _without_ports(command: tuple[str, ...], closed: set[tuple[Proto, int]]) -> tuple[str, ...]:
    """An inbound rule without the closed ports (empty when none is left)."""
    if "comment" in command or "port" not in command or "proto" not in command:
        return command
    proto = command[command.index("proto") + 1]
    at = command.index("port") + 1
    parts = [
        p
        for p in command[at].split(",")
        if not any(proto == c_proto and _in_port_spec(port, p) for c_proto, port in closed)
    ]
    if not parts:
        return ()
    return (*command[:at], ",".join(parts), *command[at + 1 :])


def _path_block(plan: AppliancePlan, argument: str) -> AppliancePlan:
    peer, _, where = argument.partition(":")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", peer):
        raise LabError(f"expected PEER:PORT/PROTO with PEER a node of the site, found {argument!r}")
    port, proto = _port_proto(where)
    return replace(plan, path_blocks=(*plan.path_blocks, (peer, proto, port)))


def _ufw_allow(plan: AppliancePlan, argument: str) -> AppliancePlan:
    port, proto = _port_proto(argument)
    return replace(plan, ufw_commands=(*plan.ufw_commands, ("allow", "in", f"{port}/{proto}")))


def _ufw_delete(plan: AppliancePlan, argument: str) -> AppliancePlan:
    port, proto = _port_proto(argument)
    kept = tuple(
        c for c in plan.ufw_commands if not (c[0] in ("allow", "limit") and _mentions(c, port, proto))
    )
    if len(kept) == len(plan.ufw_commands):
        raise LabError(f"no ufw rule of this appliance allows {argument}")
    return replace(plan, ufw_commands=kept)


def _sudo_password(plan: AppliancePlan, argument: str) -> AppliancePlan:
    return replace(plan, sudo_password=True)


def _ufw_missing(plan: AppliancePlan, argument: str) -> AppliancePlan:
    return replace(plan, ufw_missing=True)


def _ufw_inactive(plan: AppliancePlan, argument: str) -> AppliancePlan:
    return replace(plan, ufw_enabled=False)


def _ufw_default(direction: str) -> Callable[[AppliancePlan, str], AppliancePlan]:
    def apply(plan: AppliancePlan, policy: str) -> AppliancePlan:
        if policy not in ("allow", "deny", "reject"):
            raise LabError(f"expected allow, deny or reject, found {policy!r}")
        changed = tuple(
            ("default", policy, direction) if c[:1] == ("default",) and c[2] == direction else c
            for c in plan.ufw_commands
        )
        return replace(plan, ufw_commands=changed)

    return apply


def _site_block(plan: AppliancePlan, argument: str) -> AppliancePlan:
    port, proto = _port_proto(argument)
    return replace(plan, site_blocks=(*plan.site_blocks, (proto, port)))


def _forward(plan: AppliancePlan, argument: str) -> AppliancePlan:
    where, _, to = argument.rpartition(":")
    port, proto = _port_proto(where)
    if not to.isdigit() or not 1 <= int(to) <= 65535:
        raise LabError(f"expected PORT/PROTO:TO-PORT such as 8080/tcp:443, found {argument!r}")
    return replace(plan, forwards=(*plan.forwards, (proto, port, int(to))))


def _dns_fail(plan: AppliancePlan, host: str) -> AppliancePlan:
    host = host.lower()
    if not is_hostname(host) or host not in plan.hosts:
        known = ", ".join(plan.hosts) or "none"
        raise LabError(f"{host!r} is not a host name this appliance resolves; hosts: {known}")
    return replace(plan, dns_failures=(*plan.dns_failures, host))


def _expose(plan: AppliancePlan, argument: str) -> AppliancePlan:
    return expose_loopback(plan, argument, "0.0.0.0")


KINDS = {
    kind.name: kind
    for kind in (
        DriftKind(
            "listen", "PORT/PROTO:PROCESS", "an undocumented service listens on all addresses", _listen
        ),
        DriftKind(
            "stop",
            "PROCESS",
            "a documented service is down (its sockets are gone; with a dynamic firewall, its ufw rules too)",
            _stop,
        ),
        DriftKind(
            "ufw-allow", "PORT/PROTO", "an extra ufw rule allows inbound traffic to the port", _ufw_allow
        ),
        DriftKind(
            "ufw-delete",
            "PORT/PROTO",
            "the documented ufw rules for the port are deleted, inbound and outbound "
            f"(the lab's management rule for {MANAGEMENT_PORT}/tcp stays)",
            _ufw_delete,
        ),
        DriftKind("ufw-inactive", "", "ufw is disabled", _ufw_inactive),
        DriftKind(
            "ufw-default-in",
            "allow|deny|reject",
            "ufw's default incoming policy changed",
            _ufw_default("incoming"),
        ),
        DriftKind(
            "ufw-default-out",
            "allow|deny|reject",
            "ufw's default outgoing policy changed",
            _ufw_default("outgoing"),
        ),
        DriftKind(
            "site-block",
            "PORT/PROTO",
            "the site firewall drops the appliance's outbound traffic to the port",
            _site_block,
        ),
        DriftKind(
            "path-block",
            "PEER:PORT/PROTO",
            "the site firewall between the nodes drops this node's traffic to PEER's port "
            "(clusters: portspec lab up --inventory)",
            _path_block,
        ),
        DriftKind(
            "forward",
            "PORT/PROTO:TO-PORT",
            "a nat rule redirects the port to another (as a container's published port): ufw never shows it",
            _forward,
        ),
        DriftKind("dns-fail", "HOST", "the site's DNS does not resolve the host name", _dns_fail),
        DriftKind(
            "expose", "PORT", "an internal service listens on all addresses instead of loopback", _expose
        ),
        DriftKind(
            "sudo-password",
            "",
            "sudo asks the lab user for a password (kept in the appliance's sudo-password file)",
            _sudo_password,
        ),
        DriftKind("ufw-missing", "", "ufw is not installed on the appliance's PATH", _ufw_missing),
        *NET_KINDS,
    )
}


def usage(kind: DriftKind) -> str:
    return f"{kind.name}:{kind.argument}" if kind.argument else kind.name


def apply_drifts(plan: AppliancePlan, drifts: Sequence[str]) -> AppliancePlan:
    for drift in drifts:
        name, _, argument = drift.partition(":")
        kind = KINDS.get(name)
        if kind is None:
            raise LabError(f"unknown drift {drift!r}; drifts: {', '.join(usage(k) for k in KINDS.values())}")
        if bool(argument) != bool(kind.argument):
            raise LabError(f"drift {drift!r}: expected {usage(kind)}")
        try:
            plan = kind.apply(plan, argument)
        except LabError as exc:
            raise LabError(f"drift {drift!r}: {exc}") from None
    check_hidden(plan)  # a hidden port takes its traffic from whatever a later drift put there
    return replace(plan, drifts=(*plan.drifts, *drifts))
