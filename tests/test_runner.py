"""One device's run against the fake device (a first-class Transport): commands, errors, verdicts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kernelfixture import ufw_save

from pytest_portspec import runner
from pytest_portspec.catalog import find_spec
from pytest_portspec.checks.context import Declarations
from pytest_portspec.checks.reach import inbound_probes
from pytest_portspec.policy import effective_policy
from pytest_portspec.probe import InboundProbe, ProbeResult
from pytest_portspec.runner import DeviceRun, progress_line
from pytest_portspec.snapshot import MARK
from pytest_portspec.transport import CommandResult, FakeTransport

DATA = Path(__file__).parent / "data"
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
        "fingerprint": "abc  /etc/ufw/user.rules",
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
    assert command.startswith("sudo -S -p '' sh -c ")
    assert "s3cret!" not in command and stdin == "s3cret!\n"
    assert "s3cret!" not in repr(run)


def test_the_read_only_proof_compares_the_fingerprints() -> None:
    responses = {
        "ufw status verbose": ok(sections()),
        "sha256sum": ok(f"{MARK}fingerprint\nabd  /etc/ufw/user.rules\n{MARK}rc=0\n"),  # one byte changed
    }
    run = device(responses)
    run.run()
    run.finish()
    assert run.read_only is False
    same = device(
        {
            "ufw status verbose": ok(sections()),
            "sha256sum": ok(f"{MARK}fingerprint\nabc  /etc/ufw/user.rules\n{MARK}rc=0\n"),
        }
    )
    same.run()
    same.finish()
    assert same.read_only is True


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
    planned = inbound_probes(run.policy, run.facts, run.declared)
    assert sorted(p.id for p in probed) == sorted(p.id for p in planned)  # each exactly once
    assert set(run.facts.inbound) == {p.id for p in planned}
    assert not [v for (_, check), v in run.verdicts.items() if check == "inbound" and v.outcome == "error"]


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
