"""What a drift kind is, and how drift arguments are read (pure; shared by the drift modules)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import cast

from pytest_portspec.errors import LabError
from pytest_portspec.lab.plan import AppliancePlan
from pytest_portspec.spec.model import Proto


@dataclass(frozen=True)
class DriftKind:
    name: str
    argument: str  # how the argument is written, "" for none
    description: str
    apply: Callable[[AppliancePlan, str], AppliancePlan]


def port_proto(argument: str) -> tuple[int, Proto]:
    match = re.fullmatch(r"(\d{1,5})/(tcp|udp)", argument)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise LabError(f"expected PORT/PROTO such as 8080/tcp, found {argument!r}")
    return int(match.group(1)), cast(Proto, match.group(2))


def port_number(argument: str) -> int:
    if not argument.isdigit() or not 1 <= int(argument) <= 65535:
        raise LabError(f"expected a port number 1-65535, found {argument!r}")
    return int(argument)


def mentions(command: tuple[str, ...], port: int, proto: str) -> bool:
    if "comment" in command:  # the lab's management rule stays, or the lab loses the appliance
        return False
    if f"{port}/{proto}" in command:
        return True
    if "proto" not in command or command[command.index("proto") + 1] != proto or "port" not in command:
        return False
    spec = command[command.index("port") + 1]
    return any(in_port_spec(port, part) for part in spec.split(","))


def in_port_spec(port: int, part: str) -> bool:
    lo, _, hi = part.partition(":")
    return int(lo) <= port <= int(hi or lo)


def expose_loopback(plan: AppliancePlan, argument: str, address: str) -> AppliancePlan:
    """The internal (loopback) services on port ARGUMENT listen on `address` instead."""
    port = port_number(argument)
    hits = [item for item in plan.listeners if item.port == port and item.address == "127.0.0.1"]
    if not hits:
        raise LabError(f"no internal (loopback) service listens on port {port}")
    listeners = tuple(replace(item, address=address) if item in hits else item for item in plan.listeners)
    return replace(plan, listeners=listeners)
