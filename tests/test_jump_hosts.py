"""Reaching a device through jump hosts: SSH servers on 127.0.0.1 (tests/jump_server.py forwards
direct-tcpip to 127.0.0.1 only). Every hop's host key is checked like the device's, every failure
names its hop, closing the device closes the chain, and inbound probes never leave from the tester:
they are skipped with the reason, or sent from the jump host with --inbound-from jump."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_server import HostileServer, Keys, answering, make_keys
from jump_server import JumpServer, local_shell
from test_hostile_device import device, timed
from test_runner import sections

from pytest_portspec.device.ssh import CONNECT_STEPS, SSHSettings, SSHTransport
from pytest_portspec.engine.device_run import DeviceRun


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def target(keys: Keys) -> Iterator[HostileServer]:
    with HostileServer(answering(sections(), proof=sections()), keys) as server:
        yield server


def through(jumps: list[JumpServer], server: HostileServer, keys: Keys, **given: object) -> SSHTransport:
    spec = ",".join(f"u@127.0.0.1:{j.port}" for j in jumps)
    settings: dict[str, object] = {"host_key_policy": "ignore", "connect_timeout": 3.0, "proxy_jump": spec}
    settings.update(given)
    return SSHTransport(
        "dev",
        SSHSettings(host="127.0.0.1", port=server.port, key=str(keys.client), allow_agent=False, **settings),  # type: ignore[arg-type]
    )


def known(tmp_path: Path, keys: Keys, *ports: int) -> str:
    path = tmp_path / "known_hosts"
    path.write_text("".join(keys.known_hosts_line(p) for p in ports))
    return str(path)


def test_a_device_through_two_jump_hosts_runs_commands_and_closing_closes_the_chain(
    keys: Keys, target: HostileServer, tmp_path: Path
) -> None:
    with JumpServer(keys) as first, JumpServer(keys) as second:
        strict = known(tmp_path, keys, first.port, second.port, target.port)
        transport = through([first, second], target, keys, known_hosts=strict, host_key_policy="strict")
        assert "==portspec==" in transport.run("sh -c state ; probe-tools", timeout=10).stdout
        assert (first.forwarded, second.forwarded) == (
            [f"127.0.0.1:{second.port}"],
            [f"127.0.0.1:{target.port}"],
        )
        assert transport.host_key_verified is True and transport.host_key_note is None
        connection = transport.connection()
        assert connection is not None and (connection.peer_address, connection.local_address) == (
            "127.0.0.1",
            "",
        )
        assert transport.chain is not None
        clients = list(transport.chain.clients)
        assert len(clients) == 2
        transport.close()
        assert transport.chain is None
        assert all(c.get_transport() is None or not c.get_transport().is_active() for c in clients)  # type: ignore[union-attr]


def test_a_jump_host_whose_key_is_unknown_is_refused_like_a_device(
    keys: Keys, target: HostileServer, tmp_path: Path
) -> None:
    with JumpServer(keys) as jump:
        strict = known(tmp_path, keys, target.port)  # the device's key only
        transport = through([jump], target, keys, known_hosts=strict, host_key_policy="strict")
        _, error = timed(transport.connect)
        assert error is not None
        assert error.reason.startswith(
            f"jump host u@127.0.0.1:{jump.port}: [127.0.0.1]:{jump.port} is not in known_hosts"
        )
        assert jump.forwarded == [] and target.commands == []  # nothing went further


def test_a_jump_host_with_a_changed_key_is_refused(keys: Keys, target: HostileServer, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = make_keys(tmp_path / "other")
    with JumpServer(keys) as jump:
        path = tmp_path / "kh"
        path.write_text(other.known_hosts_line(jump.port) + keys.known_hosts_line(target.port))
        transport = through([jump], target, keys, known_hosts=str(path), host_key_policy="accept-new")
        _, error = timed(transport.connect)
        assert error is not None
        assert error.reason.startswith(
            f"jump host u@127.0.0.1:{jump.port}: the host key of 127.0.0.1:{jump.port} does not match"
        )


def test_a_jump_host_that_does_not_forward_says_so(keys: Keys, target: HostileServer) -> None:
    with JumpServer(keys, allow_forwarding=False) as jump:
        _, error = timed(through([jump], target, keys).connect)
        assert error is not None and error.reason == (
            f"jump host u@127.0.0.1:{jump.port} could not open a connection to 127.0.0.1:{target.port}: "
            "Administratively prohibited (is AllowTcpForwarding off there?)"
        )


def test_a_jump_host_that_never_answers_the_forwarding_request_ends_at_the_channel_timeout(
    keys: Keys, target: HostileServer
) -> None:
    with JumpServer(keys, hang=True) as jump:
        seconds, error = timed(through([jump], target, keys, channel_open_timeout=1.0).connect)
    assert error is not None and error.reason == (
        f"jump host u@127.0.0.1:{jump.port} did not open a connection to 127.0.0.1:{target.port} within 1 s"
    )
    assert seconds < 4


def test_an_unreachable_jump_host_is_named_within_its_timeout(keys: Keys, target: HostileServer) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    transport = SSHTransport(
        "dev",
        SSHSettings(host="127.0.0.1", port=target.port, proxy_jump=f"127.0.0.1:{port}", connect_timeout=2.0),
    )
    seconds, error = timed(transport.connect)
    assert error is not None and error.reason.startswith(
        f"jump host 127.0.0.1:{port}: 127.0.0.1:{port} refused"
    )
    assert seconds < 5


def test_the_connect_allowance_grows_with_each_hop() -> None:
    direct = SSHTransport("d", SSHSettings(host="127.0.0.1", connect_timeout=10))
    two = SSHTransport("d", SSHSettings(host="127.0.0.1", connect_timeout=10, proxy_jump="a,b"))
    probing = SSHTransport("d", SSHSettings(host="127.0.0.1", proxy_jump="a", inbound_from_jump=True))
    one = CONNECT_STEPS * 10 + 15
    assert (direct.connect_allowance, two.connect_allowance) == (2 * one, 2 * 3 * one)
    assert probing.connect_allowance == 2 * 2 * one + 30 + (2 * 3 + 30)  # + the jump host's probe commands


def inbound_results(run: DeviceRun) -> dict[str, tuple[str, str]]:
    assert run.error is None and run.facts is not None, run.error
    return {k: (r.outcome, r.detail) for k, r in run.facts.inbound.items()}


def test_without_inbound_from_jump_no_inbound_probe_leaves_the_tester(
    keys: Keys, target: HostileServer
) -> None:
    with JumpServer(keys) as jump:
        run = device(through([jump], target, keys))
        run.run()
        found = inbound_results(run)
        assert found and all(outcome == "unverifiable" for outcome, _ in found.values())
        reason = (
            f"reached through jump host u@127.0.0.1:{jump.port}: inbound probes would leave from this "
            "tester, not the site; pass --inbound-from jump to send them from the jump host"
        )
        assert {detail for _, detail in found.values()} == {reason}
        assert run.host_key_verified is False  # --host-key-policy ignore: the jump host's key is reported too
        assert (run.host_key_note or "").startswith(
            f"jump host u@127.0.0.1:{jump.port}: host key NOT verified"
        )
        skipped = [
            v for (_, check), v in run.verdicts.items() if check == "inbound" and v.outcome != "skipped"
        ]
        assert skipped == []  # never passed, never failed: skipped with the reason


def test_with_inbound_from_jump_the_probes_leave_from_the_jump_host(
    keys: Keys, target: HostileServer
) -> None:
    with JumpServer(keys, local_shell) as jump:
        run = device(
            through([jump], target, keys, inbound_from_jump=True, probe_timeout=0.5), probe_timeout=0.5
        )
        started = time.monotonic()
        run.run()
        found = inbound_results(run)
        assert found and time.monotonic() - started < 60
        assert all(
            d.startswith(f"from jump host u@127.0.0.1:{jump.port} (127.0.0.1): ") for _, d in found.values()
        )
        assert {o for o, _ in found.values()} <= {"ok", "refused", "timeout", "answered", "unverifiable"}
        assert any(
            o == "refused" for o, _ in found.values()
        )  # 127.0.0.1's closed ports answered the jump host


RELAY = """
import socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.settimeout(None)
def up():
    while True:
        data = sys.stdin.buffer.raw.read(65536)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""


def by_proxycommand(
    tmp_path: Path, command: str, server: HostileServer, keys: Keys
) -> tuple[SSHTransport, Path]:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host dev\n  HostName 127.0.0.1\n  ProxyCommand {command}\n")
    settings = SSHSettings(
        host="dev", port=server.port, key=str(keys.client), ssh_config=str(config), allow_agent=False,
        host_key_policy="ignore", connect_timeout=3.0,
    )  # fmt: skip
    return SSHTransport("dev", settings), config


def test_a_proxycommand_carries_the_connection_and_its_inbound_items_are_skipped(
    keys: Keys, target: HostileServer, tmp_path: Path
) -> None:
    relay = tmp_path / "relay.py"
    relay.write_text(RELAY)
    transport, config = by_proxycommand(tmp_path, f"{sys.executable} {relay} %p", target, keys)
    run = device(transport)
    run.run()
    found = inbound_results(run)
    reason = f"reached through the ProxyCommand of {config}:3: inbound probes would leave from this tester"
    assert found and all(o == "unverifiable" and d.startswith(reason) for o, d in found.values())
    assert target.commands  # the state command went through the relay


def test_a_proxycommand_that_cannot_start_is_one_sentence(
    keys: Keys, target: HostileServer, tmp_path: Path
) -> None:
    transport, config = by_proxycommand(tmp_path, str(tmp_path / "no-such-program") + " %h", target, keys)
    _, error = timed(transport.connect)
    assert error is not None and error.reason.startswith(
        f"the ProxyCommand of {config}:3 cannot be started: "
    )


def test_the_plugin_options(pytester: pytest.Pytester) -> None:
    bad = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--device", "smartserver@dev", "--ssh-proxy-jump", "a b"
    )
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--ssh-proxy-jump 'a b': 'a b' is not [user@]host[:port]" in bad.stderr.str()
    wrong = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-o", "portspec_inbound_from=site")
    assert "portspec_inbound_from 'site': expected tester or jump" in wrong.stderr.str()


def test_a_policy_from_ssh_config_is_named_in_the_note(
    keys: Keys, target: HostileServer, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host 127.0.0.1\n  StrictHostKeyChecking no\n")
    settings = SSHSettings(
        host="127.0.0.1", port=target.port, key=str(keys.client), allow_agent=False, ssh_config=str(config),
        known_hosts=str(tmp_path / "none"), config_may_set=frozenset({"host_key_policy"}),
    )  # fmt: skip
    transport = SSHTransport("dev", settings)
    transport.connect()
    # OpenSSH's "no" is taken as accept-new: the key is recorded, and a changed key would be refused
    assert (transport.host_key_policy, transport.host_key_verified) == ("accept-new", False)
    assert transport.host_key_note == (
        f"host key NOT verified: first use, recorded in {tmp_path / 'none'} (--host-key-policy accept-new) "
        f"(the policy is ssh_config's StrictHostKeyChecking, {config}:2)"
    )
    transport.close()
