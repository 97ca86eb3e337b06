"""Accepted deviations (`--accept FILE`): failures a site has accepted, with who, why and until when.

    waivers:
      - id: modbus-bms
        row: modbus-tcp          # a row id of the spec, or `port: 502/tcp`
        check: ufw               # optional: only this check of the row
        device: smartserver      # optional: a spec name or a device label
        reason: The BMS polls the SmartServer over Modbus TCP.
        accepted_by: J. Owner (site security)
        expires: 2027-03-31

A matching failure is reported as an accepted deviation — not a pass — and does not block
ACCEPTED; an expired waiver no longer applies and the failure says so. Pure: no pytest.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from pytest_portspec.checks import kinds
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.text import clip, printable

KEYS_REQUIRED = ("id", "reason", "accepted_by", "expires")
KEYS_OPTIONAL = ("row", "port", "check", "device")


@dataclass(frozen=True)
class Waiver:
    id: str
    reason: str
    accepted_by: str
    expires: datetime.date
    row: str | None
    port: tuple[str, int] | None  # (proto, port)
    check: str | None
    device: str | None
    line: int
    file: str = ""  # the waiver file, for FILE:LINE in warnings

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def matches(self, device: str, verdict: Verdict) -> bool:
        spec = spec_of(device)
        if self.device and device != self.device and spec != self.device:
            return False
        if self.check and verdict.check != self.check:
            return False
        if self.row:  # a node-to-node flow carries the rows of both its sides: "hub-api,api-in"
            return self.row in (verdict.row or "").split(",")
        if self.port:
            proto, port = self.port
            return verdict.proto == proto and verdict.ports is not None and _in(port, verdict.ports)
        return False

    def describe(self) -> str:
        return f"{self.id} ({self.reason}; accepted by {self.accepted_by} until {self.expires.isoformat()})"


def _in(port: int, label: str) -> bool:
    for part in label.split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and int(lo) <= port <= int(hi or lo):
            return True
    return False


def load_waivers(path: Path) -> list[Waiver]:
    """Read and validate a waiver file; SpecError with file:line problems like a spec."""
    src = y.Source(str(path))
    root = y.read_file(path, src)
    found: list[Waiver] = []
    top = y.mapping(src, root, "", ("waivers",)) if root is not None else None
    items = y.sequence(src, top["waivers"], "waivers") if top and "waivers" in top else None
    seen: set[str] = set()
    for index, node in enumerate(items or []):
        waiver = _waiver(src, node, f"waivers[{index}]")
        if waiver is not None and waiver.id in seen:
            src.problem(node, f"waivers[{index}].id", f"duplicate waiver id {y.quoted(waiver.id)}")
        elif waiver is not None:
            seen.add(waiver.id)
            found.append(waiver)
    src.raise_if_problems()
    return found


def _waiver(src: y.Source, node: yaml.Node, path: str) -> Waiver | None:
    fields = y.mapping(src, node, path, KEYS_REQUIRED, KEYS_OPTIONAL)
    if fields is None:
        return None
    before = len(src.problems)
    text = {
        k: y.text(src, fields[k], f"{path}.{k}")
        for k in ("id", "reason", "accepted_by", "row", "device")
        if k in fields
    }
    expires = _date(src, fields.get("expires"), f"{path}.expires")
    port = _port(src, fields["port"], f"{path}.port") if "port" in fields else None
    check = y.choice(src, fields["check"], f"{path}.check", kinds.names()) if "check" in fields else None
    if ("row" in fields) == ("port" in fields):
        src.problem(node, path, "a waiver names exactly one of row or port")
    required = [text.get("id"), text.get("reason"), text.get("accepted_by")]
    if len(src.problems) > before or expires is None or None in required:
        return None
    return Waiver(
        id=str(text["id"]),
        reason=str(text["reason"]),
        accepted_by=str(text["accepted_by"]),
        expires=expires,
        row=text.get("row"),
        port=port,
        check=check,
        device=text.get("device"),
        line=y.line_of(node),
        file=src.name,
    )


def _date(src: y.Source, node: yaml.Node | None, path: str) -> datetime.date | None:
    if node is None:
        return None
    value = y.scalar_value(node)
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    src.problem(node, path, f"expected a date such as 2027-03-31, found {y.kind_of(node)}")
    return None


def _port(src: y.Source, node: yaml.Node, path: str) -> tuple[str, int] | None:
    value = str(y.scalar_value(node))
    match = re.fullmatch(r"(\d{1,5})/(tcp|udp)", value)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        src.problem(node, path, f"expected PORT/PROTO such as 502/tcp, found {y.quoted(value)}")
        return None
    return match.group(2), int(match.group(1))


def apply_waivers(
    waivers: list[Waiver],
    device: str,
    verdict: Verdict,
    today: datetime.date,
    used: set[str] | None = None,
) -> Verdict | None:
    """The verdict as the site's waivers make it: an accepted deviation, a failure with an expired
    waiver noted, or None when no waiver concerns it. The id of the waiver that concerned it is
    added to `used` (an expired one too: the failure says so already)."""
    if verdict.outcome != "failed":
        return None
    for waiver in waivers:
        if not waiver.matches(device, verdict):
            continue
        if used is not None:
            used.add(waiver.id)
        if waiver.expires < today:
            note = f"waiver {waiver.id} expired on {waiver.expires.isoformat()}: it no longer applies"
            return dataclasses.replace(verdict, notes=(*verdict.notes, note))
        note = f"accepted deviation {waiver.describe()}"
        return dataclasses.replace(verdict, outcome="accepted", notes=(*verdict.notes, note))
    return None


def spec_of(device: str) -> str:
    """The spec name of a device label: voss[cluster]@db-1, or a site's voss@site-a."""
    return re.split(r"[\[@]", device, maxsplit=1)[0]


def unused_waivers(
    waivers: Iterable[Waiver], used: Collection[str], rows: Mapping[str, Collection[str]]
) -> list[tuple[str, str]]:
    """(FILE:LINE, why) of each waiver that accepted no failure of the run: a device or row it
    names that the run does not have (a typo never matches), or nothing of its to accept.

    `rows`: every device label of the run (sites too) -> the row ids of its spec."""
    found: list[tuple[str, str]] = []
    for waiver in waivers:
        if waiver.id in used:
            continue
        named = waiver.device
        targets = [d for d in rows if named is None or named in (d, spec_of(d))]
        specs = sorted({spec_of(d) for d in targets})
        if named is not None and not targets:
            why = f"no device {clip(printable(named), 80)} in this run"
        elif waiver.row is not None and not any(waiver.row in rows[d] for d in targets):
            why = f"no row {clip(printable(waiver.row), 80)} in spec {', '.join(specs) or '(none)'}"
        else:
            why = "matched nothing: no failure of this run was its to accept"
        found.append((waiver.where, why))
    return found
