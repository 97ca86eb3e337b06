"""A device reached through jump hosts (or a ProxyCommand): its socket, and where its inbound probes go.

    device_socket(route, chain)            the last hop's direct-tcpip channel, or the ProxyCommand
    JumpRoute.inbound(address, probes, t)  what the engine sends instead of the tester's probes

The tester's own inbound probes would leave from the tester, not from the site the device is in,
so they would test another path (a blocked port's silence there would pass a row falsely). So a
device reached through jump hosts gets no probe of the tester's: with --inbound-from jump they are
sent from the last jump host, over its SSH connection, by the same read-only probe program the
outbound probes run on the device (probe/outbound.py: python3, else bash /dev/tcp, else nc), to
the device's host as the jump host reaches it; every result says "from jump host X (address)".
Otherwise every inbound probe is "unverifiable" with the reason, so its item is skipped, never
passed. A ProxyCommand's hop is not ours to run commands on: its inbound items are always skipped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import paramiko

from pytest_portspec.device.deadline import outbound_timeout
from pytest_portspec.device.exchange import OUTPUT_CAP, Broken, Late, Overflow, exchange
from pytest_portspec.device.jump import Chain, JumpFailed, ProxyCommand
from pytest_portspec.device.route import Route
from pytest_portspec.errors import DeviceError
from pytest_portspec.probe import outbound
from pytest_portspec.probe.inbound import InboundProbe
from pytest_portspec.probe.model import OutboundProbe, ProbeResult
from pytest_portspec.text import clip, printable

TOOLS_TIMEOUT = 30.0  # seconds for asking the jump host which probe program it can run


def jump_probe_allowance(probe_timeout: float) -> float:
    """Seconds the jump host's two commands (its tools, then the probes) may take."""
    return TOOLS_TIMEOUT + outbound_timeout(probe_timeout)


def device_socket(route: Route, chain: Chain | None) -> paramiko.Channel | paramiko.ProxyCommand | None:
    """The socket the device's SSH connection runs over; None: a TCP connection of its own."""
    if chain is not None:
        return chain.channel_to(route.host, route.port)
    if route.proxy_command is None:
        return None
    try:
        return ProxyCommand(route.proxy_command)
    except (OSError, ValueError) as exc:
        why = clip(printable(str(exc))) or type(exc).__name__
        raise JumpFailed(f"the ProxyCommand of {route.proxy_where} cannot be started: {why}") from None


@dataclass
class JumpRoute:
    """What the engine reads of a transport that reaches its device through jump hosts."""

    label: str  # the device's, for its errors
    route: Route
    chain: Chain | None
    from_jump: bool  # --inbound-from jump
    channel_timeout: float = 15.0

    @property
    def through(self) -> str:
        return self.route.through

    @property
    def hops(self) -> tuple[str, ...]:
        return tuple(h.label for h in self.route.hops)

    def skip_reason(self) -> str:
        head = f"reached through {self.through}: inbound probes would leave from this tester, not the site"
        if self.route.hops:
            return f"{head}; pass --inbound-from jump to send them from the jump host"
        return (
            f"{head}, and portspec runs nothing on a ProxyCommand's hop (use ProxyJump, --inbound-from jump)"
        )

    def inbound(self, address: str, probes: Sequence[InboundProbe], timeout: float) -> list[ProbeResult]:
        """The probes' results: sent from the last jump host, or unverifiable with the reason."""
        if not self.from_jump or self.chain is None:
            return [_unverified(p, address, self.skip_reason()) for p in probes]
        asked = [OutboundProbe(p.id, address, p.proto, p.port, p.protocol) for p in probes]
        hop = self.chain.last
        tools = self._run(outbound.tools_command(), None, TOOLS_TIMEOUT, "the jump host's tools command")
        runner = outbound.choose_runner(tools)
        if runner is None:
            why = (
                f"jump host {hop.label} has no python3, bash with /dev/tcp or nc to send inbound probes with"
            )
            return [_unverified(p, address, why) for p in probes]
        limit = outbound_timeout(timeout)
        if runner == "python":
            command, stdin = outbound.python_command(asked, timeout)
            found = outbound.parse_results(
                "python", self._run(command, stdin, limit, "the jump host's probes"), asked
            )
        else:
            command = outbound.shell_command(asked, timeout, tool=runner)
            found = outbound.parse_results(
                "shell", self._run(command, None, limit, "the jump host's probes"), asked
            )
        where = f"from jump host {hop.label} ({hop.host})"
        return [replace(r, detail=f"{where}: {r.detail}") for r in found]

    def _run(self, command: str, stdin: str | None, timeout: float, name: str) -> str:
        """One read-only command on the last jump host, bounded as the device's are (exchange.py)."""
        assert self.chain is not None
        hop, client = self.chain.last, self.chain.clients[-1]
        transport = client.get_transport()
        deadline = time.monotonic() + timeout
        try:
            if transport is None:
                raise EOFError("the connection is closed")
            channel = transport.open_session(timeout=self.channel_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeviceError(self.label, f"jump host {hop.label}: cannot run {name}: {_said(exc)}") from None
        try:
            return exchange(channel, command, stdin, deadline, OUTPUT_CAP, transport.is_active)[1]
        except Late:
            raise DeviceError(
                self.label, f"jump host {hop.label}: {name} did not finish within {timeout:g} s"
            ) from None
        except (Overflow, Broken, paramiko.SSHException, OSError, EOFError) as exc:
            raise DeviceError(self.label, f"jump host {hop.label}: {name} failed: {_said(exc)}") from None
        finally:
            channel.close()


def _unverified(probe: InboundProbe, address: str, why: str) -> ProbeResult:
    return ProbeResult(probe.id, address, probe.proto, probe.port, "unverifiable", None, (), 0.0, why)


def _said(exc: BaseException) -> str:
    return clip(printable(str(exc))) or type(exc).__name__
