"""The options of how devices are reached through jump hosts, validated into Settings' fields.

    ssh_routing(config) -> {"ssh_proxy_jump": ..., "inbound_from": ..., "ssh_config_may_set": ...}

`ssh_config_may_set` names the SSH settings the user left at their defaults (neither the command
line nor the ini file gave them): only those may ssh_config's UserKnownHostsFile and
StrictHostKeyChecking set (device/route.py), so what the user passed always wins.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_portspec.text import clip

INBOUND_FROM = ("tester", "jump")


def ssh_routing(config: pytest.Config) -> dict[str, Any]:
    option = config.option
    jump = option.portspec_ssh_proxy_jump or config.getini("portspec_ssh_proxy_jump") or None
    if jump is not None:
        from pytest_portspec.device.jump import parse_jumps  # paramiko: loaded only when a jump is given

        try:
            parse_jumps(jump)
        except ValueError as exc:
            raise pytest.UsageError(f"--ssh-proxy-jump {clip(repr(jump))}: {exc}") from None
    inbound_from = option.portspec_inbound_from or config.getini("portspec_inbound_from") or "tester"
    if inbound_from not in INBOUND_FROM:
        raise pytest.UsageError(f"portspec_inbound_from {inbound_from!r}: expected tester or jump")
    return {"ssh_proxy_jump": jump, "inbound_from": inbound_from, "ssh_config_may_set": _left(config)}


def _left(config: pytest.Config) -> frozenset[str]:
    names = ("known_hosts", "host_key_policy")  # an empty ini value is the default (option_table.py)
    return frozenset(
        n for n in names if not getattr(config.option, f"portspec_{n}") and not config.getini(f"portspec_{n}")
    )


def add_options(add: Any, parser: pytest.Parser) -> None:
    """The options and ini keys (option_table.py calls this)."""
    add(
        "--ssh-proxy-jump",
        dest="portspec_ssh_proxy_jump",
        metavar="SPEC",
        help="reach the devices through jump hosts, as OpenSSH's ProxyJump: [user@]host[:port][,...], "
        "or none to ignore ssh_config's (ini: portspec_ssh_proxy_jump)",
    )
    add(
        "--inbound-from",
        dest="portspec_inbound_from",
        choices=INBOUND_FROM,
        help="where inbound probes of a device reached through a jump host leave from: tester "
        "(default: they are skipped) or jump (the last jump host) (ini: portspec_inbound_from)",
    )
    parser.addini("portspec_ssh_proxy_jump", "jump hosts, as OpenSSH's ProxyJump", default="")
    parser.addini("portspec_inbound_from", "tester or jump", default="tester")
