"""`portspec capture-script [SPEC]`: a POSIX sh script a site runs on its device to capture offline evidence.

The script runs the snapshot's own read-only state command (state_command.py, as root: the site
runs it with sudo), then the outbound probes of the spec's rows with the probe runner the
snapshot's probe-tools section picks (choose_runner's rule, in sh), then the fingerprint again,
and writes one bundle file (bundle_format.py). `pytest --device SPEC@bundle:FILE` judges it.

Which outbound probes: those the spec (profile, conditions, role) and the script's own --dest and
--port options name. A destination a live run takes from the device's configuration (a `dns` row's
resolvers, an `ntp` row's time servers) is not known here: pass it with --dest, else its item is
skipped as not captured. The script writes only its bundle and a temporary directory it removes.

Without a SPEC the script captures the state alone (no outbound probe): what `portspec draft
--device bundle:FILE` needs for a product that has no spec yet.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from pytest_portspec.addresses import is_hostname, is_ip
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.reach import outbound_probes
from pytest_portspec.checks.readings import probes_of_every_reading
from pytest_portspec.device import state_command as snap
from pytest_portspec.device.bundle_format import MAGIC, MARK
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.probe.outbound import OutboundProbe, python_command, shell_command
from pytest_portspec.spec.policy import EffectivePolicy

SECTION_ORDER = ("meta", "state", "outbound-probes", "outbound-runner", "outbound", "fingerprint-after")
_END = "PORTSPEC_CAPTURE_END"  # the here-documents' delimiter: no line of JSON is this word
# No snapshot yet: no resolver, time server or listener is known (outbound probes need none of the rest)
_NOTHING_SEEN = Facts(
    ufw=UfwState(False, "disabled", "disabled", "disabled", (), False, "status"), sockets=()
)


def capture_probes(policy: EffectivePolicy, declared: Declarations) -> list[OutboundProbe]:
    """The outbound probes of every reading of the spec that are known without a snapshot."""
    return probes_of_every_reading(lambda p: outbound_probes(p, _NOTHING_SEEN, declared), policy)


_HEAD = """#!/bin/sh
# pytest-portspec {version} capture-script: offline evidence for {subject}.
# Run it on the device as root, e.g.  sudo sh capture.sh [OUT.bundle]  and send OUT.bundle back.
# It only reads (the same read-only commands as a live snapshot) and sends the outbound probes
# listed in outbound-probes below; it writes OUT.bundle and a temporary directory it removes.
set -u
umask 077
command -v sha256sum >/dev/null || {{ echo 'portspec capture: sha256sum is not installed' >&2; exit 1; }}
out=${{1:-portspec-capture-$(uname -n)-$(date -u +%Y%m%dT%H%M%SZ).bundle}}
d=$(mktemp -d "${{TMPDIR:-/tmp}}/portspec-capture.XXXXXX") || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' HUP INT TERM
[ "$(id -u)" = 0 ] || echo 'portspec capture: not root: the root reads will fail (run it with sudo)' >&2
{{
printf 'captured_at: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf 'captured_on: %s\\n' "$(uname -n)"
printf 'captured_by: %s\\n' "$(id -un 2>/dev/null || id -u)"
printf 'spec: %s\\nprofile: %s\\ntool: pytest-portspec %s\\n' {spec} {profile} {version}
}} > "$d/meta"
"""

_RUNNER = """tools=$(sed -n '/^{mark}probe-tools$/,/^{mark}rc=/p' "$d/state")
has() {{ printf '%s\\n' "$tools" | grep -qx "$1 yes"; }}
if has python3; then runner=python
elif has bash && has bash-tcp && has timeout; then runner=bash
elif has nc && has nc-z; then runner=nc
else runner=none; fi
printf '%s\\n' "$runner" > "$d/outbound-runner"
"""

_TAIL = """emit() {{
    sum=$(sha256sum < "$d/$1" | cut -d' ' -f1)
    printf '{bundle} %s %s %s\\n' "$1" "$sum" "$(wc -c < "$d/$1" | tr -d ' ')"
    cat "$d/$1"
    printf '\\n'
}}
{{ printf '{magic}\\n'; for s in {sections}; do emit "$s"; done; }} > "$d/body"
sum=$(sha256sum < "$d/body" | cut -d' ' -f1)
{{ cat "$d/body"; printf '{bundle} end %s\\n' "$sum"; }} > "$out" || exit 1
echo "portspec capture: wrote $out, bundle sha256 $sum (the report shows it): send this file" >&2
"""


def capture_script(
    policy: EffectivePolicy | None, probes: list[OutboundProbe], timeout: float, version: str
) -> str:
    """The whole script (module docstring); no policy: the state alone (then `probes` is empty)."""
    q = shlex.quote
    spec, profile = (policy.spec.name, policy.profile.name) if policy else ("-", "-")
    subject = f"spec {spec} (profile {profile})" if policy else "the state alone (no spec: for a draft)"
    head = _HEAD.format(version=q(version), spec=q(spec), profile=q(profile), subject=subject)
    state = f'{snap.state_command(sudo=False)} < /dev/null > "$d/state" 2>/dev/null\n'
    document = [
        {"id": p.id, "host": p.host, "proto": p.proto, "port": p.port, "protocol": p.protocol} for p in probes
    ]
    listed = f"cat > \"$d/outbound-probes\" <<'{_END}'\n{json.dumps(document)}\n{_END}\n"
    fingerprint = f'{snap.fingerprint_command(sudo=False)} < /dev/null > "$d/fingerprint-after" 2>/dev/null\n'
    tail = _TAIL.format(bundle=MARK, magic=MAGIC.decode().strip(), sections=" ".join(SECTION_ORDER))
    return (
        head
        + state
        + _RUNNER.format(mark=snap.MARK)
        + listed
        + _probing(probes, timeout)
        + fingerprint
        + tail
    )


def _probing(probes: list[OutboundProbe], timeout: float) -> str:
    """Run the probes with the runner chosen, as a live run's outbound command would."""
    if not probes:
        return ': > "$d/outbound"\n'
    command, stdin = python_command(probes, timeout)
    return (
        "case $runner in\n"
        f"python) {command} > \"$d/outbound\" 2>/dev/null <<'{_END}'\n{stdin.rstrip()}\n{_END}\n;;\n"
        f'bash) {shell_command(probes, timeout, tool="bash")} < /dev/null > "$d/outbound" 2>/dev/null;;\n'
        f'nc) {shell_command(probes, timeout, tool="nc")} < /dev/null > "$d/outbound" 2>/dev/null;;\n'
        '*) : > "$d/outbound";;\n'
        "esac\n"
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`portspec capture-script [SPEC [--profile ...] [--dest KEY=HOST] [--port ROW=PORT]]`."""
    parser = commands.add_parser(
        "capture-script", help="print a sh script that captures offline evidence on the device"
    )
    parser.add_argument(
        "spec", nargs="?", help="spec name or path (none: capture the state alone, for `portspec draft`)"
    )
    parser.add_argument("--profile", help="profile (default: the spec's default profile)")
    for flag, state in (("--enable", "on"), ("--disable", "off")):
        parser.add_argument(
            flag, action="append", default=[], metavar="COND", help=f"turn a condition {state}"
        )
    parser.add_argument("--firmware", metavar="VERSION", help="device firmware version")
    parser.add_argument("--role", help="the device's node role")
    parser.add_argument(
        "--dest", action="append", default=[], metavar="KEY=HOST", help="a destination to probe"
    )
    parser.add_argument(
        "--port", action="append", default=[], metavar="ROW=PORT", help="a configurable row's port"
    )
    parser.add_argument("--probe-timeout", type=float, default=3.0, metavar="SECONDS", help="per probe")
    parser.add_argument(
        "--spec-dir", action="append", default=[], type=Path, metavar="DIR", help="look for specs here first"
    )


def run_capture_script(args: argparse.Namespace) -> int:
    from pytest_portspec import __version__
    from pytest_portspec.errors import PortspecError
    from pytest_portspec.spec.catalog import find_spec
    from pytest_portspec.spec.policy import policy_named

    if args.spec is None:
        return _state_alone(args, __version__)
    spec = find_spec(args.spec, args.spec_dir)
    if spec.roles and args.role is None:
        raise PortspecError(f"spec {spec.name!r} describes roles ({', '.join(spec.roles)}): pass --role")
    policy = policy_named(spec, args)
    try:
        declared = Declarations(ports=_ports(args.port), destinations=_dests(args.dest))
        script = capture_script(policy, capture_probes(policy, declared), args.probe_timeout, __version__)
    except ValueError as exc:
        raise PortspecError(str(exc)) from None
    print(script, end="")
    return 0


_SPEC_OPTIONS = ("profile", "enable", "disable", "firmware", "role", "dest", "port")


def _state_alone(args: argparse.Namespace, version: str) -> int:
    """No SPEC: nothing to probe, so an option that chooses probes has nothing to act on."""
    from pytest_portspec.errors import PortspecError

    given = [f"--{name}" for name in _SPEC_OPTIONS if getattr(args, name)]
    if given:
        without = "without one the script captures the state alone"
        raise PortspecError(f"{', '.join(given)} need(s) a SPEC: {without}")
    print(capture_script(None, [], args.probe_timeout, version), end="")
    return 0


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = [value.partition("=") for value in values]
    bad = next((f"{k}{s}{v}" for k, s, v in pairs if not (k and s and v)), None)
    if bad is not None:
        raise ValueError(f"{flag} {bad!r}: expected KEY=VALUE")
    return [(k, v) for k, _, v in pairs]


def _dests(values: list[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for key, host in _pairs(values, "--dest"):
        if not (is_ip(host) or is_hostname(host)):
            raise ValueError(f"--dest {key}={host}: {host!r} is not a valid host name or address")
        found[key] = (*found.get(key, ()), host)
    return found


def _ports(values: list[str]) -> dict[str, int]:
    found = {}
    for row, port in _pairs(values, "--port"):
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"--port {row}={port}: {port!r} is not a port number 1-65535")
        found[row] = int(port)
    return found
