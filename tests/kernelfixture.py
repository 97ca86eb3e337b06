"""Kernel rulesets for plain-data tests, made the way ufw makes them (`from kernelfixture import ...`).

ufw loads its stock chains (before.rules, after.rules) and then the `-A` lines of user.rules /
user6.rules into the kernel. `ufw_save` does the same with text: the stock chains of a real
capture of the emulated SmartServer (tests/data/kernel/lab/, ufw 0.36, iptables 1.8.9) with its
user chains replaced by the given user.rules, and the chain policies ufw sets for its defaults.
"""

from __future__ import annotations

from pathlib import Path

from pytest_portspec.firewall.model import KernelModel, KernelSources

LAB = Path(__file__).parent / "data" / "kernel" / "lab"
USER_CHAINS = ("-A ufw-user-", "-A ufw6-user-")
POLICY = {"deny": "DROP", "reject": "DROP", "allow": "ACCEPT"}


def user_lines(user_rules: str) -> list[str]:
    return [line for line in user_rules.splitlines() if line.startswith("-A ")]


def ufw_save(
    user_rules: str = "",
    *,
    v6: bool = False,
    default_in: str = "deny",
    default_out: str = "allow",
    extra: tuple[str, ...] = (),
    first: tuple[str, ...] = (),
    active: bool = True,
    input_policy: str | None = None,
) -> str:
    """An iptables-save (ip6tables-save) text: ufw's stock chains, the user rules, and raw rules:
    `first` before every rule of their chain (`iptables -I`), `extra` after (`iptables -A`)."""
    stock = (LAB / f"smartserver.{'ip6tables' if v6 else 'iptables'}-save").read_text()
    if not active:
        return "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    out: list[str] = []
    for line in stock.splitlines():
        if line.startswith(USER_CHAINS):
            continue
        if line.startswith("-A ") and first:
            out += first
            first = ()
        if line.startswith(":INPUT "):
            line = f":INPUT {input_policy or POLICY[default_in]} [0:0]"
        elif line.startswith(":OUTPUT "):
            line = f":OUTPUT {POLICY[default_out]} [0:0]"
        elif line == "COMMIT":
            out += _defaults(v6, default_in, default_out) + user_lines(user_rules) + list(extra)
        out.append(line)
    return "\n".join(out) + "\n"


def _defaults(v6: bool, default_in: str, default_out: str) -> list[str]:
    """The rules ufw adds for its default policies (backend_iptables.py: ufw-track-*, ufw-reject-*)."""
    chain = "ufw6" if v6 else "ufw"
    lines = []
    if default_out == "allow":
        lines += [
            f"-A {chain}-track-output -p {p} -m conntrack --ctstate NEW -j ACCEPT" for p in ("tcp", "udp")
        ]
    if default_in == "allow":
        lines += [
            f"-A {chain}-track-input -p {p} -m conntrack --ctstate NEW -j ACCEPT" for p in ("tcp", "udp")
        ]
    for direction, policy in (("input", default_in), ("output", default_out)):
        if policy == "reject":
            lines.append(f"-A {chain}-reject-{direction} -j REJECT")
    return lines


def ufw_kernel(
    user_rules: str = "",
    user6_rules: str | None = None,
    *,
    default_in: str = "deny",
    default_out: str = "allow",
    extra4: tuple[str, ...] = (),
    extra6: tuple[str, ...] = (),
    first4: tuple[str, ...] = (),
    first6: tuple[str, ...] = (),
    addresses: tuple[str, ...] | None = ("198.18.1.2", "fe80::2"),
    interfaces: tuple[str, ...] | None = ("lo", "eth0"),
    active: bool = True,
    input_policy: str | None = None,
) -> KernelModel:
    """The kernel model of a device whose ufw holds these user rules (user6_rules None: none in IPv6)."""
    policies = {
        "default_in": default_in,
        "default_out": default_out,
        "active": active,
        "input_policy": input_policy,
    }
    return KernelModel.build(
        KernelSources(
            iptables=ufw_save(user_rules, extra=extra4, first=first4, **policies),  # type: ignore[arg-type]
            ip6tables=ufw_save(user6_rules or "", v6=True, extra=extra6, first=first6, **policies),  # type: ignore[arg-type]
            addresses=addresses,
            interfaces=interfaces,
        )
    )
