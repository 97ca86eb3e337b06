"""A hostile device (tests/hostile_server.py, on 127.0.0.1): every case ends in one sentence within
its documented deadline, nothing raw from the device in it, no traceback, nothing else affected."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hostile_server import (
    Behaviour,
    HostileServer,
    Keys,
    Session,
    answering,
    closing_without_status,
    dropping,
    flooding,
    make_keys,
    trickling,
)
from sockettools import processes_section
from test_runner import DATA, sections

from pytest_portspec.checks.context import Declarations
from pytest_portspec.engine.device_run import DeviceRun, device_deadline, progress_line
from pytest_portspec.errors import DeviceError
from pytest_portspec.probe import OutboundProbe
from pytest_portspec.probe.results import parse_results
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy
from pytest_portspec.transport import SSHSettings, SSHTransport

MB = 1024 * 1024
PYTHON_TOOLS = "python3 yes\nbash no\nnc no\ntimeout no\ngetent yes\nbash-tcp no\nnc-z no"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


Serve = Callable[..., HostileServer]


@pytest.fixture
def serve(keys: Keys) -> Iterator[Serve]:
    servers: list[HostileServer] = []

    def start(behaviour: Behaviour, **kwargs: bool) -> HostileServer:
        server = HostileServer(behaviour, keys, **kwargs).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def ssh(server: HostileServer, keys: Keys, **settings: object) -> SSHTransport:
    given: dict[str, object] = {"host_key_policy": "ignore", "connect_timeout": 3.0}
    given.update(settings)
    return SSHTransport(
        f"dev@127.0.0.1:{server.port}",
        SSHSettings(host="127.0.0.1", port=server.port, key=str(keys.client), allow_agent=False, **given),  # type: ignore[arg-type]
    )


def device(transport: SSHTransport, **kwargs: object) -> DeviceRun:
    given: dict[str, object] = {"sudo": False, "address": "127.0.0.1", "probe_timeout": 0.2}
    given.update(kwargs)
    return DeviceRun(
        label=transport.label,
        host="127.0.0.1",
        policy=effective_policy(find_spec("smartserver"), enable=["all"]),
        transport=transport,
        declared=Declarations(),
        **given,  # type: ignore[arg-type]
    )


def timed(action: object) -> tuple[float, DeviceError | None]:
    started = time.monotonic()
    try:
        action()  # type: ignore[operator]
    except DeviceError as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


# --- one command: its total deadline, its cap, a session that ends badly ------------------------


def test_a_trickle_ends_at_the_command_total_deadline_not_a_per_read_one(serve: Serve, keys: Keys) -> None:
    server = serve(trickling(2.0))
    seconds, error = timed(lambda: ssh(server, keys).run("cat /etc/ufw/user.rules", timeout=3.0))
    assert error is not None and error.reason == "a remote command did not finish within 3 s"
    assert 2.9 < seconds < 4.5


def test_an_exec_request_never_answered_ends_at_the_deadline(serve: Serve, keys: Keys) -> None:
    server = serve(answering("never"), answer_exec=False)
    seconds, error = timed(lambda: ssh(server, keys).run("ufw status", timeout=2.0, name="the state command"))
    assert error is not None and error.reason == "the state command did not finish within 2 s"
    assert seconds < 3.5


def test_a_flood_is_cut_at_the_cap_with_memory_bounded_by_it(serve: Serve, keys: Keys) -> None:
    server = serve(flooding(50 * MB))
    transport = ssh(server, keys, output_cap=1 * MB)
    tracemalloc.start()
    try:
        seconds, error = timed(lambda: transport.run("ss -tulpn", name="the state command"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error is not None and error.reason.startswith(
        "the device's answer to the state command exceeded 1 MB (stdout and stderr together)"
    )
    assert seconds < 5 and peak < 8 * MB  # the cap, paramiko's window, one read: never the 50 MB


def test_a_session_closed_without_exit_status_is_one_sentence(serve: Serve, keys: Keys) -> None:
    server = serve(closing_without_status())
    _, error = timed(lambda: ssh(server, keys).run("ufw status", name="the state command"))
    assert error is not None
    assert error.reason == "the device closed the session of the state command without an exit status"


def test_a_connection_dropped_mid_output_is_one_sentence(serve: Serve, keys: Keys) -> None:
    server = serve(dropping())
    _, error = timed(lambda: ssh(server, keys).run("ufw status", name="the state command"))
    assert (
        error is not None and error.reason == "the SSH connection dropped before the state command finished"
    )


def test_a_channel_never_confirmed_is_asked_twice_then_one_sentence(serve: Serve, keys: Keys) -> None:
    server = serve(answering("x"), confirm=False)
    seconds, error = timed(lambda: ssh(server, keys, channel_open_timeout=0.5).run("ufw status"))
    assert error is not None and error.reason == "the SSH connection was lost: Timeout opening channel."
    assert seconds < 3.0


# --- a whole device: its deadline, its answers, the others unaffected ---------------------------


def test_a_hung_device_ends_at_its_deadline_while_a_good_one_beside_it_is_judged(
    serve: Serve, keys: Keys
) -> None:
    hung = device(ssh(serve(trickling(2.0)), keys), deadline=3.0)
    good = device(ssh(serve(answering(sections(), proof=sections())), keys))
    threads = [threading.Thread(target=run.run) for run in (hung, good)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (
        hung.error is not None and hung.error.reason == "the device did not finish within its deadline of 3 s"
    )
    assert 2.9 < hung.seconds < 4.5 and time.monotonic() - started < 30
    assert good.error is None and good.verdicts and good.host_key_policy == "ignore"
    with pytest.raises(DeviceError, match="deadline of 3 s"):  # closed for good: nothing more is sent
        hung.transport.run("true")


def test_the_device_deadline_follows_from_the_timeouts_given(keys: Keys) -> None:
    transport = SSHTransport("d", SSHSettings(host="127.0.0.1", connect_timeout=10.0))
    run = device(transport, probe_timeout=3.0)
    assert device_deadline(run) == 2 * (4 * 10 + 15) + 60 + (2 * 3 + 30) + 3 + 30 == 239


ESC = "\x1b[2J\x1b]0;owned\x07"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            sections(**{"ufw-status": (1, f"ERROR: {ESC}broken")}),
            "`ufw status verbose` failed: ERROR: \\x1b[2J",
        ),
        (f"garbage {ESC}\n", "the state command gave no"),
    ],
    ids=["failing-ufw", "garbage"],
)
def test_escape_sequences_from_the_device_never_reach_its_error_raw(
    serve: Serve, keys: Keys, answer: str, expected: str
) -> None:
    run = device(ssh(serve(answering(answer)), keys))
    run.run()
    assert run.error is not None and expected in run.error.reason
    assert "\x1b" not in run.error.reason and "\x07" not in run.error.reason
    assert "\x1b" not in progress_line(run)


def test_hostile_process_names_and_ufw_comments_are_judged_like_any_other(serve: Serve, keys: Keys) -> None:
    comment, hostile = "portspec-lab management access", f"mgmt {ESC}"
    ss = (DATA / "ss-smartserver.txt").read_text().replace("dnsmasq", f"dns{ESC}masq")
    state = (
        sections(sockets=ss, processes=processes_section(ss))  # ss's names and the kernel's alike
        .replace(comment.encode().hex(), hostile.encode().hex())  # user.rules keeps comments in hex
        .replace(comment, hostile)
    )
    run = device(ssh(serve(answering(state, proof=state)), keys))
    run.run()
    assert run.error is None and run.verdicts and "\x1b" not in progress_line(run)
    texts = [" ".join((v.observed, *v.evidence, *v.notes)) for v in run.verdicts.values()]
    assert any("dns" in t for t in texts) and any("mgmt" in t for t in texts)
    # verdict texts quote the rule's comment as ufw lists it: every terminal and HTML sink escapes it


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("", "the state command gave no probe-tools section"),
        ("==portspec==probe-tools\nno rc line at all", "gave no"),
        ("==portspec==rc=0\n" * 1000, "gave no"),
        ("\x00\xff\ufffd==portspec==tools\n==portspec==rc=banana\n", "gave no"),
        (sections(tools=""), "ufw is not installed or not on the PATH of the device"),
        (sections(sockets=(1, "ss: command not found")), "neither ss nor netstat"),
    ],
    ids=["empty", "no-rc", "only-rc", "binary", "no-tools", "no-ss"],
)
def test_malformed_sections_are_one_sentence(serve: Serve, keys: Keys, answer: str, expected: str) -> None:
    run = device(ssh(serve(answering(answer)), keys))
    run.run()
    assert run.error is not None and expected in run.error.reason
    assert "could not read this device's answers" not in run.error.reason  # not the catch-all
    assert (run.host_key_policy, run.host_key_verified) == ("ignore", False)  # recorded on an error too


def test_a_device_without_iptables_save_and_sha256sum_is_judged_with_those_gaps_named(
    serve: Serve, keys: Keys
) -> None:
    missing = {
        "tools": "/usr/sbin/ufw\n/usr/bin/ss",
        "iptables": (127, "sh: 1: iptables-save: not found"),
        "ip6tables": (127, "sh: 1: ip6tables-save: not found"),
        "fingerprint": (127, "portspec-proof: sha256sum is not installed"),
    }
    state = sections(**missing)
    run = device(ssh(serve(answering(state, proof=state)), keys))
    run.run()
    run.finish()
    assert run.error is None and run.facts is not None
    assert run.facts.kernel is None and "iptables-save" in (run.facts.kernel_error or "")
    assert run.read_only is None and "sha256sum" in (run.proof_problem or "")


def test_deeply_nested_probe_output_is_each_probe_an_error(serve: Serve, keys: Keys) -> None:
    state = sections(**{"probe-tools": PYTHON_TOOLS})
    run = device(ssh(serve(answering(state, outbound="[" * 60_000)), keys))
    run.run()
    assert run.error is None and run.facts is not None and run.facts.outbound
    results = run.facts.outbound.values()
    assert {(r.outcome, r.detail) for r in results} == {
        ("error", "the probe program's output is not a report: JSON nested too deeply to read")
    }


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("[" * 60_000, "JSON nested too deeply to read"),
        ('{"a": [' + "1," * 100_000 + "1]}", "too long for a report (200010 > 73728 characters)"),
    ],
)
def test_probe_output_is_read_only_within_bounds(stdout: str, expected: str) -> None:
    (result,) = parse_results("python", stdout, [OutboundProbe("dns", "198.18.0.53", "udp", 53)])
    assert result.outcome == "error" and expected in result.detail


# --- trust: the host key ----------------------------------------------------------------------


def known_hosts(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_ignore_with_a_mismatching_entry_connects_and_says_so(
    serve: Serve, keys: Keys, tmp_path: Path
) -> None:
    server = serve(answering(sections(), proof=sections()))
    other = make_keys(tmp_path).known_hosts_line(server.port)
    run = device(ssh(server, keys, known_hosts=known_hosts(tmp_path / "kh", other)))
    run.run()
    assert run.error is None
    assert (run.host_key_policy, run.host_key_verified) == ("ignore", False)
    assert run.host_key_note == "host key does not match known_hosts (ignored: --host-key-policy ignore)"


@pytest.mark.parametrize("policy", ["ignore", "strict", "accept-new"])
def test_a_matching_entry_is_verified_under_every_policy(
    serve: Serve, keys: Keys, tmp_path: Path, policy: str
) -> None:
    server = serve(answering("x"))
    path = known_hosts(tmp_path / "kh", keys.known_hosts_line(server.port))
    transport = ssh(server, keys, known_hosts=path, host_key_policy=policy)
    transport.connect()
    assert (transport.host_key_policy, transport.host_key_verified, transport.host_key_note) == (
        policy,
        True,
        None,
    )


def test_accept_new_creates_the_missing_file_then_verifies_against_it(
    serve: Serve, keys: Keys, tmp_path: Path
) -> None:
    server = serve(answering("x"))
    path = tmp_path / "new_known_hosts"
    first = ssh(server, keys, known_hosts=str(path), host_key_policy="accept-new")
    first.connect()
    assert first.host_key_verified is False and "first use" in (first.host_key_note or "")
    second = ssh(server, keys, known_hosts=str(path), host_key_policy="strict")
    second.connect()
    assert second.host_key_verified is True


def test_strict_with_a_known_hosts_file_that_does_not_exist_is_an_error(
    serve: Serve, keys: Keys, tmp_path: Path
) -> None:
    server = serve(answering("x"))
    _, error = timed(ssh(server, keys, known_hosts=str(tmp_path / "typo"), host_key_policy="strict").connect)
    assert error is not None and error.reason.startswith(
        f"the known_hosts file {tmp_path / 'typo'} does not exist"
    )


@pytest.mark.parametrize("policy", ["ignore", "strict", "accept-new"])
def test_a_revoked_key_is_never_accepted(serve: Serve, keys: Keys, tmp_path: Path, policy: str) -> None:
    server = serve(answering("x"))
    line = keys.known_hosts_line(server.port)
    path = known_hosts(tmp_path / "kh", f"@revoked {line}{line}")
    _, error = timed(ssh(server, keys, known_hosts=path, host_key_policy=policy).connect)
    assert error is not None and "is marked @revoked in known_hosts: refusing to connect" in error.reason


def test_cert_authority_lines_and_garbage_are_no_traceback(serve: Serve, keys: Keys, tmp_path: Path) -> None:
    server = serve(answering("x"))
    text = "@cert-authority *.example,127.0.0.1 ssh-ed25519 AAAA\n@revoked\nnot a line\n|1|x|y ssh-rsa !!\n"
    path = known_hosts(tmp_path / "kh", text)
    _, error = timed(ssh(server, keys, known_hosts=path, host_key_policy="strict").connect)
    assert error is not None and "is not in known_hosts" in error.reason
    assert "@cert-authority for it: host certificates are not supported" in error.reason


# --- ssh_config: nothing run, nothing bypassed --------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            'Host dev\n  Port 22\nMatch exec "touch {marker}"\n  User x\n',
            "{path}:3: `Match exec` would run a command",
        ),
        ("Host dev\n  Port abc\n", "{path}:2: Port 'abc' is not a port number 1-65535"),
        (
            "Host dev\n  ProxyJump jump.example:http\n",
            "{path}:2: ProxyJump: 'jump.example:http': the port is not a number 1-65535",
        ),
        (
            "Host dev\n  ProxyCommand ssh -W %h:%p %X jump\n",
            "{path}:2: ProxyCommand uses the token %X, which portspec cannot expand",
        ),
    ],
    ids=["match-exec", "port", "proxyjump", "proxycommand"],
)
def test_an_ssh_config_that_cannot_be_honoured_is_one_sentence(
    tmp_path: Path, config: str, expected: str
) -> None:
    marker, path = tmp_path / "ran", tmp_path / "ssh_config"
    path.write_text(config.format(marker=marker))
    transport = SSHTransport("d", SSHSettings(host="dev", ssh_config=str(path)))
    _, error = timed(transport.connect)
    assert error is not None and error.reason.startswith(expected.format(path=path))
    assert not marker.exists()


# --- end to end, through the plugin -------------------------------------------------------------


def test_a_flooding_device_through_the_plugin_ends_without_a_traceback(
    serve: Serve, keys: Keys, pytester: pytest.Pytester
) -> None:
    server = serve(flooding(12 * MB))  # the real 8 MB cap
    started = time.monotonic()
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "--device",
        f"smartserver@127.0.0.1:{server.port}",
        "--host-key-policy",
        "ignore",
        "--ssh-key",
        str(keys.client),
        "--no-sudo",
        "--ssh-user",
        "x",
    )
    out = result.stdout.str()
    assert result.ret == 1 and time.monotonic() - started < 60
    assert "exceeded 8 MB (stdout and stderr together)" in out
    assert "Traceback" not in out and 'File "' not in out
    assert "passed" not in result.parseoutcomes()


def test_sessions_are_answered_in_order(serve: Serve, keys: Keys) -> None:
    """The server itself: what a test asks is what it answers (guards the cases above)."""
    seen: list[str] = []

    def echo(session: Session) -> None:
        seen.append(session.command)
        session.send("out")
        session.send("err", stderr=True)
        session.finish(3)

    server = serve(echo)
    result = ssh(server, keys).run("hello")
    assert (result.exit_status, result.stdout, result.stderr, seen) == (3, "out", "err", ["hello"])


def test_a_match_on_a_host_named_exec_is_no_command(tmp_path: Path) -> None:
    path = tmp_path / "ssh_config"
    path.write_text("Host dev\n  Port 2222\nMatch host exec-server,exec\n  User x\n")
    assert SSHTransport("d", SSHSettings(host="dev", ssh_config=str(path))).endpoint() == ("dev", 2222)


def test_ignore_with_no_known_hosts_file_connects_unverified(
    serve: Serve, keys: Keys, tmp_path: Path
) -> None:
    transport = ssh(serve(answering("x")), keys, known_hosts=str(tmp_path / "none"))
    transport.connect()
    assert transport.host_key_verified is False and not (tmp_path / "none").exists()
    assert transport.host_key_note == "host key NOT verified: not in known_hosts (--host-key-policy ignore)"
