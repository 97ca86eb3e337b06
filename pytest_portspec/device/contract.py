"""What the runner needs from whatever reaches a device: the Transport protocol.

A transport runs the plugin's few shell commands on the device and hands back what they printed;
everything else (what to run, what the answers mean) is the runner's. What it must keep:

- Commands are read-only: the runner sends only reads (snapshot.py, privilege.py, the outbound
  probes); a transport runs each as given, once (a retry only before the command started, e.g. an
  unconfirmed session), with `stdin` written to it, and counts it in `commands_run`.
- The answer is untrusted text: the state command's stdout is the `==portspec==` section format of
  snapshot.py (`==portspec==NAME`, the section's text, `==portspec==rc=N`), which a transport passes
  through untouched; it never interprets or repairs it.
- Every failure to reach or use the device is a DeviceError (errors.py) with one printable sentence
  naming the device, never another exception and never a partial CommandResult.
- Deadlines and caps: `timeout` is the TOTAL time one command may take (not per read); the answer is
  bounded in size (ssh.py: 8 MiB of stdout and stderr together); `connect_allowance` is the part of
  the device's deadline (deadline.py) reaching the device may take; after `abort(reason)` every
  command fails at once with that reason (the device's deadline passed, its connection is closed).
- Where the device was reached: `endpoint()` before connecting, `connection()` after (the address the
  tester's inbound probes go to, its management port, the tester's own address on that path); both
  None for a transport with no network connection (the fake).
- The host key: `host_key_policy` (strict, accept-new, ignore; None when not over SSH),
  `host_key_verified` and `host_key_note` say what was done, `host_key_fingerprint()` what was seen.
- Offline evidence (optional): a transport that answers from a capture instead of a live device
  (bundle.py) has an `offline` attribute, an Offline once its capture is read (None before, and
  for every live transport; the engine reads it with `offline_of`, so other transports need not
  have it). The engine then sends no probe of the tester's: every inbound item is skipped with its
  reason, and the outbound probes the capture did not run are "unverifiable" (skipped, never passed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pytest_portspec.probe.inbound import InboundProbe
from pytest_portspec.probe.model import OutboundProbe, ProbeResult, Proto


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class Connection:
    """Where an open connection goes, as its socket says."""

    peer_address: str  # the device's address: inbound probes go there
    peer_port: int  # its management port
    local_address: str  # the tester's own address on the path to the device


@dataclass(frozen=True)
class Offline:
    """What a capture can and cannot answer (module docstring): no tester's probes, only the
    outbound probes it ran; `record` is what the results file keeps of the capture."""

    reason: str  # why the tester's inbound probes cannot be made: their items are skipped with it
    captured: frozenset[str]  # ids of the outbound probes the capture ran
    not_captured: str  # why another outbound probe has no result
    record: Mapping[str, str] = field(default_factory=dict)  # captured_at, captured_on, ...

    def inbound(self, probes: Sequence[InboundProbe], address: str) -> dict[str, ProbeResult]:
        return {p.id: _unverified(p.id, address, p.proto, p.port, self.reason) for p in probes}

    def outbound(self, probes: Sequence[OutboundProbe]) -> tuple[list[OutboundProbe], dict[str, ProbeResult]]:
        """(the probes to ask the capture for, the others as unverifiable results)."""
        missing = {
            p.id: _unverified(p.id, p.host, p.proto, p.port, self.not_captured)
            for p in probes
            if p.id not in self.captured
        }
        return [p for p in probes if p.id not in missing], missing


def offline_of(transport: object) -> Offline | None:
    """The transport's Offline, None for a live one (the attribute is optional: users' own transports
    written before it need not have it)."""
    found = getattr(transport, "offline", None)
    return found if isinstance(found, Offline) else None


def _unverified(probe_id: str, host: str, proto: Proto, port: int, why: str) -> ProbeResult:
    return ProbeResult(probe_id, host, proto, port, "unverifiable", None, (), 0.0, why)


@runtime_checkable
class Transport(Protocol):
    """One device's access (module docstring). Attributes are read-only to the runner."""

    @property
    def commands_run(self) -> int:
        """Remote commands run so far (the report proves how few a device took)."""

    @property
    def connect_allowance(self) -> float:
        """Seconds reaching the device may take at most (0 when there is nothing to reach)."""

    @property
    def host_key_policy(self) -> str | None: ...

    @property
    def host_key_verified(self) -> bool | None:
        """True: the host key matched known_hosts; False: accepted unverified; None: not connected."""

    @property
    def host_key_note(self) -> str | None:
        """Why the host key was not verified, for the report."""

    def run(
        self, command: str, stdin: str | None = None, timeout: float = 60.0, *, name: str = "a remote command"
    ) -> CommandResult:
        """Run one read-only command within `timeout` seconds in all; `name` is how errors call it."""

    def endpoint(self) -> tuple[str, int] | None:
        """The host (or address) and port the transport reaches, known without connecting."""

    def connection(self) -> Connection | None:
        """Connect if not connected yet (a DeviceError when the device cannot be reached) and say where."""

    def host_key_fingerprint(self) -> str | None:
        """The device's host key as "TYPE SHA256:..." once connected."""

    def abort(self, reason: str) -> None:
        """Close for good: every later command is a DeviceError with `reason`."""

    def close(self) -> None:
        """Close the connection (a later command may open a new one)."""


class Unconnected:
    """What every transport without a connection answers the same way (the fake, a capture): no
    endpoint, no connection, no host key, nothing to close; after `abort` every command fails."""

    aborted: str | None = None

    def endpoint(self) -> tuple[str, int] | None:
        return None

    def connection(self) -> Connection | None:
        return None

    def host_key_fingerprint(self) -> str | None:
        return None

    def abort(self, reason: str) -> None:
        self.aborted = reason

    def close(self) -> None:
        pass
