"""`portspec draft --device [NAME@]HOST [SSH options] [--scan] [-o FILE]`: a spec skeleton from a device.

The device is reached exactly as a run reaches it (device/schemes.py: an SSH host, `lab` /
`lab:NAME` / `NAME@lab` for an emulated appliance, `bundle:PATH` for a capture), with the run's
SSH options and strict host keys by default; only the read-only state command is sent
(engine/snapshot_only.py). `--scan` also scans the device from here (scan/run.py), at
`--scan-rate`. Every failure is one sentence naming the device (exit 2), never a traceback.
This module loads nothing heavy until the command runs: `portspec lint` builds its parser too.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_portspec.engine.settings import Settings
    from pytest_portspec.engine.snapshot_only import Snapshot
    from pytest_portspec.scan.model import ScanFacts, ScanOptions

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-.][a-z0-9]+)*")
HOST_KEY_POLICIES = ("strict", "accept-new", "ignore")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "draft",
        help="draft a spec skeleton from what a device shows (every row to be cited by hand)",
        description="Read a device (read-only) and print a spec skeleton: one row per listening socket, "
        "per ufw rule without a listener and (--scan) per port only a scan from here saw open. Each "
        "row cites what the device showed ({observed: ...}); portspec lint refuses the draft until "
        "every one is replaced by the vendor document's words.",
    )
    p.add_argument(
        "--device",
        required=True,
        metavar="[NAME@]HOST[:PORT]",
        help="the device: an SSH host, address or ssh_config alias; lab, lab:NAME or SPEC@lab (an emulated "
        "appliance); bundle:PATH (a capture-script bundle). NAME names the draft",
    )
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the draft here (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--name", help="the draft spec's name (default: FILE's name, else NAME, else new-product)")
    _add_ssh(p)
    p.add_argument(
        "--scan",
        action="store_true",
        help="also scan the device from here: every TCP port of its addresses, the UDP ports it names "
        "(fragile OT devices have crashed under full scans: ask first)",
    )
    p.add_argument(
        "--scan-rate", type=float, metavar="PER_SECOND", help="probes per second and address (default 1000)"
    )
    p.add_argument(
        "--scan-timeout", type=float, default=1.0, metavar="SECONDS", help="wait per port (default 1)"
    )
    p.add_argument(
        "--scanner",
        choices=("auto", "nmap", "connect"),
        default="auto",
        help="auto: nmap where installed, else the built-in connect scanner",
    )


def _add_ssh(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ssh-user", metavar="USER", help="SSH user")
    p.add_argument("--ssh-key", metavar="FILE", help="SSH private key file")
    p.add_argument("--ssh-config", metavar="FILE", help="ssh_config file to read the host's settings from")
    p.add_argument("--known-hosts", metavar="FILE", help="known_hosts file (default ~/.ssh/known_hosts)")
    p.add_argument(
        "--host-key-policy",
        choices=HOST_KEY_POLICIES,
        help="unknown host keys: strict (refuse, default), accept-new (remember), ignore",
    )
    p.add_argument("--ssh-proxy-jump", metavar="SPEC", help="jump hosts, as OpenSSH's ProxyJump")
    p.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="SECONDS", help="SSH connect timeout"
    )
    p.add_argument(
        "--sudo",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="root reads by 'sudo -n' (default); --no-sudo when the SSH user is root",
    )
    p.add_argument(
        "--sudo-password-env", metavar="VAR", help="environment variable holding the sudo password"
    )
    p.add_argument(
        "--sudo-mode",
        choices=("commands", "shell"),
        default="commands",
        help="commands: one sudo per read-only command (default); shell: the whole snapshot under sudo sh",
    )


def run_draft(args: argparse.Namespace) -> int:
    from pytest_portspec.cli import say
    from pytest_portspec.draft.skeleton import DEFAULT_NAME, draft_data, draft_yaml
    from pytest_portspec.engine.snapshot_only import read_snapshot
    from pytest_portspec.errors import PortspecError

    settings = _settings(args)  # every option checked before the device is contacted
    label, name, host, port = _device(args.device)
    options = _scan_options(args, label) if args.scan else None
    if options is not None and host.startswith("bundle:"):
        raise PortspecError(f"{label}: --scan needs the live device: a capture cannot be scanned")
    draft_name = _draft_name(args.name, args.output, name) or DEFAULT_NAME
    _refuse_overwrite(args.output, args.force)
    transport, label = _transport(label, name, host, port, settings)
    snapshot = read_snapshot(transport, label, settings)
    scan = _scan(snapshot, options) if options is not None else None
    draft = draft_data(snapshot.facts, scan, name=draft_name, device=label)
    _write(draft_yaml(draft), args.output, args.force)
    say(
        f"portspec draft: {label}: {draft.rows} row(s) ({draft.listeners} listening, {draft.internal} on "
        f"loopback only, {draft.rules} ufw rule(s) without a listener, {draft.kernel} kernel rule(s) "
        f"beyond those, {draft.scanned} seen only by the scan) from {snapshot.commands} read-only "
        "command(s); every citation is an observation: portspec lint refuses the draft until each one "
        "is the vendor document's words",
        sys.stderr,
    )
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    from pytest_portspec.engine.settings import Settings
    from pytest_portspec.errors import PortspecError

    password = None
    if args.sudo_password_env:
        password = os.environ.get(args.sudo_password_env)
        if password is None:
            raise PortspecError(f"--sudo-password-env {args.sudo_password_env}: that variable is not set")
    if args.ssh_proxy_jump:
        from pytest_portspec.device.jump import parse_jumps

        try:
            parse_jumps(args.ssh_proxy_jump)
        except ValueError as exc:
            raise PortspecError(f"--ssh-proxy-jump {args.ssh_proxy_jump!r}: {exc}") from None
    if not 0 < args.connect_timeout <= 600:
        raise PortspecError(f"--connect-timeout {args.connect_timeout:g}: must be between 0 and 600 seconds")
    left = frozenset(n for n in ("known_hosts", "host_key_policy") if getattr(args, n) is None)
    return Settings(
        ssh_user=args.ssh_user,
        ssh_key=args.ssh_key,
        ssh_config=args.ssh_config,
        known_hosts=args.known_hosts,
        ssh_proxy_jump=args.ssh_proxy_jump,
        ssh_config_may_set=left,
        host_key_policy=args.host_key_policy or "strict",
        connect_timeout=args.connect_timeout,
        sudo=args.sudo,
        sudo_password=password,
        sudo_mode=args.sudo_mode,
    )


def _device(text: str) -> tuple[str, str | None, str, int | None]:
    """(label, NAME or None, host, port) of `[NAME@]HOST[:PORT]`, validated as a run's --device is."""
    from pytest_portspec.device.address import parse_device
    from pytest_portspec.errors import PortspecError

    named = "@" in text and not text.startswith("bundle:")
    try:
        request = parse_device(text if named else f"draft@{text}")
    except ValueError as exc:
        raise PortspecError(str(exc).replace("draft@", "", 1) if not named else str(exc)) from None
    where = f"[{request.host}]" if ":" in request.host and request.port is not None else request.host
    label = where if request.port is None else f"{where}:{request.port}"
    return label, request.spec if named else None, request.host, request.port


def _transport(
    label: str, name: str | None, host: str, port: int | None, settings: Settings
) -> tuple[Any, str]:
    """The transport a run would build for this host, and the device's label (the lab's address)."""
    from pytest_portspec.device.schemes import Target, is_lab_host, transport_for
    from pytest_portspec.errors import PortspecError

    lab = _lab_state(name, host) if is_lab_host(host) else None
    if lab is not None:
        label = f"{host} ({lab['management_address']})"
    try:
        return transport_for(Target(label, host, port, settings, lab)), label
    except ValueError as exc:
        raise PortspecError(f"{label}: {exc}") from None


def _lab_state(name: str | None, host: str) -> dict[str, Any]:
    """The running appliance `SPEC@lab` or `lab:NAME` names (lab/resolve.py); lab:NAME needs no SPEC@."""
    from pytest_portspec.errors import LabError, PortspecError
    from pytest_portspec.lab.resolve import resolve
    from pytest_portspec.lab.store import Store

    try:
        if name is None:
            wanted = host.partition(":")[2]
            up = [s for s in Store.default().states() if s.get("status") == "up"]
            chosen = [s for s in up if s["name"] == wanted] if wanted else up
            if len(chosen) != 1:
                names = ", ".join(sorted(s["name"] for s in up)) or "none"
                which = f"no emulated appliance named {wanted!r} is up" if wanted else "name the appliance"
                raise LabError(f"{which} (up: {names}): use lab:NAME or SPEC@lab")
            name = str(chosen[0]["spec"])
        return resolve(name, host).state
    except LabError as exc:
        raise PortspecError(f"{host}: {exc}") from None


def _scan_options(args: argparse.Namespace, label: str) -> ScanOptions:
    from pytest_portspec.errors import PortspecError
    from pytest_portspec.scan.model import DEFAULT_RATE, MAX_RATE, ScanOptions

    rate = args.scan_rate if args.scan_rate is not None else DEFAULT_RATE
    if not 0 < rate <= MAX_RATE or not 0 < args.scan_timeout <= 60:
        raise PortspecError(f"{label}: --scan-rate must be 0-{MAX_RATE:g} and --scan-timeout 0-60 seconds")
    return ScanOptions(rate=rate, scanner=args.scanner, timeout=args.scan_timeout)


def _scan(snapshot: Snapshot, options: ScanOptions) -> ScanFacts:
    """The device scanned from here: the address the connection went to and its other addresses,
    every TCP port, the UDP ports its sockets and ufw rules name (as a run's second wave does)."""
    from pytest_portspec.cli import say
    from pytest_portspec.engine.scan_step import named_udp
    from pytest_portspec.errors import PortspecError
    from pytest_portspec.scan.model import UdpTarget
    from pytest_portspec.scan.run import plan_requests, scan_addresses

    label = snapshot.label
    if snapshot.offline or snapshot.jumped or snapshot.address is None:
        why = "it is reached through a jump host" if snapshot.jumped else "the tester has no IP address of it"
        raise PortspecError(f"{label}: --scan: the tester cannot scan this device: {why}")
    udp = [UdpTarget(p) for p in named_udp(snapshot.facts)]
    own = snapshot.facts.own_addresses
    try:
        requests, skipped = plan_requests(snapshot.address, own, udp, options.rate, options.timeout)
        found = scan_addresses(requests, options.scanner)
    except (OSError, ValueError) as exc:  # a scanner that cannot run here (no nmap, no socket)
        raise PortspecError(f"{label}: --scan: the scan could not run: {exc}") from None
    skipped = {**skipped, **found.skipped}
    for address, why in skipped.items():
        say(f"portspec draft: {label}: not scanned: {address}: {why}", sys.stderr)
    for address, why in found.errors.items():
        say(f"portspec draft: {label}: the scan of {address} failed: {why}", sys.stderr)
    return replace(found, skipped=skipped)


def _draft_name(given: str | None, output: Path | None, device_name: str | None) -> str | None:
    """The spec's name: --name, else the file's (the loader wants them equal), else the device's NAME."""
    from pytest_portspec.errors import PortspecError

    if given is not None:
        if not _NAME.fullmatch(given):
            raise PortspecError(f"--name {given!r}: expected a lower-case name (letters, digits, '-')")
        return given
    for candidate in (output.stem if output is not None else None, device_name):
        if candidate is not None and _NAME.fullmatch(candidate):
            return candidate
    return None


def _refuse_overwrite(output: Path | None, force: bool) -> None:
    from pytest_portspec.errors import PortspecError

    if output is not None and output.exists() and not force:
        raise PortspecError(f"{output} exists: pass --force to overwrite it")


def _write(text: str, output: Path | None, force: bool) -> None:
    from pytest_portspec.errors import PortspecError

    if output is None:
        sys.stdout.write(text)
        return
    try:
        with output.open("w" if force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise PortspecError(f"{output} exists: pass --force to overwrite it") from None
    except OSError as exc:
        raise PortspecError(f"cannot write {output}: {exc.strerror or exc}") from None
