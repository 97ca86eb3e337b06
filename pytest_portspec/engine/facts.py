"""From a device's snapshot sections to the facts the checks judge (pure text work).

facts_from_sections(label, sections, address) -> Facts    (DeviceError: one sentence)
"""

from __future__ import annotations

from pytest_portspec.checks.context import Facts
from pytest_portspec.device import state_command as snap
from pytest_portspec.errors import DeviceError, RulesetError
from pytest_portspec.firewall.model import KernelModel, sources_from_texts
from pytest_portspec.parse.sockets import cross_check, parse_listening
from pytest_portspec.parse.ufw import ufw_state


def facts_from_sections(label: str, sections: dict[str, snap.Section], address: str) -> Facts:
    """The device's facts from its state command's sections; DeviceError (one sentence) when a section
    every verdict needs is missing or unreadable."""
    tools = set(sections["tools"].text.split())
    ufw = sections["ufw-status"]
    if not any(t.endswith("/ufw") for t in tools) or ufw.status == 127:
        raise DeviceError(label, "ufw is not installed or not on the PATH of the device")
    if ufw.status != 0:
        raise DeviceError(label, f"`ufw status verbose` failed: {ufw.text.strip()[:200]}")
    rules = sections["user-rules"]
    rules6 = sections["user6-rules"]
    try:
        state = ufw_state(
            ufw.text,
            rules.text if rules.status == 0 else None,
            rules6.text if rules6.status == 0 else None,
            sections["default-ufw"].text if sections["default-ufw"].status == 0 else None,
        )
    except ValueError as exc:
        raise DeviceError(label, f"cannot read ufw's state: {exc}") from None
    sockets_section = sections["sockets"]
    if sockets_section.status != 0:
        raise DeviceError(label, "neither ss nor netstat could list the listening sockets")
    try:
        found = parse_listening(sockets_section.text)
    except ValueError as exc:
        raise DeviceError(label, f"cannot read the listening sockets: {exc}") from None
    kernel, kernel_error = _kernel(sections)
    return Facts(
        ufw=state,
        kernel=kernel,
        kernel_error=kernel_error,
        # owners checked against the kernel's names for their pids (no processes section: none)
        sockets=tuple(cross_check(found, snap.section_text(sections, "processes"))),
        resolvers=tuple(snap.resolvers(sections["resolv"].text)),
        time_servers=tuple(snap.time_servers(sections["time-servers"].text)),
        own_addresses=tuple(snap.own_addresses(sections["addresses"].text))
        if sections["addresses"].status == 0
        else (),
        address=address,
    )


def _kernel(sections: dict[str, snap.Section]) -> tuple[KernelModel | None, str | None]:
    """What the kernel enforces, or why it cannot be known (one sentence naming source and line)."""
    texts = snap.kernel_texts(sections)
    if texts.get("iptables") is None:
        return None, f"iptables-save gave no ruleset ({texts.get('iptables!') or 'not captured'})"
    try:
        return KernelModel.build(sources_from_texts(texts)), None
    except RulesetError as exc:
        return None, str(exc)
