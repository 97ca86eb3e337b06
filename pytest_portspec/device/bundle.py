"""`SPEC@bundle:PATH`: judge offline evidence, a bundle that `portspec capture-script` made on the device.

The bundle answers the engine's commands from what the capture script recorded there:

    the state command      its `state` section: the snapshot's section format, untouched
    the proof command      its `fingerprint-after` section, the fingerprint the script took again
                           after its probes: "unchanged" says the capture's own reads and probes
                           changed nothing between its start and its end, not that the device is
                           unchanged now (nobody can say that of a capture)
    the outbound probes    its probe report, for the probes asked that the capture ran, in the
                           format asked (python's JSON, or the shell runners' lines)

Nothing is sent anywhere: the inbound items are skipped (not verifiable from a capture), and an
outbound probe the capture did not run is unverifiable (`offline`, contract.py). The bundle is
read and checked (bundle_format.py) at the first command: a bad one is the device's error.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from pytest_portspec.device import state_command as snap
from pytest_portspec.device.bundle_format import Bundle, read_bundle
from pytest_portspec.device.contract import CommandResult, Offline, Unconnected
from pytest_portspec.errors import DeviceError
from pytest_portspec.probe import payloads
from pytest_portspec.probe.model import SHELL_TAG, OutboundProbe, ProbeResult
from pytest_portspec.probe.results import parse_results

NOT_VERIFIABLE = "not verifiable from a capture: the tester's inbound probes need the live device"
NOT_CAPTURED = (
    "not in the capture: capture-script probes only the destinations the spec names and those given "
    "to it with --dest (run it again with --dest KEY=HOST for this one)"
)
SCHEME = "bundle"


@dataclass
class BundleTransport(Unconnected):
    """A capture as a device (module docstring); `path` is the bundle file."""

    label: str
    path: str
    commands_run: int = 0
    offline: Offline | None = None  # set once the bundle is read (contract.py)
    bundle: Bundle | None = field(default=None, repr=False)
    captured: dict[str, ProbeResult] = field(default_factory=dict, repr=False)
    aborted: str | None = None
    connect_allowance: float = 0.0
    host_key_policy: str | None = None  # nothing is connected to: no host key
    host_key_verified: bool | None = None
    host_key_note: str | None = None

    def load(self) -> Bundle:
        if self.bundle is None:
            bundle = read_bundle(self.path, self.label)
            self.captured = {r.id: r for r in captured_results(bundle, self.label)}
            self.offline = Offline(NOT_VERIFIABLE, frozenset(self.captured), NOT_CAPTURED, record(bundle))
            self.bundle = bundle
        return self.bundle

    def run(
        self, command: str, stdin: str | None = None, timeout: float = 60.0, *, name: str = "a remote command"
    ) -> CommandResult:
        if self.aborted is not None:
            raise DeviceError(self.label, self.aborted)
        self.commands_run += 1
        sections = self.load().sections
        if f"{snap.MARK}probe-tools" in command:
            return CommandResult(0, sections["state"], "", 0.0)
        if f"{snap.MARK}fingerprint" in command:
            return CommandResult(0, sections["fingerprint-after"], "", 0.0)
        if command.startswith("python3 -I -c ") and stdin is not None:
            return CommandResult(0, self._python_answer(stdin), "", 0.0)
        if command.startswith("sh -c ") and SHELL_TAG in command:
            return CommandResult(0, self._shell_answer(command), "", 0.0)
        raise DeviceError(
            self.label, f"a capture cannot answer {name}: it holds only what capture-script ran"
        )

    def _python_answer(self, stdin: str) -> str:
        asked = json.loads(stdin).get("probes", [])
        results = [self.captured.get(str(p.get("id"))) for p in asked if isinstance(p, dict)]
        records = [_record(r) for r in results if r is not None]
        return (
            json.dumps({"program": payloads.PROGRAM, "version": payloads.VERSION, "results": records}) + "\n"
        )

    def _shell_answer(self, command: str) -> str:
        """The shell runners' lines for the probes the command lists (`probe INDEX HOST KIND PROTO PORT`)."""
        by_target: dict[tuple[str, str, int], ProbeResult] = {
            (r.host, r.proto, r.port): r for r in reversed(list(self.captured.values()))
        }
        lines = []
        for line in shlex.split(command)[-1].splitlines():
            words = shlex.split(line) if line.startswith("probe ") else []
            if len(words) == 7 and words[1].isdigit() and words[5].isdigit():
                found = by_target.get((words[2], words[4], int(words[5])))
                if found is not None:
                    lines.append(_shell_line(words[1], found))
        return "".join(f"{line}\n" for line in lines) + f"{SHELL_TAG} end\n"


def captured_results(bundle: Bundle, label: str) -> list[ProbeResult]:
    """The outbound probes the capture ran and what each found (checked as a live report is)."""
    if "outbound-probes" not in bundle.sections:
        return []
    try:
        document = json.loads(bundle.sections["outbound-probes"])
        probes = [
            OutboundProbe(p["id"], p["host"], p["proto"], p["port"], p.get("protocol")) for p in document
        ]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # untrusted text
        raise DeviceError(
            label, f"the bundle's outbound-probes section is not a probe list ({exc})"
        ) from None
    runner = bundle.sections.get("outbound-runner", "").strip()
    if runner not in ("python", "bash", "nc"):
        return []  # no probe tool on the device: the engine says so from the captured probe-tools section
    return parse_results(
        "python" if runner == "python" else "shell", bundle.sections.get("outbound", ""), probes
    )


def _record(result: ProbeResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "host": result.host,
        "proto": result.proto,
        "port": result.port,
        "outcome": result.outcome,
        "address": result.address,
        "addresses": list(result.addresses),
        "seconds": result.seconds,
        "detail": result.detail,
    }


def _shell_line(index: str, r: ProbeResult) -> str:
    detail = " ".join(r.detail.split()) or "-"
    addresses = ",".join(r.addresses) or "-"
    fields = [SHELL_TAG, index, r.outcome, r.address or "-", addresses, str(round(r.seconds)), detail]
    return " ".join(fields)


def record(bundle: Bundle) -> dict[str, str]:
    """What the results file keeps of a capture: when, where, by whom, and the bundle's hash."""
    meta = bundle.meta
    return {
        "captured_at": meta.get("captured_at", "unknown"),
        "captured_on": meta.get("captured_on", "unknown"),
        "captured_by": meta.get("captured_by", "unknown"),
        "bundle_sha256": bundle.sha256,
    }
