"""Outbound probes: can the device reach host:port/proto? Run ON the device, all in one command.

Three ways to run them, chosen by what the device has (`tools_command` asks, and
`choose_runner` picks from its answer):

    python   `python_command`: python3 >= 3.5 runs a program generated from the
             modules of payloads.DEVICE_MODULES (`remote_program`), the probes as JSON
             on stdin. Resolves with the device's resolver, probes every check
             concurrently, and speaks SNTP / DNS / BACnet on UDP. The only way UDP
             can be verified; used whenever python3 >= 3.5 exists.
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

This module builds the commands; the probe and result types are in `probe/model.py`, the
python program in `probe/program.py` and the reading of the outputs in `probe/results.py`,
all re-exported here.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from typing import Literal

from pytest_portspec.addresses import is_ip, is_scoped_ip
from pytest_portspec.probe.model import (
    MAX_TIMEOUT,
    OUTCOMES,
    SHELL_TAG,
    UDP_PROTOCOLS,
    OutboundProbe,
    Outcome,
    ProbeResult,
    Proto,
    Runner,
    check_target,
    check_timeout,
    checked_probes,
    udp_verifiable,
)
from pytest_portspec.probe.program import remote_program
from pytest_portspec.probe.results import parse_results, result_from_record

__all__ = [
    "MAX_TIMEOUT",
    "OUTCOMES",
    "SHELL_TAG",
    "UDP_PROTOCOLS",
    "OutboundProbe",
    "Outcome",
    "ProbeResult",
    "Proto",
    "Runner",
    "check_target",
    "check_timeout",
    "choose_runner",
    "parse_results",
    "python_command",
    "remote_program",
    "result_from_record",
    "shell_command",
    "tools_command",
    "udp_verifiable",
]


def python_command(probes: Sequence[OutboundProbe], timeout: float) -> tuple[str, str]:
    """(shell command, stdin text) that probes every check from the device with python3.

    The command is constant (the program is quoted into it; `-I` keeps the device's
    PYTHONPATH and current directory out); everything that varies is JSON on stdin.
    It prints one JSON document and takes at most `timeout` + about 1 s.
    """
    probes = checked_probes(probes)
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
    probes = checked_probes(probes)
    seconds = math.ceil(check_timeout(timeout))
    lines = [f"T={seconds}", f"TOOL={tool}", _SHELL_LIBRARY.strip()]
    for index, probe in enumerate(probes):
        kind = "ip" if is_ip(probe.host) or is_scoped_ip(probe.host) else "name"
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
