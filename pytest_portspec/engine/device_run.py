"""One device's run: a few batched remote commands, probes, verdicts, and the read-only proof.

1. snapshot   (one command; root reads by sudo, privilege.py): ufw state and rules, sockets,
              resolver, time servers, tools, and a fingerprint of ufw's files and the iptables rules
2. probes     (one command, as the SSH user): every outbound probe at once
3. proof      (one command, root reads by sudo, at the end): the fingerprint again; any change is an error

The tester's inbound probes do not wait for the snapshot: those whose ports it cannot change
start with the run, so their timeout (a blocked port never answers) overlaps the SSH connection
and the commands; the few that need the snapshot (a configurable row's port, found from its
listener) follow it.

The device is reached only through the transport contract (transports/contract.py). Deadlines:
every remote command has a total deadline (the transport's), and the whole run of one device has
one too (deadline.py), after which the device is an error and its connection is closed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from pytest_portspec.checks import judge
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.reach import inbound_probes, outbound_probes
from pytest_portspec.checks.readings import ReadingChoice, probes_of_every_reading
from pytest_portspec.checks.rules import RuleExplanation, explain_rules
from pytest_portspec.checks.verdict import Check, Verdict
from pytest_portspec.device import privilege
from pytest_portspec.device import state_command as snap
from pytest_portspec.device.contract import CommandResult, Transport, offline_of
from pytest_portspec.device.deadline import STATE_TIMEOUT, run_within
from pytest_portspec.device.deadline import device_deadline as deadline_for
from pytest_portspec.device.reached import jump_of
from pytest_portspec.engine.facts import facts_from_sections
from pytest_portspec.engine.probing import EarlyInbound, NoProbeTool, canonical, resolved, run_outbound
from pytest_portspec.engine.scan_step import (
    DeviceScan,
    documented_udp,
    named_udp,
    scan_allowance,
    scan_facts,
    udp_targets,
)
from pytest_portspec.engine.snapshot_only import state_sections
from pytest_portspec.engine.tester_guard import refuse
from pytest_portspec.errors import DeviceError
from pytest_portspec.firewall.agreement import Finding, disagreements
from pytest_portspec.probe import inbound, outbound
from pytest_portspec.scan.model import ScanOptions
from pytest_portspec.spec.policy import EffectivePolicy


def device_deadline(run: DeviceRun) -> float:
    """Seconds one device's run may take (deadline.py): reaching it, its commands, the tester's work."""
    scanning = scan_allowance(run.scan, run.scanning_devices) if run.scan is not None else 0.0
    return deadline_for(run.transport.connect_allowance, run.probe_timeout) + scanning


@dataclass
class DeviceRun:
    label: str
    host: str
    policy: EffectivePolicy
    transport: Transport
    declared: Declarations
    sudo: bool = True
    sudo_password: str | None = field(default=None, repr=False)
    sudo_mode: privilege.SudoMode = "commands"  # a sudo per root read, or the whole script as root
    probe_timeout: float = 3.0
    address: str | None = None  # the device address probed from the tester; found from the connection if None
    facts: Facts | None = None
    verdicts: dict[tuple[str, Check], Verdict] = field(default_factory=dict)
    error: DeviceError | None = None
    raw: dict[str, str] = field(default_factory=dict)
    kernel_texts: dict[str, str | None] = field(default_factory=dict)  # snapshot.kernel_texts
    fingerprint: str | None = None
    fingerprint_after: str | None = None
    read_only: bool | None = None
    proof_problem: str | None = None  # why the read-only proof cannot be made (a tool missing on the device)
    seconds: float = 0.0
    host_key: str | None = None
    host_key_policy: str | None = None  # strict, accept-new or ignore (None: not over SSH)
    host_key_verified: bool | None = None  # True: matched known_hosts; False: accepted unverified
    host_key_note: str | None = None  # why it was not verified (e.g. "does not match known_hosts (ignored)")
    deadline: float | None = None  # seconds the whole run may take; None: device_deadline(self)
    rules: list[RuleExplanation] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # where ufw's view and the kernel disagree
    peer_probes: list[outbound.OutboundProbe] = field(default_factory=list)  # node-to-node, as the source
    group: str | None = None  # devices whose items need each other's snapshots (a site's nodes)
    probing: frozenset[str] = frozenset({"inbound", "outbound", "pair"})  # checks whose probes are run
    selected: frozenset[tuple[str, str]] | None = None  # (key, check) of the items run; None: all
    readings: tuple[ReadingChoice, ...] = ()  # the reading of each self-contradicting decision
    tester: str | None = None  # the xdist worker that must check it: a tester on its site (testers.py)
    checked_from: str | None = None  # the xdist worker checking it (None: the machine running pytest)
    scan: ScanOptions | None = None  # --scan: how to scan it from the tester (engine/scan_step.py)
    scanning_devices: int = 1  # devices scanned in this process: the built-in scanner's turns

    @property
    def remote_commands(self) -> int:
        return self.transport.commands_run

    def run(self) -> None:
        """Read, probe and judge the device within its deadline (deadline.py); any failure is `error`."""
        started = time.monotonic()
        limit = self.deadline if self.deadline is not None else device_deadline(self)
        self.error = run_within(self.label, limit, self._run)
        if self.error is not None and self.error.reason.startswith("the device did not finish"):
            self.transport.abort(self.error.reason)  # closed for good: later commands fail at once
        self._remember_trust()
        self.seconds = time.monotonic() - started

    def _as_root(self, command: str, name: str) -> CommandResult:
        stdin = f"{self.sudo_password}\n" if self.sudo and self.sudo_password is not None else None
        result = self.transport.run(command, stdin=stdin, timeout=STATE_TIMEOUT, name=name)
        if self.sudo:
            problem = privilege.sudo_problem(
                result.exit_status, result.stdout, result.stderr, stdin is not None
            )
            if problem is not None:
                raise DeviceError(self.label, problem)
        return result

    def _run(self) -> None:
        refuse(self.label, self.tester, self.checked_from)  # before any probe leaves
        # early inbound probes, the scan's two waves, the outbound command
        with ThreadPoolExecutor(max_workers=4) as pool:
            scan = DeviceScan(self.scan, pool) if self.scan is not None and self._scanning() else None
            early = self._start_inbound(pool, scan)
            self._read(pool, early, scan)

    def _scanning(self) -> bool:
        """Whether to scan: asked for, and an item that reads the scan is run."""
        wanted = self.selected is None or bool({"exposure", "inbound"} & self.probing)
        return self.scan is not None and wanted

    def _read(self, pool: ThreadPoolExecutor, early: EarlyInbound | None, scan: DeviceScan | None) -> None:
        sections = state_sections(self.transport, self.label, self.sudo, self.sudo_password, self.sudo_mode)
        self.raw = {name: section.text for name, section in sections.items()}
        self.kernel_texts = snap.kernel_texts(sections)
        self.fingerprint = sections["fingerprint"].text
        self.proof_problem = snap.proof_problem(sections["fingerprint"])
        facts = facts_from_sections(self.label, sections, self.address or "")
        self._remember_connection()
        self.facts = self._probe(facts, pool, early, scan)
        judged = judge(self.policy, self.facts, self.declared)
        self.verdicts, self.readings = judged.verdicts, judged.readings
        self.rules = explain_rules(judged.policy, self.facts.ufw, self.declared)
        if self.facts.kernel is not None:
            user = {False: self.raw.get("user-rules"), True: self.raw.get("user6-rules")}
            self.findings = disagreements(self.facts.ufw, user, self.facts.kernel)

    def _remember_connection(self) -> None:
        reached = self.transport.connection()  # connects if not yet: a DeviceError is the device's error
        if reached is not None:
            self.address = self.address or reached.peer_address
            self.declared = replace(
                self.declared, tester_address=reached.local_address, management_port=reached.peer_port
            )
        self.host_key = self.transport.host_key_fingerprint()
        self._remember_trust()

    def _remember_trust(self) -> None:
        """The host key policy and its outcome (a device that errored after connecting has one too)."""
        self.host_key_policy = self.transport.host_key_policy
        self.host_key_verified = self.transport.host_key_verified
        self.host_key_note = self.transport.host_key_note

    def _start_inbound(self, pool: ThreadPoolExecutor, scan: DeviceScan | None) -> EarlyInbound | None:
        """Start the inbound probes that need no snapshot, at the address SSH connects to: known now
        for an IP (or a lab appliance), else once connected (the state command connects anyway).
        The scan's first wave starts there too; its TCP sweep answers the TCP probes."""
        if jump_of(self.transport) is not None or offline_of(self.transport) is not None:
            return None  # through a jump host or from a capture: nothing from the tester
        host, port = self.transport.endpoint() or (self.host, self.declared.management_port)
        address = canonical(self.address or host)
        if address is None:
            self._remember_connection()  # connects: a DeviceError is the device's, as from the state command
            address, port = canonical(self.address or ""), self.declared.management_port
            if address is None:
                return None
        declared = replace(self.declared, management_port=port)
        probes = probes_of_every_reading(lambda p: inbound_probes(p, None, declared), self.policy)
        if scan is not None:
            scan.start(address, udp_targets(documented_udp(probes), probes))
            probes = [p for p in probes if p.proto != "tcp"]  # the sweep answers them
        if not probes or "inbound" not in self.probing:
            return None
        return EarlyInbound(
            address, probes, pool.submit(inbound.probe_inbound, address, probes, self.probe_timeout)
        )

    def _probe(
        self, facts: Facts, pool: ThreadPoolExecutor, early: EarlyInbound | None, scan: DeviceScan | None
    ) -> Facts:
        offline = offline_of(self.transport)  # a capture answers instead of the device (contract.py)
        facts = replace(facts, address=self.address or facts.address or self.host)
        route = jump_of(self.transport)  # through jump hosts: their inbound probes, not the tester's
        address = facts.address if offline or route else resolved(facts.address)  # no name to look up here
        # only the probes of selected items: `-m "not inbound"` sends nothing to the device
        out_probes = (
            probes_of_every_reading(lambda p: outbound_probes(p, facts, self.declared), self.policy)
            if "outbound" in self.probing
            else []
        )
        out_probes += self.peer_probes if "pair" in self.probing else []
        in_probes = (
            probes_of_every_reading(lambda p: inbound_probes(p, facts, self.declared), self.policy)
            if "inbound" in self.probing
            else []
        )
        if scan is not None:  # its second wave: the other addresses, the UDP ports the snapshot names
            scan.extend(
                facts.own_addresses, udp_targets(named_udp(facts) + documented_udp(in_probes), in_probes)
            )
        unsent: dict[str, outbound.ProbeResult] = {}  # what a capture cannot answer: unverifiable
        if offline is not None:
            out_probes, unsent = offline.outbound(out_probes)
            unsent |= offline.inbound(in_probes, address)
            in_probes, early = [], None
        # an early probe counts only if it is exactly one of the probes planned now, at this address
        same_address = early is not None and early.address == canonical(address)
        done = set(early.probes) & set(in_probes) if early is not None and same_address else set()
        rest = [p for p in in_probes if p not in done]
        tools = self.raw.get("probe-tools", "")
        remote = (
            pool.submit(run_outbound, self.transport, tools, out_probes, self.probe_timeout)
            if out_probes
            else None
        )
        from_scan, rest = (  # waits for the scan's first wave
            scan.answer_tcp(rest) if scan is not None and scan.address == canonical(address) else ([], rest)
        )
        send = route.inbound if route is not None else inbound.probe_inbound
        in_results = send(address, rest, self.probe_timeout) if rest else []
        if early is not None:
            early_results = early.results.result()
            in_results += [r for p, r in zip(early.probes, early_results, strict=True) if p in done]
        facts = replace(facts, scan=scan_facts(scan, in_results, self._scanning(), self.transport))
        inbound_facts = {r.id: r for r in in_results + from_scan} | unsent
        try:
            out_results = remote.result() if remote else []
        except NoProbeTool as exc:
            return replace(facts, outbound_error=str(exc), inbound=inbound_facts)
        return replace(facts, outbound={r.id: r for r in out_results} | unsent, inbound=inbound_facts)

    def finish(self) -> None:
        """The read-only proof: the fingerprint again, compared with the one taken first."""
        if self.fingerprint is None:
            self.transport.close()  # the device errored before its state was read
            return
        try:
            password = self.sudo_password is not None
            result = self._as_root(
                snap.fingerprint_command(self.sudo, password, self.sudo_mode), "the read-only proof's command"
            )
            after = snap.parse_sections(result.stdout).get("fingerprint")
            self.fingerprint_after = after.text if after is not None else None
            self.proof_problem = self.proof_problem or snap.proof_problem(after)
            same = after is not None and after.text == self.fingerprint
            self.read_only = None if self.proof_problem else same
        except DeviceError as exc:
            self.proof_problem = f"the final fingerprint command failed: {exc.reason}"
            self.read_only = None
        finally:
            self.transport.close()


def progress_line(run: DeviceRun) -> str:
    """One line as a device's snapshot completes: device, commands, seconds, verdict counts."""
    head = f"portspec {run.label}: snapshot in {run.seconds:.1f} s, {run.remote_commands} remote command(s)"
    if run.error is not None:
        return f"{head}: ERROR {run.error.reason}"
    counts: dict[str, int] = {}
    for found, verdict in run.verdicts.items():
        if run.selected is None or found in run.selected:  # a deselected check's missing probe is no error
            counts[verdict.outcome] = counts.get(verdict.outcome, 0) + 1
    return f"{head}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
