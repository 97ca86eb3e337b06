"""One device's run against the fake device (a first-class Transport): commands, errors, verdicts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kernelfixture import ufw_save
from sockettools import processes_section

from pytest_portspec.checks.context import Declarations
from pytest_portspec.checks.reach import inbound_probes
from pytest_portspec.checks.readings import reading_policies
from pytest_portspec.device.state_command import MARK, Section, proof_problem
from pytest_portspec.engine import device_run as runner
from pytest_portspec.engine.device_run import DeviceRun, progress_line
from pytest_portspec.probe import InboundProbe, ProbeResult
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy
from pytest_portspec.transport import CommandResult, FakeTransport

DATA = Path(__file__).parent / "data"
PROOF = (DATA / "proof" / "complete.txt").read_text()  # a real fingerprint: see data/proof/README.md
NO_PROBE_TOOLS = "python3 no\nbash no\nnc no\ntimeout no\ngetent yes\nbash-tcp no\nnc-z no"


def sections(**override: str | tuple[int, str]) -> str:
    found: dict[str, str | tuple[int, str]] = {
        "probe-tools": NO_PROBE_TOOLS,
        "tools": "/usr/sbin/ufw\n/usr/bin/ss\n/usr/sbin/iptables-save",
        "ufw-status": (DATA / "ufw" / "smartserver-all.status-verbose.txt").read_text(),
        "user-rules": (DATA / "ufw" / "smartserver-all.user.rules").read_text(),
        "user6-rules": (DATA / "ufw" / "smartserver-all.user6.rules").read_text(),
        "default-ufw": "IPV6=yes\n",
        "sockets": (DATA / "ss-smartserver.txt").read_text(),
        "processes": processes_section((DATA / "ss-smartserver.txt").read_text()),
        "iptables": ufw_save((DATA / "ufw" / "smartserver-all.user.rules").read_text()),
        "ip6tables": ufw_save((DATA / "ufw" / "smartserver-all.user6.rules").read_text(), v6=True),
        "iptables-legacy": (3, ""),
        "ip6tables-legacy": (3, ""),
        "nft": (127, "sh: 1: nft: not found"),
        "ipset": (127, "sh: 1: ipset: not found"),
        "links": "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n2: eth0@if5: <BROADCAST,MULTICAST,UP> mtu 1500",
        "routes": "default via 198.18.1.1 dev eth0\n198.18.1.0/24 dev eth0 proto kernel src 198.18.1.2",
        "routes6": "fe80::/64 dev eth0 proto kernel metric 256 pref medium",
        "addresses": "",
        "resolv": "nameserver 198.19.1.1\n",
        "time-servers": "[Time]\nNTP=ntp.portspec.lab\n",
        "fingerprint": PROOF,
    }
    found.update(override)
    text = ""
    for name, value in found.items():
        status, body = value if isinstance(value, tuple) else (0, value)
        text += f"{MARK}{name}\n{body}\n{MARK}rc={status}\n"
    return text


def device(responses: dict[str, CommandResult], **kwargs: object) -> DeviceRun:
    policy = effective_policy(find_spec("smartserver"), enable=["all"])
    run = DeviceRun(
        label="smartserver[enhanced]@fake",
        host="fake",
        policy=policy,
        transport=FakeTransport(responses),
        declared=Declarations(),
        address="127.0.0.1",
        probe_timeout=0.2,
        **kwargs,
    )  # type: ignore[arg-type]
    return run


def ok(stdout: str) -> CommandResult:
    return CommandResult(0, stdout, "", 0.01)


def test_one_state_command_gives_every_verdict_and_outbound_errors_without_a_probe_tool() -> None:
    run = device({"ufw status verbose": ok(sections())})
    run.run()
    assert run.error is None
    assert run.remote_commands == 1  # no probe tool on the device: no probe command either
    outbound = [v for (_, check), v in run.verdicts.items() if check == "outbound"]
    applying = [v for v in outbound if v.outcome != "skipped"]
    assert applying and {v.outcome for v in applying} == {"error"}
    assert "no python3 (>= 3.5), bash with /dev/tcp and timeout, or nc on the device" in applying[0].observed
    assert run.verdicts[("in-443-tcp-https-nginx", "ufw")].outcome == "passed"
    assert run.verdicts[("in-443-tcp-https-nginx", "listening")].outcome == "passed"


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            CommandResult(1, "", "sudo: a password is required\n", 0.1),
            "sudo needs a password on this device: pass --sudo-password-env VAR",
        ),
        (CommandResult(1, "", "sudo: you are not in the sudoers file\n", 0.1), "sudo failed"),
        (
            ok(sections(**{"ufw-status": (127, "sh: ufw: not found")}, tools="/usr/bin/ss")),
            "ufw is not installed or not on the PATH of the device",
        ),
        (
            ok(sections(**{"ufw-status": (1, "ERROR: You need to be root to run this script")})),
            "`ufw status verbose` failed: ERROR: You need to be root",
        ),
        (
            ok(sections(sockets=(127, "ss: not found\nnetstat: not found"))),
            "neither ss nor netstat could list the listening sockets",
        ),
        (
            ok(sections(sockets="tcp LISTEN 0 128 0.0.0.0:ssh 0.0.0.0:*")),  # ss -n forgotten somewhere
            "cannot read the listening sockets: 1 socket line(s) in a form this tool cannot read",
        ),
        (ok("garbage\n"), "the state command gave no probe-tools section"),
    ],
)
def test_a_device_that_cannot_be_read_is_one_clear_error(result: CommandResult, message: str) -> None:
    run = device({"ufw status verbose": result})
    run.run()
    assert run.error is not None
    assert message in str(run.error)
    assert str(run.error).startswith("smartserver[enhanced]@fake: ")
    assert run.verdicts == {}


def test_the_sudo_password_goes_on_stdin_only() -> None:
    seen: list[tuple[str, str | None]] = []

    def answer(command: str, stdin: str | None) -> CommandResult:
        seen.append((command, stdin))
        return ok(sections())

    run = device({"ufw status verbose": answer}, sudo_password="s3cret!")
    run.run()
    assert run.error is None
    command, stdin = seen[0]
    assert command.startswith("sh -c 'IFS= read -r portspec_pw; ")  # read once, fed to each sudo
    assert "s3cret!" not in command and stdin == "s3cret!\n"
    assert "s3cret!" not in repr(run)


def fingerprint(text: str, status: int = 0) -> CommandResult:
    return ok(f"{MARK}fingerprint\n{text}\n{MARK}rc={status}\n")


def proven(start: str, end: CommandResult) -> DeviceRun:
    run = device({"ufw status verbose": ok(sections(fingerprint=start)), "sha256sum": end})
    run.run()
    run.finish()
    return run


def test_the_read_only_proof_compares_the_fingerprints() -> None:
    changed = PROOF.replace("320f53e1", "320f53e2")  # user.rules: one byte of its hash
    assert proven(PROOF, fingerprint(changed)).read_only is False
    same = proven(PROOF, fingerprint(PROOF))
    assert same.read_only is True and same.proof_problem is None


@pytest.mark.parametrize(
    ("capture", "status", "why"),
    [
        ("no-sha256sum.txt", 127, "sha256sum is not installed"),
        ("no-iptables-save.txt", 127, "iptables-save is not installed"),
    ],
)
def test_a_proof_without_its_tools_is_not_made_though_both_fingerprints_agree(
    capture: str, status: int, why: str
) -> None:
    """Both fingerprints are the same error text: that proves nothing, and the run says why."""
    text = (DATA / "proof" / capture).read_text()
    run = proven(text, fingerprint(text, status))
    assert run.read_only is None and run.proof_problem == why


@pytest.mark.parametrize(
    "text",
    [
        "sh: 1: sha256sum: not found",  # a device whose shell reports the tool missing its own way
        "\n".join(PROOF.splitlines()[:-1]),  # a ruleset's hash missing
        PROOF + "\niptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id",
    ],
)
def test_a_fingerprint_with_anything_but_hashes_proves_nothing(text: str) -> None:
    assert proof_problem(Section(0, text)) is not None
    assert proof_problem(Section(0, PROOF)) is None


def test_inbound_probes_start_before_the_snapshot_and_each_runs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probes that need no snapshot overlap the state command; those that do follow it."""
    started = threading.Event()
    calls: list[tuple[bool, str, list[InboundProbe]]] = []
    read = threading.Event()
    real = runner.inbound.probe_inbound

    def recording(address: str, probes: list[InboundProbe], timeout: float) -> list[ProbeResult]:
        calls.append((read.is_set(), address, list(probes)))
        started.set()
        return real(address, probes, timeout)

    def state(command: str, stdin: str | None) -> CommandResult:
        assert started.wait(10)  # the early probes are under way while the device is read
        read.set()
        return ok(sections())

    monkeypatch.setattr(runner.inbound, "probe_inbound", recording)
    run = device({"ufw status verbose": state})
    run.run()
    assert run.error is None and run.facts is not None
    assert calls[0][0] is False and calls[0][1] == "127.0.0.1"
    assert all(after for after, _, _ in calls[1:])  # only the snapshot's own probes come later
    probed = [p for _, _, probes in calls for p in probes]
    # every reading of the document the device may follow (checks/readings.py), each probe once
    each = reading_policies(run.policy)
    planned = list({p.id: p for e in each for p in inbound_probes(e, run.facts, run.declared)}.values())
    assert sorted(p.id for p in probed) == sorted(p.id for p in planned)  # each exactly once
    assert set(run.facts.inbound) == {p.id for p in planned}
    # every inbound item had its probe's result (a refusal of a blocked port may still be an error here:
    # this fake device at 127.0.0.1 has a kernel model of another address)
    inbound = [v for (_, check), v in run.verdicts.items() if check == "inbound"]
    assert inbound and not [v for v in inbound if "has no result" in v.observed]


def test_deselected_checks_send_no_probes() -> None:
    """`-m "not inbound and not outbound"`: one state command, no probe of any kind."""
    tools = NO_PROBE_TOOLS.replace("python3 no", "python3 yes")
    run = device({"ufw status verbose": ok(sections(**{"probe-tools": tools}))})
    run.probing = frozenset({"ufw", "listening"})
    run.run()
    assert run.error is None and run.remote_commands == 1
    assert run.facts is not None and not run.facts.outbound and not run.facts.inbound
    assert run.verdicts[("in-443-tcp-https-nginx", "ufw")].outcome == "passed"


def test_the_progress_line_counts_only_the_checks_the_run_selected() -> None:
    """-m ufw sends no probe: the probe checks' missing results are no errors of this run."""
    run = device({"ufw status verbose": ok(sections())}, probing=frozenset({"ufw"}))
    run.selected = frozenset({("in-443-tcp-https-nginx", "ufw"), ("in-22-tcp", "ufw")})
    run.run()
    assert progress_line(run).endswith(": 2 passed")
    run.selected = None  # everything selected: every verdict counts
    assert "error" in progress_line(run)


def test_a_link_local_resolver_with_a_zone_is_probed_like_any_other() -> None:
    """`nameserver fe80::1%eth0` is valid resolv.conf (and timesyncd/ntp) syntax: it made every item of
    the device an error with a long traceback."""
    run = device(
        {
            "ufw status verbose": ok(
                sections(resolv="nameserver fe80::1%eth0\n", **{"time-servers": "NTP=fe80::1%eth0"})
            )
        }
    )
    run.run()
    assert run.error is None
    assert run.facts is not None and run.facts.resolvers == ("fe80::1%eth0",)
    dns = [v for (key, check), v in run.verdicts.items() if check == "outbound" and "-53-" in key]
    assert dns and all("fe80::1%eth0" in v.expected for v in dns), dns  # a probe like any other resolver


def test_a_zone_is_accepted_only_on_an_ipv6_address() -> None:
    from pytest_portspec.addresses import is_scoped_ip

    assert is_scoped_ip("fe80::1%eth0") and is_scoped_ip("fe80::1%2")
    assert (
        not is_scoped_ip("198.18.0.1%eth0") and not is_scoped_ip("fe80::1%") and not is_scoped_ip("fe80::1")
    )
    assert not is_scoped_ip("fe80::1%eth0;reboot") and not is_scoped_ip("fe80::1%a b")
