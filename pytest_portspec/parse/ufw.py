"""ufw's own state as a semantic model (pure: text in, data out).

Sources, best first:
- `/etc/ufw/user.rules` and `user6.rules`: the exact `### tuple ###` lines ufw writes
  (action proto dport dst sport src direction[_iface] [comment=HEX]);
- `ufw status verbose` for active/inactive, logging and the default policies, and as a
  fallback rule source (also `ufw status numbered`, e.g. the vendor's own example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_portspec.spec.model import PortRange

UfwAction = Literal["allow", "deny", "reject", "limit"]
UfwDirection = Literal["in", "out", "fwd"]
UfwPolicy = Literal["allow", "deny", "reject", "disabled"]


@dataclass(frozen=True)
class UfwRule:
    """One user rule, in the order ufw evaluates it (first match wins)."""

    position: int  # 1-based order among the rules of its family (v4 or v6), as ufw evaluates them
    action: UfwAction
    direction: UfwDirection
    proto: Literal["tcp", "udp", "any"]
    dports: tuple[PortRange, ...]  # () = any port
    sports: tuple[PortRange, ...]  # () = any port
    src: str  # CIDR; "0.0.0.0/0" or "::/0" = anywhere
    dst: str
    interface: str | None  # "in on eth0" / "out on eth1"
    v6: bool
    comment: str | None
    text: str  # the line it was read from: evidence for the report

    def describe(self) -> str:
        """Like ufw prints it: '22/tcp ALLOW IN 198.18.1.1 (on eth0)'."""
        raise NotImplementedError


@dataclass(frozen=True)
class UfwState:
    active: bool
    default_in: UfwPolicy
    default_out: UfwPolicy
    default_routed: UfwPolicy
    rules: tuple[UfwRule, ...]  # v4 rules then v6 rules, each family in evaluation order
    ipv6: bool  # ufw manages IPv6 (user6.rules present / v6 rules shown)
    source: Literal["user.rules", "status"]  # where the rules came from


def parse_status(text: str) -> tuple[bool, dict[str, UfwPolicy]]:
    """`ufw status verbose`: (active, {"in": ..., "out": ..., "routed": ...}); ValueError if not ufw output."""
    raise NotImplementedError


def parse_user_rules(text: str, v6: bool) -> list[UfwRule]:
    """The `### tuple ###` lines of user.rules / user6.rules, in file order."""
    raise NotImplementedError


def parse_status_rules(text: str) -> list[UfwRule]:
    """Rules from `ufw status [verbose|numbered]` lines (fallback when user.rules is unreadable)."""
    raise NotImplementedError


def ufw_state(status_verbose: str, user_rules: str | None, user6_rules: str | None) -> UfwState:
    """Everything together: rules from user.rules when given, else from the status text."""
    raise NotImplementedError
