"""`portspec lab ...`: the emulator's command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_portspec.report.policy_text import table
from pytest_portspec.text import printable, printable_lines

if TYPE_CHECKING:
    from pytest_portspec.lab.controller import Lab


def add_parser(commands: Any) -> None:
    lab = commands.add_parser("lab", help="emulated appliances built from specs (needs root)")
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    up = sub.add_parser("up", help="bring an emulated appliance up")
    up.add_argument(
        "target", nargs="?", metavar="SPEC[:PROFILE]", help="spec name or path, optionally with a profile"
    )
    up.add_argument(
        "--inventory",
        metavar="FILE",
        help="bring a whole site up: one appliance per device, on the site's shared segment "
        "(drifts then read NODE:DRIFT)",
    )
    up.add_argument("--name", help="appliance name (default: the spec name, and role)")
    up.add_argument("--role", help="node role, for specs that describe a cluster")
    up.add_argument("--enable", action="append", default=[], metavar="COND", help="turn a condition on")
    up.add_argument("--disable", action="append", default=[], metavar="COND", help="turn a condition off")
    up.add_argument(
        "--drift",
        action="append",
        default=[],
        metavar="DRIFT",
        help="inject a drift (see 'portspec lab drifts'); repeatable",
    )
    up.add_argument("--json", action="store_true", help="print the appliance as JSON")
    down = sub.add_parser("down", help="take appliances down and remove everything they used")
    down.add_argument("names", nargs="*", metavar="NAME")
    down.add_argument("--all", action="store_true", help="every appliance and the lab internet")
    down.add_argument("--site", metavar="SITE", help="every node of a site (portspec lab up --inventory)")
    status = sub.add_parser("status", help="list the running appliances")
    status.add_argument("--json", action="store_true")
    sub.add_parser("drifts", help="list the drifts the lab can inject")
    sub.add_parser("install-deps", help="apt-get the system packages the lab needs")


def say(text: str) -> None:
    """Print what quotes the lab's state files and inventories: control characters escaped."""
    print(printable_lines(text))


def run_lab(args: argparse.Namespace) -> int:
    # The emulator is imported here, not above: every `portspec` command builds this parser.
    from pytest_portspec.lab.controller import Lab
    from pytest_portspec.lab.drifts import KINDS, usage
    from pytest_portspec.lab.system import install_deps

    lab = Lab()
    if args.lab_command == "up" and args.inventory:
        return _up_site(lab, args)
    if args.lab_command == "up":
        return _up(lab, args)
    if args.lab_command == "down":
        return _down(lab, args)
    if args.lab_command == "status":
        states = lab.status()
        say(json.dumps(states, indent=2) if args.json else _status_text(states))
        return 0
    if args.lab_command == "drifts":
        print(table(["DRIFT", "WHAT IT DOES"], [[usage(k), k.description] for k in KINDS.values()]))
        return 0
    packages = install_deps()
    print(f"installed: {' '.join(packages)}")
    return 0


def _up_site(lab: Lab, args: argparse.Namespace) -> int:
    from pytest_portspec.lab.cluster import up_site

    if args.target or args.name or args.role or args.enable or args.disable:
        raise SystemExit(
            "portspec lab up --inventory: the inventory gives each node's spec, name, role and "
            "conditions; pass only --drift NODE:DRIFT"
        )
    states, site = up_site(lab, Path(args.inventory), args.drift)
    say(json.dumps(states, indent=2) if args.json else _site_text(states, site))
    return 0


def _up(lab: Lab, args: argparse.Namespace) -> int:
    from pytest_portspec.lab.controller import UpRequest

    if not args.target:
        raise SystemExit("portspec lab up: name a spec (SPEC[:PROFILE]) or pass --inventory FILE")
    spec, _, profile = args.target.partition(":")
    state = lab.up(
        UpRequest(
            spec=spec,
            name=args.name,
            profile=profile or None,
            enable=args.enable,
            disable=args.disable,
            drifts=args.drift,
            role=args.role,
        )
    )
    say(json.dumps(state, indent=2) if args.json else _up_text(state))
    return 0


def _down(lab: Lab, args: argparse.Namespace) -> int:
    if not args.names and not args.all and not args.site:
        raise SystemExit("portspec lab down: name an appliance, or pass --site SITE or --all")
    names = list(args.names)
    if args.site:
        nodes = [st["name"] for st in lab.status() if st.get("site") == args.site]
        if not nodes:
            raise SystemExit(f"portspec lab down: no node of a site {printable(args.site)!r} is up")
        names += nodes
    gone = lab.down(names, everything=args.all)
    say(f"down: {', '.join(gone) or 'nothing was up'}")
    return 0


def _up_text(state: dict[str, Any]) -> str:
    target = state["spec"] if state["name"] == state["spec"] else f"{state['spec']}@lab:{state['name']}"
    device = f"{target}@lab" if state["name"] == state["spec"] else target
    lines = [
        f"{state['name']}: {state['spec']} ({state['profile']}) up at {state['management_address']} "
        f"in {state['up_seconds']} s",
        f"  ssh:    ssh -i {state['private_key']} -o UserKnownHostsFile={state['known_hosts']} "
        f"{state['ssh_user']}@{state['management_address']}",
        f"  pytest: pytest --device {device}",
    ]
    if state["drifts"]:
        lines.append(f"  drifts: {', '.join(state['drifts'])}")
    return "\n".join(lines)


def _site_text(states: list[dict[str, Any]], site: Path) -> str:
    lines = [
        f"{s['name']}: {s['spec']} ({s['profile']}, {s['role'] or 'no role'}) up at "
        f"{s['management_address']}, on the site at {s['segment_address']}"
        + (f"; drifts: {', '.join(s['drifts'])}" if s["drifts"] else "")
        for s in states
    ]
    return "\n".join([*lines, f"  inventory: {site}", f"  pytest:    pytest --inventory={site}"])


def _status_text(states: list[dict[str, Any]]) -> str:
    if not states:
        return "no appliances are up"
    rows = [
        [
            s.get("name", "?"),
            s.get("status", "?"),
            s.get("spec", "?"),
            s.get("profile", "?"),
            s.get("management_address", "?"),
            ", ".join(s.get("enabled", [])) or "-",
            ", ".join(s.get("drifts", [])) or "-",
            f"{s['site']} {s.get('segment_address', '')}" if s.get("site") else "-",
        ]
        for s in states
    ]
    return table(["NAME", "STATUS", "SPEC", "PROFILE", "ADDRESS", "ENABLED", "DRIFTS", "SITE"], rows)
