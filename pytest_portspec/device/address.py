"""`--device SPEC[:PROFILE]@HOST[:PORT]`: what to check and where (pure parsing and validation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import netaddr

from pytest_portspec.addresses import is_documentation_address, is_hostname, is_ip
from pytest_portspec.device.bundle_format import bundle_path_problem
from pytest_portspec.device.schemes import LAB_HOST, is_lab_host, scheme_of
from pytest_portspec.text import clip

HostKeyPolicy = Literal["strict", "accept-new", "ignore"]  # what to do with an unknown host key
# OpenSSH's StrictHostKeyChecking (ssh_config, Ansible's ssh args) as our policy: "no" / "off" are
# accept-new, never looser: OpenSSH would connect through a changed key, a sign-off never does
STRICT_HOST_KEY_CHECKING: dict[str, HostKeyPolicy] = {
    "yes": "strict",
    "ask": "strict",  # nobody to ask: as strict
    "accept-new": "accept-new",
    "no": "accept-new",
    "off": "accept-new",
}

_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")  # an ~/.ssh/config Host alias
_SPEC = re.compile(r"[A-Za-z0-9_./-]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a device's name under a registered scheme


@dataclass(frozen=True)
class DeviceRequest:
    text: str
    spec: str
    profile: str | None
    host: str
    port: int | None

    @property
    def lab(self) -> bool:
        return is_lab_host(self.host)


def parse_device(text: str) -> DeviceRequest:
    """Split and validate a device string; ValueError with one sentence on a malformed one."""
    if not text.isprintable():  # a byte that was not UTF-8 (a surrogate escape), or a control
        raise ValueError(
            f"--device {_q(text)}: the value is not text (a non-UTF-8 byte or a control character)"
        )
    target, at, where = text.rpartition("@")
    if not at or not target or not where:
        raise ValueError(
            f"--device {_q(text)}: expected SPEC[:PROFILE]@HOST[:PORT], e.g. smartserver@10.0.0.5"
        )
    spec, _, profile = target.partition(":")
    if not _SPEC.fullmatch(spec) or (profile and not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", profile)):
        raise ValueError(f"--device {_q(text)}: {_q(target)} is not SPEC or SPEC:PROFILE")
    host, port = _host_and_port(text, where)
    if is_documentation_address(host):
        raise ValueError(
            f"--device {_q(text)}: {host} is a documentation address (RFC 5737/3849), never a real device: "
            "give your device's address, or SPEC@lab for the emulated appliance"
        )
    return DeviceRequest(text, spec, profile or None, host, port)


def _q(value: str) -> str:
    return clip(repr(value))


def _host_and_port(text: str, where: str) -> tuple[str, int | None]:
    if where.startswith("["):  # [2001:db8::1]:22
        host, bracket, rest = where[1:].partition("]")
        if not bracket:
            raise ValueError(f"--device {_q(text)}: {_q(where)} lacks its closing ']'")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ("" if not rest else None)
        if port_text is None or not netaddr.valid_ipv6(host):
            raise ValueError(f"--device {_q(text)}: expected [IPv6-ADDRESS]:PORT")
        return host, _port(text, port_text)
    if where.count(":") > 1:  # a bare IPv6 address
        if not is_ip(where):
            raise ValueError(f"--device {_q(text)}: {_q(where)} is not a valid address")
        return where, None
    host, _, port_text = where.partition(":")
    if host == "bundle" and port_text:  # bundle:PATH, a capture's file (device/bundle.py)
        problem = bundle_path_problem(port_text)
        if problem:
            raise ValueError(f"--device {_q(text)}: {problem}")
        return where, None
    if host == LAB_HOST and port_text and not port_text.isdigit():
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", port_text):
            raise ValueError(f"--device {_q(text)}: {_q(port_text)} is not an emulated appliance name")
        return where, None
    if scheme_of(host) is not None and port_text and not port_text.isdigit():  # SCHEME:NAME (fake:hall-2)
        if not _NAME.fullmatch(port_text):
            raise ValueError(f"--device {_q(text)}: {_q(port_text)} is not a {host} device name")
        return where, None
    if not (is_ip(host) or is_hostname(host) or _ALIAS.fullmatch(host)):
        raise ValueError(f"--device {_q(text)}: {_q(host)} is not a valid host name, address or ssh alias")
    if host.replace(".", "").isdigit() and not is_ip(host):
        raise ValueError(f"--device {_q(text)}: {_q(host)} is not a valid IPv4 address")
    return host, _port(text, port_text)


def _port(text: str, port_text: str) -> int | None:
    if not port_text:
        return None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"--device {_q(text)}: SSH port {_q(port_text)} is not a port number 1-65535")
    return int(port_text)
