"""Outbound probes: can the device reach host:port/proto? Run ON the device, all in one command.

Three ways to run them, chosen by what the device has (`tools_command` asks, and
`choose_runner` picks from its answer):

    python   `python_command`: python3 >= 3.5 runs a program generated from payloads.py
             (`remote_program`), the probes as JSON on stdin. Resolves with the device's
             resolver, probes every check concurrently, and speaks SNTP / DNS / BACnet on
             UDP. The only way UDP can be verified; used whenever python3 >= 3.5 exists.
    bash     `shell_command(tool="bash")`: no usable python3, but bash with /dev/tcp
             (bash built with network redirections: Debian, Ubuntu, RHEL, Yocto's bash)
             and `timeout`. TCP only; names resolved with `getent`.
    nc       `shell_command(tool="nc")`: no python3 and no bash /dev/tcp (BusyBox
             systems, whose ash has no /dev/tcp), but an nc with -z (OpenBSD or
             traditional netcat, BusyBox nc built with NC_110_COMPAT). TCP only.

In the shell variants every UDP probe is "unverifiable" (after its name is resolved, so a
name the device cannot resolve is still a dns-failure). `parse_results` reads any of the
three outputs; a check it cannot find a well-formed, consistent report for is an "error",
never "ok".
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import netaddr

from pytest_portspec.addresses import is_hostname, is_ip
from pytest_portspec.probe import payloads

Proto = Literal["tcp", "udp"]
Outcome = Literal["ok", "dns-failure", "refused", "timeout", "no-route", "unverifiable", "error"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
Runner = Literal["python", "bash", "nc"]

MAX_TIMEOUT = 600.0
SHELL_TAG = "portspec-probe"


@dataclass(frozen=True)
class OutboundProbe:
    """One check: can the device reach `host` (a name or an IP) on `port`/`proto`?

    `protocol` names the UDP protocol to speak (one of UDP_PROTOCOLS: dns, sntp, bacnet) on a
    port that is not its usual one; by default a UDP port speaks the protocol of UDP_PORTS
    (53 DNS, 123 SNTP, 47808-47823 BACnet) and any other is "unverifiable"."""

    id: str
    host: str
    proto: Proto
    port: int
    protocol: str | None = None

    def __post_init__(self) -> None:
        check_target(self.id, self.proto, self.port, self.protocol)
        if not (is_ip(self.host) or is_hostname(self.host)):
            raise ValueError(f"probe {self.id!r}: {self.host!r} is neither a host name nor an IP address")


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found. `address` is the address probed (None when none was), `addresses`
    what the resolver returned (the IP itself for an IP host); `detail` is one sentence."""

    id: str
    host: str
    proto: Proto
    port: int
    outcome: Outcome
    address: str | None
    addresses: tuple[str, ...]
    seconds: float
    detail: str


UDP_PROTOCOLS = tuple(payloads.UDP_PROTOCOLS)


def check_target(probe_id: str, proto: str, port: int, protocol: str | None = None) -> None:
    """ValueError unless the id, protocol, port and UDP protocol are usable (shared with inbound)."""
    if not isinstance(probe_id, str) or not probe_id:
        raise ValueError(f"a probe id must be a non-empty string, not {probe_id!r}")
    if proto not in get_args(Proto):
        raise ValueError(f"probe {probe_id!r}: protocol must be tcp or udp, not {proto!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"probe {probe_id!r}: port must be 1-65535, not {port!r}")
    if protocol is not None and (proto != "udp" or protocol not in UDP_PROTOCOLS):
        known = ", ".join(UDP_PROTOCOLS)
        raise ValueError(
            f"probe {probe_id!r}: protocol {protocol!r} is not a UDP protocol it speaks ({known})"
        )


def udp_verifiable(proto: str, port: int, protocol: str | None) -> bool:
    """Whether the python and inbound probes can verify this UDP probe (TCP: always False)."""
    return proto == "udp" and payloads.udp_protocol(port, protocol) is not None


def check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
        raise ValueError(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be more than 0 and at most {MAX_TIMEOUT:g} s, not {timeout!r}")
    return float(timeout)


def _checked_probes(probes: Sequence[OutboundProbe]) -> list[OutboundProbe]:
    seen: set[str] = set()
    for probe in probes:
        if not isinstance(probe, OutboundProbe):
            raise TypeError(f"expected OutboundProbe, not {type(probe).__name__}")
        # validate again: a frozen dataclass's fields can still be set around __post_init__
        OutboundProbe(probe.id, probe.host, probe.proto, probe.port, probe.protocol)
        if probe.id in seen:
            raise ValueError(f"probe id {probe.id!r} is used twice")
        seen.add(probe.id)
    return list(probes)


# --- the python program ---------------------------------------------------------------------------

_STRIPPED_MODULES = ("__future__", "typing")
_TOO_NEW = (ast.JoinedStr, ast.NamedExpr, ast.Match, ast.TryStar)


class _ForOldPython(ast.NodeTransformer):
    """Turn payloads.py into Python 3.5 source: drop annotations, docstrings and typing imports."""

    def __init__(self) -> None:
        self.dropped_names: set[str] = set()

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        if node.module in _STRIPPED_MODULES:
            self.dropped_names.update(alias.asname or alias.name for alias in node.names)
            return None
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        if any(alias.name in _STRIPPED_MODULES for alias in node.names):
            raise ValueError("payloads.py must import typing names with `from typing import ...`")
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        arguments = node.args
        if arguments.posonlyargs:
            raise ValueError(f"payloads.py: {node.name}() has positional-only parameters (Python 3.8+)")
        for arg in [*arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
            if arg is not None:
                arg.annotation = None
        node.returns = None
        node.body = _without_docstring(node.body)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.generic_visit(node)
        node.body = _without_docstring(node.body)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:] if isinstance(first.value.value, str) else body
    return body or [ast.Pass()]


@functools.cache
def remote_program() -> str:
    """The program `python_command` runs on the device: payloads.py for Python >= 3.5, then main()."""
    stripper = _ForOldPython()
    tree = stripper.visit(ast.parse(inspect.getsource(payloads)))
    tree.body = _without_docstring(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, _TOO_NEW):
            raise ValueError(f"payloads.py line {node.lineno}: {type(node).__name__} needs Python > 3.5")
        if isinstance(node, ast.Name) and node.id in stripper.dropped_names:
            raise ValueError(f"payloads.py line {node.lineno}: {node.id} is used outside annotations")
    ast.fix_missing_locations(tree)
    body = ast.unparse(tree)
    program = (
        "# pytest-portspec outbound probes (generated from pytest_portspec/probe/payloads.py; "
        "Python >= 3.5, stdlib only)\n" + body + "\nos._exit(main())\n"
    )
    compile(program, "<portspec-probe>", "exec")
    return program


def python_command(probes: Sequence[OutboundProbe], timeout: float) -> tuple[str, str]:
    """(shell command, stdin text) that probes every check from the device with python3.

    The command is constant (the program is quoted into it; `-I` keeps the device's
    PYTHONPATH and current directory out); everything that varies is JSON on stdin.
    It prints one JSON document and takes at most `timeout` + about 1 s.
    """
    probes = _checked_probes(probes)
    document = {
        "timeout": check_timeout(timeout),
        "probes": [
            {"id": p.id, "host": p.host, "proto": p.proto, "port": p.port, "protocol": p.protocol}
            for p in probes
        ],
    }
    return "python3 -I -c " + shlex.quote(remote_program()), json.dumps(document) + "\n"


# --- the shell fallbacks ------------------------------------------------------------------------

_SHELL_LIBRARY = r"""
LC_ALL=C
export LC_ALL
have() { command -v "$1" >/dev/null 2>&1; }
bounded() { s=$1; shift; if have timeout; then timeout "$s" "$@"; else "$@"; fi; }
flat() { printf '%s' "$1" | tr '\r\n\t' '   ' | cut -c1-300; }
say() {
    printf 'portspec-probe %s %s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$(( $(date +%s) - start ))" "$5"
}
resolved() {
    for db in ahostsv4 ahosts hosts; do
        out=$(bounded "$T" getent "$db" "$1" 2>/dev/null | awk '$1 != "" && !seen[$1]++ { print $1 }' |
            tr '\n' ',')
        if [ -n "$out" ]; then printf '%s' "${out%,}"; return 0; fi
    done
    return 1
}
probe() {
    i=$1; host=$2; kind=$3; proto=$4; port=$5; start=$(date +%s)
    if [ "$kind" = ip ]; then
        list=$host
    elif ! have getent; then
        say "$i" error - - "no getent on the device to resolve $host"; return
    elif ! list=$(resolved "$host"); then
        say "$i" dns-failure - - "the device's resolver (getent) cannot resolve $host"; return
    fi
    case $list in
        *[!0-9A-Fa-f.:,]*) say "$i" error - - "getent gave an unusable address list for $host"; return ;;
    esac
    addr=${list%%,*}
    if [ "$proto" = udp ]; then
        say "$i" unverifiable "$addr" "$list" \
            "no python3 on the device: $port/udp cannot be verified from a shell"
        return
    fi
    case $addr in *:*) target="[$addr]:$port" ;; *) target="$addr:$port" ;; esac
    if [ "$TOOL" = bash ]; then
        if ! have bash; then say "$i" error "$addr" "$list" "no bash on the device"; return; fi
        if ! have timeout; then
            say "$i" error "$addr" "$list" "no timeout command on the device to bound a bash /dev/tcp connect"
            return
        fi
        err=$(timeout "$T" bash -c 'exec 3<>"/dev/tcp/$1/$2"' portspec "$addr" "$port" 2>&1 >/dev/null)
        rc=$?
    else
        if ! have nc; then say "$i" error "$addr" "$list" "no nc on the device"; return; fi
        err=$(bounded "$((T + 1))" nc -z -v -w "$T" "$addr" "$port" 2>&1 >/dev/null)
        rc=$?
    fi
    msg=$(flat "$err")
    case $rc in
        0) say "$i" ok "$addr" "$list" "TCP connection to $target accepted ($TOOL)" ;;
        124|137|143) say "$i" timeout "$addr" "$list" "no answer from $target within $T s ($TOOL)" ;;
        *) case $msg in
            *"No such file or directory"*)
                say "$i" error "$addr" "$list" "bash on the device has no /dev/tcp (use nc): $msg" ;;
            *[Rr]efused*)
                say "$i" refused "$addr" "$list" \
                    "connection refused by $target (TCP reset: nothing listens, or a firewall rejects)" ;;
            *"No route"*|*[Uu]nreachable*) say "$i" no-route "$addr" "$list" "no route to $target: $msg" ;;
            *"timed out"*) say "$i" timeout "$addr" "$list" "no answer from $target within $T s ($TOOL)" ;;
            *) say "$i" error "$addr" "$list" "connecting to $target with $TOOL failed (exit $rc): $msg" ;;
        esac ;;
    esac
}
"""


def shell_command(
    probes: Sequence[OutboundProbe], timeout: float, *, tool: Literal["bash", "nc"] = "bash"
) -> str:
    """A POSIX sh command for a device without python3: TCP probes with bash /dev/tcp under
    `timeout` (tool="bash") or `nc -z -w` (tool="nc"), all concurrently (`&` and `wait`);
    names resolved with `getent` (ahostsv4, then ahosts, then hosts); UDP "unverifiable".
    Prints `portspec-probe INDEX OUTCOME ADDRESS ADDRESSES SECONDS DETAIL` lines, then
    `portspec-probe end`. Takes at most about twice `timeout` (resolution, then connect),
    rounded up to whole seconds."""
    if tool not in ("bash", "nc"):
        raise ValueError(f"tool must be bash or nc, not {tool!r}")
    probes = _checked_probes(probes)
    seconds = math.ceil(check_timeout(timeout))
    lines = [f"T={seconds}", f"TOOL={tool}", _SHELL_LIBRARY.strip()]
    for index, probe in enumerate(probes):
        kind = "ip" if is_ip(probe.host) else "name"
        words = [str(index), probe.host, kind, probe.proto, str(probe.port)]
        lines.append("probe " + " ".join(shlex.quote(w) for w in words) + " &")
    lines += ["wait", f"printf '%s\\n' '{SHELL_TAG} end'"]
    return "sh -c " + shlex.quote("\n".join(lines) + "\n")


_TOOLS_SCRIPT = r"""
LC_ALL=C
export LC_ALL
have() { command -v "$1" >/dev/null 2>&1; }
yes_no() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }
echo "python3 $(yes_no python3 -I -c 'import sys; sys.exit(sys.version_info < (3, 5))')"
for tool in bash nc timeout getent; do echo "$tool $(yes_no have "$tool")"; done
tcp=no
if have bash && have timeout; then
    case $(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9' 2>&1) in
        *"No such file or directory"*) ;;
        *) tcp=yes ;;
    esac
fi
echo "bash-tcp $tcp"
nc_z=no
if have nc; then
    if have timeout; then usage=$(timeout 2 nc -h 2>&1); else usage=$(nc -h 2>&1 </dev/null); fi
    case $usage in *-z*) nc_z=yes ;; esac
fi
echo "nc-z $nc_z"
"""


def tools_command() -> str:
    """A command that reports which runners the device supports (python3 >= 3.5; bash with
    /dev/tcp, tested by connecting to its own 127.0.0.1:9; timeout; getent; nc with -z)."""
    return "sh -c " + shlex.quote(_TOOLS_SCRIPT.strip() + "\n")


def choose_runner(tools_output: str) -> Runner | None:
    """The runner to use given `tools_command`'s output: python, else bash, else nc, else None."""
    found = {}
    for line in tools_output.splitlines():
        name, _, answer = line.strip().partition(" ")
        found[name] = answer == "yes"
    if found.get("python3"):
        return "python"
    if found.get("bash") and found.get("bash-tcp") and found.get("timeout"):
        return "bash"
    if found.get("nc") and found.get("nc-z"):
        return "nc"
    return None


# --- reading the results --------------------------------------------------------------------------


def parse_results(
    kind: Literal["python", "shell"], stdout: str, probes: Sequence[OutboundProbe], *, stderr: str = ""
) -> list[ProbeResult]:
    """One result per probe, in order, from the output of `python_command` ("python") or
    `shell_command` ("shell"). A probe without exactly one well-formed report consistent with
    it (same host, protocol and port; an "ok" only where one is possible) is an "error"."""
    probes = _checked_probes(probes)
    if kind == "python":
        records, problem = _python_records(stdout, probes)
    elif kind == "shell":
        records, problem = _shell_records(stdout, probes)
    else:
        raise ValueError(f"kind must be python or shell, not {kind!r}")
    if problem and stderr.strip():
        problem += f" (stderr: {_last_line(stderr)})"
    results = []
    for index, probe in enumerate(probes):
        found = records.get(index, [])
        if len(found) == 1:
            verifiable = kind == "python" and udp_verifiable(probe.proto, probe.port, probe.protocol)
            results.append(
                result_from_record(found[0], probe.id, probe.host, probe.proto, probe.port, verifiable)
            )
        elif found:
            results.append(_error(probe, f"the probe output reports this check {len(found)} times"))
        else:
            results.append(_error(probe, problem or "the probe output has no result for this check"))
    return results


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _error(probe: OutboundProbe, detail: str) -> ProbeResult:
    return ProbeResult(probe.id, probe.host, probe.proto, probe.port, "error", None, (), 0.0, detail)


def _python_records(stdout: str, probes: list[OutboundProbe]) -> tuple[dict[int, list[Any]], str]:
    if not stdout.strip():
        return {}, "the probe program printed nothing (no python3 >= 3.5 on the device?)"
    try:
        document = json.loads(stdout)
    except ValueError as exc:
        return {}, f"the probe program's output is not one JSON document ({exc})"
    if not isinstance(document, dict) or document.get("program") != payloads.PROGRAM:
        return {}, "the probe program's output is not a portspec-probe report"
    if "error" in document:
        return {}, f"the probe program refused its input: {document['error']}"
    if document.get("version") != payloads.VERSION or not isinstance(document.get("results"), list):
        return {}, f"the probe program's report has an unknown version {document.get('version')!r}"
    indexes = {probe.id: index for index, probe in enumerate(probes)}
    records: dict[int, list[Any]] = {}
    for record in document["results"]:
        probe_id = record.get("id") if isinstance(record, dict) else None
        index = indexes.get(probe_id) if isinstance(probe_id, str) else None
        if index is not None:
            records.setdefault(index, []).append(record)
    return records, "the probe program's report has no result for this check"


def _shell_records(stdout: str, probes: list[OutboundProbe]) -> tuple[dict[int, list[Any]], str]:
    records: dict[int, list[Any]] = {}
    ended = False
    for line in stdout.splitlines():
        words = line.rstrip("\r").split(" ", 6)
        if words[0] != SHELL_TAG:
            continue
        if words[1:] == ["end"]:
            ended = True
            continue
        if len(words) != 7 or not words[1].isdigit() or not words[5].isdigit():
            continue
        index = int(words[1])
        if index >= len(probes):
            continue
        _, _, outcome, address, addresses, seconds, detail = words
        probe = probes[index]
        records.setdefault(index, []).append(
            {
                "id": probe.id,
                "host": probe.host,
                "proto": probe.proto,
                "port": probe.port,
                "outcome": outcome,
                "address": None if address == "-" else address,
                "addresses": [] if addresses == "-" else addresses.split(","),
                "seconds": float(seconds),
                "detail": detail,
            }
        )
    if not stdout.strip():
        return records, "the shell probes printed nothing"
    if not ended:
        return records, "the shell probes' output ended early, without this check's result"
    return records, "the shell probes' output has no (well-formed) result for this check"


_RECORD_KEYS = {"id", "host", "proto", "port", "outcome", "address", "addresses", "seconds", "detail"}


def result_from_record(
    record: Any, probe_id: str, host: str, proto: Proto, port: int, udp_verifiable: bool
) -> ProbeResult:
    """A ProbeResult from one report of a probe run, checked against the probe it claims to answer
    (`udp_verifiable`: whether that run could verify this probe if it is UDP); any inconsistency
    makes it an "error" that says what was wrong."""
    problem = _record_problem(record, probe_id, host, proto, port, udp_verifiable)
    if problem:
        detail = f"the probe output for this check is malformed ({problem}): treated as an error"
        return ProbeResult(probe_id, host, proto, port, "error", None, (), 0.0, detail)
    return ProbeResult(
        probe_id,
        host,
        proto,
        port,
        record["outcome"],
        record["address"],
        tuple(record["addresses"]),
        float(record["seconds"]),
        record["detail"],
    )


def _record_problem(
    record: Any, probe_id: str, host: str, proto: Proto, port: int, udp_verifiable: bool
) -> str:
    if not isinstance(record, dict) or set(record) != _RECORD_KEYS:
        return "not a result record"
    if (record["id"], record["host"], record["proto"], record["port"]) != (probe_id, host, proto, port):
        return "it answers another host, protocol or port"
    outcome, address, addresses = record["outcome"], record["address"], record["addresses"]
    if outcome not in OUTCOMES:
        return f"unknown outcome {outcome!r}"
    if not isinstance(record["detail"], str) or not record["detail"].strip():
        return "no detail"
    seconds = record["seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 10**6:
        return f"bad duration {seconds!r}"
    if not isinstance(addresses, list) or not all(isinstance(a, str) and is_ip(a) for a in addresses):
        return "bad address list"
    if address is not None and not (isinstance(address, str) and is_ip(address) and address in addresses):
        return f"address {address!r} is not one of the resolved addresses"
    if outcome == "unverifiable" and (proto != "udp" or udp_verifiable):
        return f"'unverifiable' for {port}/{proto}, which can be verified"
    if outcome == "ok":
        if address is None:
            return "'ok' without the address that answered"
        if proto == "udp" and not udp_verifiable:
            return f"'ok' for {port}/udp, which this probe run cannot verify"
        if is_ip(host) and netaddr.IPAddress(address) != netaddr.IPAddress(host):
            return f"'ok' from {address}, not from {host}"
    return ""
