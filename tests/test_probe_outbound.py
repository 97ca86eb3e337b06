"""Outbound probes: the generated python program, the shell fallbacks and the strict parser.

The program runs here as the device would run it (`sh -c COMMAND` with the JSON on stdin),
against servers started on 127.0.0.1 by the tests. Nothing leaves loopback: every host is
127.0.0.1 or "localhost", and the one resolver failure is made by a fake getent or a
patched getaddrinfo, never by a real lookup. The servers live here and are shared with
test_probe_inbound.py.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.lab.services import sntp_reply
from pytest_portspec.probe import payloads, program
from pytest_portspec.probe.outbound import (
    OutboundProbe,
    ProbeResult,
    choose_runner,
    parse_results,
    python_command,
    remote_program,
    shell_command,
    tools_command,
)

LOOPBACK = "127.0.0.1"

# --- servers on loopback ------------------------------------------------------------------------


class UdpServer:
    """Answers each datagram with answer(datagram) (None: no answer); remembers what it got."""

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.received: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(data)
            reply = self.answer(data)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@contextmanager
def udp_server(answer: Callable[[bytes], bytes | None]) -> Iterator[UdpServer]:
    server = UdpServer(answer)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def tcp_listener() -> Iterator[int]:
    """A listening port: the kernel completes the handshake, nothing needs to accept."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(64)
        yield sock.getsockname()[1]


@contextmanager
def tcp_black_hole() -> Iterator[int]:
    """A port whose SYNs are dropped: a listener with a full accept queue (no root needed)."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):  # the queue holds one or two, depending on the kernel
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.3)
                try:
                    filler.connect((LOOPBACK, port))
                except TimeoutError:
                    break
            else:
                pytest.fail("could not fill the accept queue of the black-hole listener")
            yield port
        finally:
            for filler in fillers:
                filler.close()


def closed_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def silent_udp() -> Iterator[int]:
    """A bound UDP port that never answers (so no ICMP port unreachable either)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


def dns_answer(query: bytes) -> bytes:
    """NOERROR, no records, the question echoed: a well-formed response."""
    return query[:2] + struct.pack("!HHHHH", 0x8180, 1, 0, 0, 0) + query[12:]


def bacnet_ack(request: bytes) -> bytes:
    """A ReadProperty ComplexACK (the Device's Object_Identifier) to the request's invoke id."""
    apdu = bytes([0x30, request[8], 0x0C, 0x0C, 0x02, 0x00, 0x00, 0x07, 0x19, 0x4B, 0x3E])
    apdu += bytes([0xC4, 0x02, 0x00, 0x00, 0x07, 0x3F])
    npdu = bytes([0x01, 0x00])
    return bytes([0x81, 0x0A]) + struct.pack("!H", 4 + len(npdu) + len(apdu)) + npdu + apdu


def kiss_of_death(request: bytes) -> bytes | None:
    reply = sntp_reply(request)
    assert reply is not None
    return reply[:1] + b"\x00" + reply[2:12] + b"RATE" + reply[16:]


def stale_sntp(request: bytes) -> bytes | None:
    """A valid-looking reply to some other request (its originate timestamp is not ours)."""
    return sntp_reply(request[:40] + b"\x01" * 8)


# --- running the commands ---------------------------------------------------------------------------


def run_python(probes: list[OutboundProbe], timeout: float = 1.0) -> list[ProbeResult]:
    command, stdin = python_command(probes, timeout)
    done = subprocess.run(
        ["sh", "-c", command], input=stdin, capture_output=True, text=True, timeout=timeout + 20, check=False
    )
    assert done.returncode == 0, done.stderr
    return parse_results("python", done.stdout, probes, stderr=done.stderr)


def run_shell(
    probes: list[OutboundProbe], tool: str = "bash", timeout: float = 1.0, path: str | None = None
) -> list[ProbeResult]:
    command = shell_command(probes, timeout, tool="nc" if tool == "nc" else "bash")
    env = dict(os.environ, PATH=path) if path else None
    done = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=2 * timeout + 20, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    return parse_results("shell", done.stdout, probes, stderr=done.stderr)


def by_id(results: list[ProbeResult]) -> dict[str, ProbeResult]:
    return {r.id: r for r in results}


# --- the python program -------------------------------------------------------------------------


def test_tcp_listener_is_ok_and_a_closed_port_refused() -> None:
    with tcp_listener() as port:
        closed = closed_port()
        results = by_id(
            run_python(
                [
                    OutboundProbe("open", LOOPBACK, "tcp", port),
                    OutboundProbe("closed", LOOPBACK, "tcp", closed),
                ]
            )
        )
    assert results["open"].outcome == "ok", results["open"]
    assert results["open"].address == LOOPBACK
    assert results["open"].addresses == (LOOPBACK,)
    assert results["open"].detail.startswith(f"TCP connection to {LOOPBACK}:{port} accepted in ")
    assert results["closed"].outcome == "refused"
    assert f"connection refused by {LOOPBACK}:{closed}" in results["closed"].detail


def test_tcp_port_that_drops_syns_times_out() -> None:
    with tcp_black_hole() as port:
        (result,) = run_python([OutboundProbe("dropped", LOOPBACK, "tcp", port)], timeout=1.0)
    assert result.outcome == "timeout", result
    assert result.detail == f"no answer from {LOOPBACK}:{port} within 1.0 s"


def test_localhost_is_resolved_by_the_resolver_and_an_ip_is_not() -> None:
    with tcp_listener() as port:
        results = by_id(
            run_python(
                [OutboundProbe("name", "localhost", "tcp", port), OutboundProbe("ip", LOOPBACK, "tcp", port)]
            )
        )
    name, ip = results["name"], results["ip"]
    assert name.outcome == ip.outcome == "ok"
    assert name.host == "localhost"
    assert name.address == LOOPBACK  # IPv4 first, even where localhost also has ::1
    assert LOOPBACK in name.addresses
    assert ip.addresses == (LOOPBACK,)


@pytest.mark.parametrize(
    ("protocol", "answer", "outcome", "detail"),
    [
        ("sntp", sntp_reply, "ok", "SNTP reply from 127.0.0.1:{port} in "),
        (
            "sntp",
            lambda request: b"garbage",
            "answered",
            "not with a valid SNTP reply: too short for SNTP (7 bytes)",
        ),
        ("sntp", lambda request: request, "answered", "mode 3 where a server reply has mode 4"),
        ("sntp", stale_sntp, "answered", "its originate timestamp is not our request's"),
        ("sntp", kiss_of_death, "answered", "refused service (kiss-o'-death RATE)"),
        ("dns", dns_answer, "ok", "DNS reply from 127.0.0.1:{port} in "),
        ("dns", lambda query: query, "answered", "it is a query, not a response"),
        ("dns", lambda query: b"\x00\x00" + dns_answer(query)[2:], "answered", "another query id"),
        ("bacnet", bacnet_ack, "ok", "BACnet reply from 127.0.0.1:{port} in "),
        ("bacnet", lambda request: request, "answered", "APDU type 0, not a reply"),
    ],
    ids=[
        "sntp",
        "sntp-garbage",
        "sntp-echo",
        "sntp-stale",
        "sntp-kiss-of-death",
        "dns",
        "dns-echo",
        "dns-other-id",
        "bacnet",
        "bacnet-echo",
    ],
)
def test_udp_exchange_is_ok_only_for_a_valid_reply(
    protocol: str, answer: Callable[[bytes], bytes | None], outcome: str, detail: str
) -> None:
    with udp_server(answer) as server:
        (result,) = run_python(
            [OutboundProbe("u", LOOPBACK, "udp", server.port, protocol=protocol)], timeout=1.0
        )
    assert result.outcome == outcome, result
    assert detail.format(port=server.port) in result.detail
    assert server.received, "the request never arrived"


def test_udp_ok_detail_names_what_the_reply_said() -> None:
    with udp_server(sntp_reply) as sntp, udp_server(dns_answer) as dns, udp_server(bacnet_ack) as bacnet:
        results = by_id(
            run_python(
                [
                    OutboundProbe("ntp", LOOPBACK, "udp", sntp.port, protocol="sntp"),
                    OutboundProbe("dns", LOOPBACK, "udp", dns.port, protocol="dns"),
                    OutboundProbe("bacnet", LOOPBACK, "udp", bacnet.port, protocol="bacnet"),
                ]
            )
        )
    assert results["ntp"].detail.endswith("ms (stratum 2)")
    assert results["dns"].detail.endswith("ms (NOERROR, 0 answers)")
    assert results["bacnet"].detail.endswith("ms (ComplexACK)")


def test_udp_without_an_answer_times_out_after_retries() -> None:
    with silent_udp() as port:
        (result,) = run_python([OutboundProbe("u", LOOPBACK, "udp", port, protocol="sntp")], timeout=1.0)
    assert result.outcome == "timeout"
    assert result.detail.startswith(f"no SNTP reply from {LOOPBACK}:{port} within 1.0 s")
    assert "(3 requests sent)" in result.detail


def test_udp_port_unreachable_is_refused() -> None:
    port = closed_port(socket.SOCK_DGRAM)
    (result,) = run_python([OutboundProbe("u", LOOPBACK, "udp", port, protocol="dns")])
    assert result.outcome == "refused"
    assert result.detail.startswith(f"ICMP port unreachable from {LOOPBACK}:{port}")


def test_udp_port_without_a_known_protocol_is_unverifiable_and_nothing_is_sent() -> None:
    with udp_server(lambda data: data) as server:
        (result,) = run_python([OutboundProbe("u", LOOPBACK, "udp", server.port)])
        time.sleep(0.1)
    assert result.outcome == "unverifiable"
    assert result.address == LOOPBACK
    assert f"no known protocol for {server.port}/udp" in result.detail
    assert server.received == []


def test_probes_run_concurrently() -> None:
    with silent_udp() as port:
        probes = [OutboundProbe(f"p{i}", LOOPBACK, "udp", port, protocol="sntp") for i in range(10)]
        started = time.monotonic()
        results = run_python(probes, timeout=1.0)
        elapsed = time.monotonic() - started
    assert [r.outcome for r in results] == ["timeout"] * 10
    assert elapsed < 5, f"10 probes of 1 s took {elapsed:.1f} s: not concurrent"


def test_results_come_back_in_probe_order_with_their_ids() -> None:
    with tcp_listener() as port:
        probes = [OutboundProbe(f"id {i} / ünïcode", LOOPBACK, "tcp", port) for i in range(5)]
        results = run_python(probes)
    assert [r.id for r in results] == [p.id for p in probes]
    assert all(r.outcome == "ok" for r in results)


# --- the program's source ---------------------------------------------------------------------------


def test_remote_program_is_python_35_syntax_built_from_payloads() -> None:
    program = remote_program()
    ast.parse(program, feature_version=(3, 5))  # f-strings, variable annotations, ... refused
    assert "typing" not in program
    assert "from __future__" not in program
    tree = ast.parse(program)
    functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert {"sntp_check", "dns_check", "bacnet_check", "run_probes", "main"} <= functions
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            assert node.returns is None and all(a.annotation is None for a in node.args.args), node.name


def _old_python() -> str | None:
    """A Python 3.5 or 3.6 interpreter (pyenv's, typically), or None."""
    candidates = [shutil.which("python3.5"), shutil.which("python3.6")]
    for root in (Path.home() / ".pyenv" / "versions", Path("/root/.pyenv/versions")):
        if root.is_dir():
            candidates += [str(p) for p in sorted(root.glob("3.[56].*/bin/python3"))]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] < (3, 7))"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except OSError:
            continue
        if done.stdout.strip() == "True":
            return candidate
    return None


def test_remote_program_is_built_once_when_device_threads_ask_at_once() -> None:
    """Device threads ask for the program together; CPython 3.11's parser is not safe for that."""
    program._built_program.cache_clear()
    results: list[str] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(remote_program())
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 16 and len(set(results)) == 1


def test_remote_program_runs_on_the_oldest_python_here() -> None:
    # pyenv's 3.6 where the machine has it (CI's image does); else the system's python3, so the
    # program still runs for real. Its 3.5 syntax is checked with ast in every environment.
    python = _old_python() or shutil.which("python3") or sys.executable
    with tcp_listener() as port, udp_server(sntp_reply) as ntp, udp_server(dns_answer) as dns:
        probes = [
            OutboundProbe("tcp", "localhost", "tcp", port),
            OutboundProbe("ntp", LOOPBACK, "udp", ntp.port, protocol="sntp"),
            OutboundProbe("dns", LOOPBACK, "udp", dns.port, protocol="dns"),
        ]
        command, stdin = python_command(probes, 1.0)
        argv = shlex.split(command)
        assert argv[:3] == ["python3", "-I", "-c"]
        done = subprocess.run(
            [python, *argv[1:]], input=stdin, capture_output=True, text=True, timeout=20, check=False
        )
    assert done.returncode == 0, done.stderr
    results = parse_results("python", done.stdout, probes)
    assert [r.outcome for r in results] == ["ok", "ok", "ok"], results


def test_command_carries_the_program_quoted_and_the_probes_on_stdin() -> None:
    probes = [OutboundProbe("a'b", "time.example.com", "udp", 123)]
    command, stdin = python_command(probes, 2.5)
    assert shlex.split(command) == ["python3", "-I", "-c", remote_program()]
    assert json.loads(stdin) == {
        "timeout": 2.5,
        "probes": [{"id": "a'b", "host": "time.example.com", "proto": "udp", "port": 123, "protocol": None}],
    }


def test_program_refuses_bad_input_and_the_parser_reports_it() -> None:
    probes = [OutboundProbe("a", LOOPBACK, "tcp", 1)]
    done = subprocess.run(
        ["python3", "-I", "-c", remote_program()],
        input='{"timeout": -1, "probes": []}',
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 2
    (result,) = parse_results("python", done.stdout, probes)
    assert result.outcome == "error"
    assert "refused its input: bad input: timeout out of range" in result.detail


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("a", "x; rm -rf /", "tcp", 80), "neither a host name nor an IP address"),
        (("a", "$(reboot)", "tcp", 80), "neither a host name nor an IP address"),
        (("a", "1.2.3", "tcp", 80), "neither a host name nor an IP address"),
        (("a", LOOPBACK, "icmp", 80), "protocol must be tcp or udp"),
        (("a", LOOPBACK, "tcp", 0), "port must be 1-65535"),
        (("a", LOOPBACK, "tcp", 65536), "port must be 1-65535"),
        (("a", LOOPBACK, "tcp", True), "port must be 1-65535"),
        (("", LOOPBACK, "tcp", 80), "non-empty string"),
        (("a", LOOPBACK, "tcp", 53, "dns"), "not a UDP protocol"),
        (("a", LOOPBACK, "udp", 9, "snmp"), "not a UDP protocol"),
    ],
)
def test_probes_are_validated(fields: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OutboundProbe(*fields)


def test_duplicate_ids_and_bad_timeouts_are_refused() -> None:
    probe = OutboundProbe("a", LOOPBACK, "tcp", 80)
    with pytest.raises(ValueError, match="used twice"):
        python_command([probe, probe], 1.0)
    for timeout in (0, -1, float("inf"), float("nan"), 601, True):
        with pytest.raises(ValueError, match="timeout"):
            python_command([probe], timeout)
        with pytest.raises(ValueError, match="timeout"):
            shell_command([probe], timeout)
    object.__setattr__(probe, "host", "a b")  # a probe changed after it was validated
    with pytest.raises(ValueError, match="neither a host name"):
        shell_command([probe], 1.0)


# --- the shell fallbacks ------------------------------------------------------------------------


def test_shell_fallback_with_bash() -> None:
    with tcp_listener() as port, tcp_black_hole() as dropped:
        closed = closed_port()
        results = by_id(
            run_shell(
                [
                    OutboundProbe("open", LOOPBACK, "tcp", port),
                    OutboundProbe("name", "localhost", "tcp", port),
                    OutboundProbe("closed", LOOPBACK, "tcp", closed),
                    OutboundProbe("dropped", LOOPBACK, "tcp", dropped),
                    OutboundProbe("ntp", LOOPBACK, "udp", 123),
                ]
            )
        )
    assert results["open"].outcome == "ok", results["open"]
    assert results["open"].detail == f"TCP connection to {LOOPBACK}:{port} accepted (bash)"
    assert results["name"].outcome == "ok"
    assert results["name"].address == LOOPBACK
    assert results["closed"].outcome == "refused"
    assert results["dropped"].outcome == "timeout", results["dropped"]
    assert results["ntp"].outcome == "unverifiable"
    assert "no python3 on the device" in results["ntp"].detail


def _fake_tools(tmp_path: Path, **scripts: str) -> str:
    """A PATH whose first directory holds the given fake commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in scripts.items():
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
        tool.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_shell_fallback_reports_a_name_the_resolver_cannot_resolve(tmp_path: Path) -> None:
    path = _fake_tools(tmp_path, getent="exit 2")  # what getent says for an unknown name
    probes = [
        OutboundProbe("a", "portspec-test.invalid", "tcp", 443),
        OutboundProbe("b", "localhost", "udp", 53),
    ]
    results = run_shell(probes, path=path)
    assert [r.outcome for r in results] == ["dns-failure", "dns-failure"]
    assert results[0].detail == "the device's resolver (getent) cannot resolve portspec-test.invalid"


def test_shell_fallback_says_when_bash_has_no_dev_tcp(tmp_path: Path) -> None:
    path = _fake_tools(tmp_path, bash='echo "bash: /dev/tcp/$3/$4: No such file or directory" >&2; exit 1')
    with tcp_listener() as port:
        (result,) = run_shell([OutboundProbe("a", LOOPBACK, "tcp", port)], path=path)
    assert result.outcome == "error"
    assert "bash on the device has no /dev/tcp (use nc)" in result.detail


def test_shell_fallback_never_passes_on_a_tool_that_fails(tmp_path: Path) -> None:
    path = _fake_tools(tmp_path, nc='echo "nc: invalid option -- z" >&2; exit 1')
    with tcp_listener() as port:
        (result,) = run_shell([OutboundProbe("a", LOOPBACK, "tcp", port)], tool="nc", path=path)
    assert result.outcome == "error"
    assert "with nc failed (exit 1): nc: invalid option -- z" in result.detail


def test_shell_fallback_with_nc() -> None:
    assert shutil.which("nc"), "nc is missing: scripts/test installs netcat-openbsd (lab install-deps)"
    with tcp_listener() as port:
        closed = closed_port()
        results = run_shell(
            [OutboundProbe("open", LOOPBACK, "tcp", port), OutboundProbe("closed", LOOPBACK, "tcp", closed)],
            tool="nc",
        )
    assert [r.outcome for r in results] == ["ok", "refused"], results
    assert results[0].detail.endswith("accepted (nc)")


def test_shell_command_quotes_every_value() -> None:
    command = shell_command([OutboundProbe("x'; reboot; '", LOOPBACK, "tcp", 22)], 1.5, tool="bash")
    argv = shlex.split(command)
    assert argv[:2] == ["sh", "-c"]
    script = argv[2]
    assert "reboot" not in script  # ids never reach the shell: probes are numbered
    assert "T=2\n" in script  # whole seconds, rounded up
    assert "probe 0 127.0.0.1 ip tcp 22 &" in script


def test_tools_are_detected_and_a_runner_chosen() -> None:
    done = subprocess.run(
        ["sh", "-c", tools_command()], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "python3 yes" in done.stdout.splitlines()  # this test runs under python3
    assert choose_runner(done.stdout) == "python"
    no_python = "python3 no\nbash yes\nnc yes\ntimeout yes\ngetent yes\n"
    assert choose_runner(no_python + "bash-tcp yes\nnc-z yes\n") == "bash"
    assert choose_runner(no_python + "bash-tcp no\nnc-z yes\n") == "nc"
    assert choose_runner(no_python.replace("timeout yes", "timeout no") + "bash-tcp yes\nnc-z yes") == "nc"
    assert choose_runner(no_python + "bash-tcp no\nnc-z no\n") is None
    assert choose_runner("") is None


# --- strict parsing -------------------------------------------------------------------------------

PROBES = [OutboundProbe("tcp", "time.example.com", "tcp", 443), OutboundProbe("ntp", "192.0.2.1", "udp", 123)]


def _record(probe: OutboundProbe, **changes: Any) -> dict[str, Any]:
    record = {
        "id": probe.id,
        "host": probe.host,
        "proto": probe.proto,
        "port": probe.port,
        "outcome": "ok",
        "address": "192.0.2.1",
        "addresses": ["192.0.2.1"],
        "seconds": 0.01,
        "detail": "fine",
    }
    record.update(changes)
    return record


def _report(*records: Any, **document: Any) -> str:
    return json.dumps({"program": "portspec-probe", "version": 1, "results": list(records), **document})


def test_parse_accepts_a_consistent_report() -> None:
    results = parse_results("python", _report(*(_record(p) for p in PROBES)), PROBES)
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert results[0] == ProbeResult(
        "tcp", "time.example.com", "tcp", 443, "ok", "192.0.2.1", ("192.0.2.1",), 0.01, "fine"
    )


@pytest.mark.parametrize(
    ("stdout", "stderr", "detail"),
    [
        (
            "",
            "sh: 1: python3: not found",
            "printed nothing (no python3 >= 3.5 on the device?) (stderr: sh: 1:",
        ),
        ('{"program": "portspec-probe", "vers', "", "is not one JSON document"),
        ("Welcome to the appliance\n" + _report(), "", "is not one JSON document"),
        ('["ok", "ok"]', "", "is not a portspec-probe report"),
        (_report(version=2), "", "unknown version 2"),
        (_report(results={"tcp": "ok"}), "", "unknown version 1"),
        (_report(), "", "has no result for this check"),
        ('{"program": "portspec-probe", "error": "bad input: x"}', "", "refused its input: bad input: x"),
    ],
)
def test_parse_turns_an_unusable_report_into_errors(stdout: str, stderr: str, detail: str) -> None:
    results = parse_results("python", stdout, PROBES, stderr=stderr)
    assert [r.outcome for r in results] == ["error", "error"]
    assert all(detail in r.detail for r in results), results[0].detail
    assert all(r.address is None and r.addresses == () for r in results)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"outcome": "passed"}, "unknown outcome 'passed'"),
        ({"host": "other.example.com"}, "it answers another host, protocol or port"),
        ({"port": 444}, "it answers another host, protocol or port"),
        ({"address": None}, "'ok' without the address that answered"),
        ({"address": "192.0.2.9"}, "not one of the resolved addresses"),
        ({"addresses": ["not-an-ip"]}, "bad address list"),
        ({"seconds": "fast"}, "bad duration"),
        ({"detail": " "}, "no detail"),
        ({"outcome": "unverifiable"}, "'unverifiable' for 443/tcp"),
        ({"outcome": "answered"}, "'answered' for 443/tcp"),
        ({"extra": 1}, "not a result record"),
    ],
)
def test_parse_turns_an_inconsistent_record_into_an_error(changes: dict[str, Any], problem: str) -> None:
    tcp, ntp = parse_results("python", _report(_record(PROBES[0], **changes), _record(PROBES[1])), PROBES)
    assert tcp.outcome == "error"
    assert "the probe output for this check is malformed (" in tcp.detail
    assert problem in tcp.detail
    assert ntp.outcome == "ok"


def test_parse_refuses_ok_where_no_check_could_give_it() -> None:
    other_udp = OutboundProbe("syslog", "192.0.2.1", "udp", 514)
    wrong_ip = _record(PROBES[1], address="192.0.2.7", addresses=["192.0.2.7"])
    results = parse_results("python", _report(_record(other_udp), wrong_ip), [other_udp, PROBES[1]])
    assert [r.outcome for r in results] == ["error", "error"]
    assert "'ok' for 514/udp, which this probe run cannot verify" in results[0].detail
    assert "'ok' from 192.0.2.7, not from 192.0.2.1" in results[1].detail


def test_parse_accepts_answered_only_where_a_udp_protocol_was_spoken() -> None:
    """'answered' (a reply that is not the protocol's) needs a request sent to the address probed."""
    other_udp = OutboundProbe("syslog", "192.0.2.1", "udp", 514)
    probes = [PROBES[1], other_udp]
    good = _record(PROBES[1], outcome="answered", detail="192.0.2.1:123 answered, but not with SNTP")
    results = parse_results("python", _report(good, _record(other_udp, outcome="answered")), probes)
    assert [r.outcome for r in results] == ["answered", "error"]
    assert "'answered' for 514/udp, which this probe run cannot verify" in results[1].detail
    for changes, problem in (
        ({"address": None}, "'answered' without the address that answered"),
        ({"address": "192.0.2.7", "addresses": ["192.0.2.7"]}, "'answered' from 192.0.2.7, not from"),
    ):
        (ntp,) = parse_results(
            "python", _report(_record(PROBES[1], outcome="answered", **changes)), [PROBES[1]]
        )
        assert ntp.outcome == "error" and problem in ntp.detail, ntp.detail
    shell = "portspec-probe 1 answered 192.0.2.1 192.0.2.1 0 junk\nportspec-probe end\n"
    assert parse_results("shell", shell, PROBES)[1].outcome == "error"  # the shell speaks no UDP protocol


def test_parse_reports_a_duplicate_and_ignores_unknown_ids() -> None:
    stray = _record(OutboundProbe("stray", "192.0.2.1", "tcp", 1))
    stdout = _report(
        _record(PROBES[0]), _record(PROBES[0], outcome="refused"), stray, "junk", _record(PROBES[1])
    )
    tcp, ntp = parse_results("python", stdout, PROBES)
    assert tcp.outcome == "error"
    assert "reports this check 2 times" in tcp.detail
    assert ntp.outcome == "ok"


def test_parse_shell_output() -> None:
    stdout = (
        "portspec-probe 1 unverifiable 192.0.2.1 192.0.2.1 0 no python3 on the device: 123/udp ...\n"
        "some noise\n"
        "portspec-probe 0 ok 192.0.2.5 192.0.2.5,192.0.2.6 1 TCP connection to 192.0.2.5:443 accepted\n"
        "portspec-probe end\n"
    )
    tcp, ntp = parse_results("shell", stdout, PROBES)
    assert tcp == ProbeResult(
        "tcp",
        "time.example.com",
        "tcp",
        443,
        "ok",
        "192.0.2.5",
        ("192.0.2.5", "192.0.2.6"),
        1.0,
        "TCP connection to 192.0.2.5:443 accepted",
    )
    assert ntp.outcome == "unverifiable"


@pytest.mark.parametrize(
    ("lines", "detail"),
    [
        (["portspec-probe 0 ok - - 0 x", "portspec-probe end"], "'ok' without the address"),
        (["portspec-probe 0 ok 192.0.2.5 192.0.2.5 zero x", "portspec-probe end"], "no (well-formed) result"),
        (["portspec-probe 0 ok 192.0.2.5 192.0.2.5 0", "portspec-probe end"], "no (well-formed) result"),
        (["portspec-probe 0 great 192.0.2.5 192.0.2.5 0 x", "portspec-probe end"], "unknown outcome 'great'"),
        (["portspec-probe 0 ok 192.0.2.5 192.0.2.5 0 x"] * 2 + ["portspec-probe end"], "2 times"),
        (["portspec-probe 7 ok 192.0.2.5 192.0.2.5 0 x"], "ended early"),
        ([], "printed nothing"),
    ],
)
def test_parse_shell_output_strictly(lines: list[str], detail: str) -> None:
    tcp, ntp = parse_results("shell", "\n".join(lines) + "\n", PROBES)
    assert tcp.outcome == "error"
    assert detail in tcp.detail, tcp.detail
    assert ntp.outcome == "error"


def test_shell_can_never_verify_udp() -> None:
    stdout = "portspec-probe 1 ok 192.0.2.1 192.0.2.1 0 sure\nportspec-probe end\n"
    _, ntp = parse_results("shell", stdout, PROBES)
    assert ntp.outcome == "error"
    assert "'ok' for 123/udp" in ntp.detail


# --- the payloads and the runner, in-process ------------------------------------------------------


def test_sntp_check_accepts_the_lab_server_and_refuses_the_rest() -> None:
    request = payloads.sntp_request()
    assert len(request) == 48 and request[0] == 0x23
    reply = sntp_reply(request)
    assert reply is not None
    assert payloads.sntp_check(request, reply) == (True, "stratum 2")
    unsynchronised = bytes([reply[0] | 0xC0]) + reply[1:]
    assert payloads.sntp_check(request, unsynchronised) == (
        False,
        "the server is not synchronised (stratum 2)",
    )
    assert payloads.sntp_check(request, reply[:40] + bytes(8))[0] is False


def test_dns_check() -> None:
    query = payloads.dns_request(0x1234)
    assert query[:2] == b"\x12\x34"
    assert payloads.dns_check(query, dns_answer(query)) == (True, "NOERROR, 0 answers")
    refused = query[:2] + struct.pack("!HHHHH", 0x8185, 1, 0, 0, 0) + query[12:]
    assert payloads.dns_check(query, refused) == (True, "REFUSED, 0 answers")
    formerr = query[:2] + struct.pack("!HHHHH", 0x8181, 0, 0, 0, 0)
    assert payloads.dns_check(query, formerr)[0] is True  # FORMERR need not repeat the question
    no_question = query[:2] + struct.pack("!HHHHH", 0x8180, 0, 0, 0, 0)
    assert payloads.dns_check(query, no_question) == (False, "a NOERROR response without the question")
    assert payloads.dns_check(query, dns_answer(payloads.dns_request(0x1234))[:11])[0] is False


def test_bacnet_check() -> None:
    request = payloads.bacnet_request(0x42)
    # the wildcard ReadProperty of nmap's bacnet-info and every BACnet/IP stack: 17 bytes
    assert request.hex() == "810a001101040005420c0c023fffff194b"
    assert payloads.bacnet_check(request, bacnet_ack(request)) == (True, "ComplexACK")
    error = bytes([0x81, 0x0A, 0x00, 0x0B, 0x01, 0x00, 0x50, 0x42, 0x0C, 0x91, 0x01])
    assert payloads.bacnet_check(request, error) == (True, "Error")
    forwarded = bytes([0x81, 0x04, 0x00, 0x11]) + bytes([192, 0, 2, 1, 0xBA, 0xC0]) + error[4:]
    assert payloads.bacnet_check(request, forwarded) == (True, "Error")
    routed = bytes([0x81, 0x0A, 0x00, 0x0F, 0x01, 0x08, 0x00, 0x05, 0x01, 0x07]) + error[6:]
    assert payloads.bacnet_check(request, routed) == (True, "Error")  # source specifier skipped
    other = bacnet_ack(payloads.bacnet_request(0x43))
    assert payloads.bacnet_check(request, other) == (False, "it replies to another invoke id (67)")
    assert payloads.bacnet_check(request, error[:-1]) == (False, "its BVLC length is not the datagram's")


def test_udp_ports_know_their_protocol() -> None:
    assert payloads.udp_protocol(123) == "sntp"
    assert payloads.udp_protocol(53) == "dns"
    assert payloads.udp_protocol(47808) == payloads.udp_protocol(47823) == "bacnet"
    assert payloads.udp_protocol(47824) is None
    assert payloads.udp_protocol(5353) is None
    assert payloads.udp_protocol(5353, "dns") == "dns"


@pytest.mark.parametrize(
    ("number", "outcome", "text"),
    [
        (111, "refused", "connection refused by 192.0.2.1:443 (TCP reset"),  # ECONNREFUSED
        (113, "no-route", "no route to 192.0.2.1:443: EHOSTUNREACH (No route to host)"),
        (101, "no-route", "no route to 192.0.2.1:443: ENETUNREACH (Network is unreachable)"),
        (1, "error", "TCP exchange with 192.0.2.1:443 failed: EPERM (Operation not permitted)"),
    ],
)
def test_errors_are_classified(number: int, outcome: str, text: str) -> None:
    found = payloads.classify_error(OSError(number, os.strerror(number)), "tcp", "192.0.2.1:443", 0.1)
    assert found[0] == outcome
    assert found[1].startswith(text)


def _probe_dict(probe_id: str, host: str, port: int = 80) -> dict[str, Any]:
    return {"id": probe_id, "host": host, "proto": "tcp", "port": port}


def test_runner_reports_a_resolver_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def fake(host: str, *args: Any) -> Any:
        if host == "unknown.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with tcp_listener() as port:
        unknown, known = payloads.run_probes(
            [_probe_dict("a", "unknown.example"), _probe_dict("b", LOOPBACK, port)], 1.0
        )
    assert unknown["outcome"] == "dns-failure"
    assert (
        unknown["detail"]
        == "the resolver cannot resolve unknown.example: [Errno -2] Name or service not known"
    )
    assert known["outcome"] == "ok"


def test_runner_bounds_a_resolver_that_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[str] = []

    def hanging(host: str, *args: Any) -> Any:
        calls.append(host)
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        started = time.monotonic()
        results = payloads.run_probes(
            [_probe_dict("a", "slow.example"), _probe_dict("b", "slow.example")], 0.5
        )
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert elapsed < 0.5 + payloads.GRACE + 0.5
    assert [r["outcome"] for r in results] == ["dns-failure", "dns-failure"]
    assert all(r["detail"] == "the resolver gave no answer for slow.example within 0.5 s" for r in results)
    assert calls == ["slow.example"]  # one lookup per host, shared by its probes
