"""A spec skeleton for a new product from what one device shows (pure): `portspec draft`'s output.

    draft_data(facts, scan, name=..., device=...) -> the spec as a mapping
    draft_yaml(...)                                -> the same as YAML text, with a header comment

The skeleton follows docs/spec-format.md: placeholders for the product, vendor and document, one
profile, `default:` as ufw enforces it, and the rows of draft/rows.py and draft/kernel.py sorted
(inbound before outbound, external before loopback, by port) with unique ids. Every citation is
`{observed: ...}`: the loader refuses each one (spec/values.py) until an engineer replaces it
with the vendor's words, so a draft can never pass for a spec. yaml.safe_dump writes (and quotes)
every value that came from the device; nothing the device said is ever pasted into the YAML text.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from pytest_portspec.checks.context import Facts
from pytest_portspec.draft.kernel import kernel_rows
from pytest_portspec.draft.rows import (
    Data,
    Drafted,
    covered_by,
    listener_rows,
    observed,
    rule_rows,
    scan_rows,
)
from pytest_portspec.scan.model import ScanFacts
from pytest_portspec.text import clip, printable

DEFAULT_NAME = "new-product"
PLACEHOLDER_DOC = "TODO-vendor-document.txt"
HEADER = """\
# A DRAFT made by `portspec draft` from what one device showed: NOT a spec yet.
# Every `citation: {observed: ...}` is the device's own word. Replace each with the vendor
# document's words (doc + quote, docs/spec-format.md#citations), fill in the TODO values,
# remove rows the document does not have and add those it has. `portspec lint` refuses this
# file, and pytest will not run it, until no observed citation is left.
"""


@dataclass(frozen=True)
class Draft:
    """The draft and what it holds, for the command's summary line."""

    data: Data
    listeners: int
    internal: int
    rules: int
    kernel: int
    scanned: int

    @property
    def rows(self) -> int:
        return self.listeners + self.internal + self.rules + self.kernel + self.scanned


def draft_data(
    facts: Facts, scan: ScanFacts | None = None, *, name: str = DEFAULT_NAME, device: str = ""
) -> Draft:
    found = listener_rows(facts)
    covered = covered_by(found)
    ruled, notes = rule_rows(facts, covered)
    kernel = kernel_rows(facts, found + ruled)
    covered |= covered_by(ruled + kernel)
    scanned = scan_rows(scan, covered)
    rows = _with_unique_ids(sorted(found + ruled + kernel + scanned, key=_order))
    data: Data = {
        "format": 1,
        "name": name,
        "product": "TODO: the product's name as the vendor writes it",
        "vendor": "TODO: the vendor's name",
        "revision": 1,
        "description": _description(device, scan),
        "source": {"doc": PLACEHOLDER_DOC, "title": "TODO: the vendor document's title"},
        "profiles": {"default": {"title": "TODO: as observed on the device"}},
        "default": _default(facts),
        "rows": rows,
    }
    if notes:
        data["notes"] = [
            {"id": f"ufw-rule-{i}", "text": n["text"], "citation": n["citation"]}
            for i, n in enumerate(notes, 1)
        ]
    internal = sum(1 for d in found if d.order[1] == "loopback")
    return Draft(data, len(found) - internal, internal, len(ruled), len(kernel), len(scanned))


def draft_yaml(draft: Draft) -> str:
    body = yaml.safe_dump(
        draft.data, sort_keys=False, allow_unicode=False, width=100, default_flow_style=False
    )
    return HEADER + body


def _order(drafted: Drafted) -> tuple[int, int, int, str, str]:
    direction, scope, port, proto = drafted.order
    return (direction != "in", scope != "external", port, proto, str(drafted.data["id"]))


def _with_unique_ids(rows: list[Drafted]) -> list[Data]:
    """Ids as drafted, a numbered suffix where two rows would share one (two rules of one port)."""
    seen: dict[str, int] = {}
    out = []
    for drafted in rows:
        base = str(drafted.data["id"])
        seen[base] = seen.get(base, 0) + 1
        row_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        out.append({"id": row_id} | {k: v for k, v in drafted.data.items() if k != "id"})
    return out


def _default(facts: Facts) -> Data:
    """ "All other ports" as ufw enforces them: its default policies (inactive: it filters nothing)."""
    ufw = facts.ufw
    if not ufw.active:
        return {
            "in": "allow",
            "out": "allow",
            "citation": observed("ufw: Status: inactive (ufw filters nothing)"),
        }
    word = {"allow": "allow", "deny": "block", "reject": "block"}
    line = (
        f"ufw: Status: active; Default: {ufw.default_in} (incoming), {ufw.default_out} (outgoing), "
        f"{ufw.default_routed} (routed)"
    )
    return {
        "in": word.get(ufw.default_in, "unspecified"),
        "out": word.get(ufw.default_out, "unspecified"),
        "citation": observed(line),
    }


def _description(device: str, scan: ScanFacts | None) -> str:
    where = clip(printable(device)) if device else "a device"
    seen = "its listening sockets, its ufw rules"
    if scan is not None and scan.scans:
        seen += " and a scan from the tester of " + ", ".join(s.address for s in scan.scans)
    return (
        f"DRAFT from {where}: {seen}. Every citation is an observation, not the vendor's words: "
        "replace each one before this spec is used."
    )
