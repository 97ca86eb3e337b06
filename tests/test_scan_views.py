"""The outside-in scan in the exposure audit: the three views (document, kernel model, socket) of each
port the scan saw open. A scan can fail the audit or leave notes, never pass it; a scan asked for that
did not run is an error. Rulesets: ufw's stock chains (kernelfixture, captured from the emulator)."""

from __future__ import annotations

from dataclasses import replace

from kernelfixture import ufw_save

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.exposure import check_exposure
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel, KernelSources
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.scan.model import AddressScan, PortFinding, ScanFacts
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

ADDRESS = "198.18.1.2"
TESTER = "198.18.1.1"
UFW = UfwState(True, "deny", "allow", "deny", (), False, "user.rules")
SSH_ALLOW = "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n"
HTTPS_ALLOW = "-A ufw-user-input -p tcp --dport 443 -j ACCEPT\n"


def sock(port: int, process: str = "nginx", address: str = "0.0.0.0") -> Socket:
    text = f'tcp LISTEN 0 511 {address}:{port} 0.0.0.0:* users:(("{process}",pid=7,fd=6))'
    return Socket("tcp", address, port, ((process, 7),), None, text)


def scan_of(*open_tcp: int, address: str = ADDRESS, closed: Intervals | None = None) -> AddressScan:
    found = tuple(PortFinding("tcp", p, "open", "syn-ack") for p in open_tcp)
    return AddressScan(address, "nmap -sS", 1000.0, 66.0, tcp_open=found, tcp_closed=closed or Intervals())


def audit(
    scan: ScanFacts | None, sockets: tuple[Socket, ...] = (), allow: str = SSH_ALLOW + HTTPS_ALLOW
) -> Verdict:
    """The SyncSign SOPS (443, 8443, 8883, 1883, 8888, 80 documented inbound) read as blocking the rest."""
    sops = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    policy = replace(sops, default_in="block")
    v4 = ufw_save().replace("COMMIT", allow + "COMMIT", 1)
    model = KernelModel.build(
        KernelSources(
            iptables=v4, ip6tables=ufw_save(v6=True), addresses=(ADDRESS,), interfaces=("lo", "eth0")
        )
    )
    facts = Facts(
        ufw=UFW, sockets=sockets, kernel=model, address=ADDRESS, own_addresses=(ADDRESS,), scan=scan
    )
    return check_exposure(policy, facts, Declarations(tester_address=TESTER))


def test_a_port_only_the_scan_sees_fails_the_audit_with_the_scan_as_evidence() -> None:
    verdict = audit(ScanFacts((scan_of(22, 443, 9999),)), (sock(22, "sshd"), sock(443)))
    assert verdict.outcome == "failed" and verdict.failure_class == "exposed"
    assert "9999/tcp on 198.18.1.2 answers from outside (syn-ack) but the document does not allow it" in (
        verdict.observed
    )
    assert (
        "kernel: predicts it blocked; socket: none of the device's sockets listens there" in verdict.observed
    )
    assert "hidden forward, another namespace, a second device" in verdict.observed
    assert "scan (nmap -sS at 1000/s): 198.18.1.2 9999/tcp open (syn-ack)" in verdict.evidence


def test_every_open_port_the_document_allows_is_shown_with_its_three_views() -> None:
    verdict = audit(ScanFacts((scan_of(22, 443),)), (sock(22, "sshd"), sock(443)))
    assert verdict.outcome == "passed", verdict.observed
    assert verdict.observed.endswith("the scan (nmap -sS at 1000/s) of 1 address(es) saw 2 open port(s)")
    https = next(n for n in verdict.notes if n.startswith("443/tcp on 198.18.1.2"))
    assert "document: row" in https and "kernel: lets it in" in https and "nginx" in https


def test_a_port_the_model_already_fails_is_not_reported_twice() -> None:
    verdict = audit(
        ScanFacts((scan_of(22, 5000),)),
        (sock(22, "sshd"), sock(5000, "rogue")),
        SSH_ALLOW + ("-A ufw-user-input -p tcp --dport 5000 -j ACCEPT\n"),
    )
    assert verdict.outcome == "failed"
    assert verdict.observed.count("5000") == 1, verdict.observed
    assert "scan (nmap -sS at 1000/s): 198.18.1.2 5000/tcp open (syn-ack)" in verdict.evidence


def test_a_port_open_to_the_tester_that_the_scan_found_filtered_is_a_note() -> None:
    verdict = audit(ScanFacts((scan_of(22),)), (sock(22, "sshd"), sock(443)))
    assert verdict.outcome == "passed"
    assert any(
        n.startswith("443/tcp on 198.18.1.2: the kernel lets the tester in") and "filters it" in n
        for n in verdict.notes
    ), verdict.notes


def test_a_scan_that_failed_or_did_not_run_is_an_error_never_a_pass() -> None:
    failed = audit(ScanFacts(errors={ADDRESS: "nmap exited with status 1: Failed to open device eth9"}))
    assert failed.outcome == "error"
    assert "the scan of 198.18.1.2 failed: nmap exited with status 1" in failed.observed
    not_run = audit(ScanFacts(not_run="the device is reached through a jump host: the tester cannot scan it"))
    assert not_run.outcome == "error" and "jump host" in not_run.observed


def test_without_a_scan_nothing_changes() -> None:
    verdict = audit(None, (sock(22, "sshd"), sock(443)))
    assert verdict.outcome == "passed" and verdict.observed == "2 reachable socket(s), every one documented"


def test_an_address_that_is_not_the_devices_own_only_notes_what_answers_there() -> None:
    """NAT in between: a full scan of the NAT box's address shows the box's own services."""
    natted = ScanFacts((scan_of(22, 8081, address="198.18.9.9"),))
    sops = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    model = KernelModel.build(
        KernelSources(
            iptables=ufw_save(), ip6tables=ufw_save(v6=True), addresses=(ADDRESS,), interfaces=("eth0",)
        )
    )
    facts = Facts(UFW, (), kernel=model, address="198.18.9.9", own_addresses=(ADDRESS,), scan=natted)
    verdict = check_exposure(replace(sops, default_in="block"), facts, Declarations())
    assert verdict.outcome == "passed"
    assert any(
        "8081/tcp on 198.18.9.9 answers, but 198.18.9.9 is not one of the device's own" in n
        for n in verdict.notes
    )
