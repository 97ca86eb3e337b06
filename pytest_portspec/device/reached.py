"""How the engine asks a transport whether it reaches its device through jump hosts (no paramiko here).

A transport that reaches its device through jump hosts or a ProxyCommand (ssh.py, jump_inbound.py)
has a `jump` attribute, a Reached known before connecting: the engine then sends no probe of the
tester's to the device, and asks `inbound` instead (from the jump host, or skipped with the reason).
The attribute is optional: other transports need not have it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pytest_portspec.probe.inbound import InboundProbe
from pytest_portspec.probe.model import ProbeResult


@runtime_checkable
class Reached(Protocol):
    @property
    def through(self) -> str:
        """E.g. "jump host admin@bastion:22", "jump hosts a:22, b:22", "the ProxyCommand of FILE:LINE"."""

    @property
    def hops(self) -> tuple[str, ...]:
        """The jump hosts' labels, first first (none for a ProxyCommand)."""

    def inbound(self, address: str, probes: Sequence[InboundProbe], timeout: float) -> list[ProbeResult]:
        """One result per probe, in order: sent from the jump host, or unverifiable with the reason."""


def jump_of(transport: object) -> Reached | None:
    found = getattr(transport, "jump", None)
    return found if isinstance(found, Reached) else None
