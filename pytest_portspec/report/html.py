"""The sign-off report as HTML: fragments for pytest-html's page, or one self-contained page.

Rendered through Jinja2 templates (templates/) with autoescaping: every value from a results file,
a spec or a device is escaped by the engine, never by hand, and a class attribute built from data
takes only a value of an allow-list. Nothing secret is in the data (no passwords, no keys).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from pytest_portspec.report.data import DeviceReport, ReportData
from pytest_portspec.text import printable_lines

if TYPE_CHECKING:
    import jinja2

SECTION_LIMIT = 64 * 1024  # bytes of one raw section the HTML shows: the results file keeps it whole
CLASSES = frozenset({"passed", "failed", "error", "skipped", "accepted"})  # outcomes with a style


def css_class(value: object) -> str:
    """A class attribute from data: a known outcome, or nothing (never the data itself)."""
    return value if isinstance(value, str) and value in CLASSES else ""


def capped(text: str | None, limit: int = SECTION_LIMIT) -> tuple[str, int]:
    """At most `limit` bytes (UTF-8) of a raw section, and how many bytes were left out."""
    data = (text or "").encode("utf-8", "replace")
    if len(data) <= limit:
        return text or "", 0
    shown = data[:limit].decode("utf-8", "ignore")  # never half a character
    return shown, len(data) - len(shown.encode("utf-8"))


def visible(value: object) -> object:
    """Every value a template prints: control and invisible characters shown escaped, as in the
    terminal (a bidi override would reorder what the page seems to say); a raw section's newlines and
    tabs kept. A macro's output (Markup) was made so already."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return "\t".join(printable_lines(part) for part in value.split("\t"))
    return value


@cache
def _env() -> jinja2.Environment:
    import jinja2  # imported on the first render, not by every `portspec` command

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_portspec.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=visible,
    )
    env.filters["css"] = css_class
    env.filters["capped"] = capped
    return env


def _render(template: str, **context: Any) -> Markup:
    return Markup(_env().get_template(template).render(**context))


def _banner(data: ReportData) -> str:
    """The counts, and for NOT ACCEPTED every reason the data gives (each count said once)."""
    counts = data.counts
    shown = [f"{counts[o]} {o}" for o in ("passed", "failed", "error", "accepted", "skipped") if counts[o]]
    if data.accepted:
        return ", ".join(shown)
    return "; ".join(filter(None, [", ".join(shown), *(why for why in data.refusals if why not in shown)]))


def host_key_text(device: DeviceReport) -> tuple[str, bool]:
    """The cover's host key cell, and whether it warns: a key is shown as verified only when it was."""
    if device.host_key is None:
        return "—", False
    verified, policy = device.host_key_verified, device.host_key_policy
    if verified is True:
        return f"{device.host_key} (verified against known_hosts)", False
    if verified is None:  # a results file from before the outcome was recorded
        return f"{device.host_key} (verification not recorded)", True
    if policy == "ignore":
        return f"{device.host_key} ({device.host_key_note or 'NOT verified: host-key policy ignore'})", True
    if policy == "accept-new":
        return f"{device.host_key} (NOT verified: new key accepted, accept-new)", True
    return f"{device.host_key} (NOT verified: host-key policy {policy})", True


SUDO_MODES = {  # how the root reads ran, for a security reviewer
    "commands": " (root reads: a sudo per read-only command)",
    "shell": " (root reads: sudo sh, full root)",
    "none": " (as root over SSH)",
}


def _device_row(d: DeviceReport) -> dict[str, Any]:
    host_key, warning = host_key_text(d)
    problem = f": {d.read_only_problem}" if d.read_only is None and d.read_only_problem else ""
    return {
        "label": d.label,
        "spec": f"{d.spec} rev. {d.revision} ({d.source_doc})"
        if d.revision
        else f"{d.spec} ({d.source_doc})",
        "profile": " / ".join(filter(None, [d.profile, d.role])),
        "conditions": "; ".join(
            f"{n}={'on' if c.enabled else 'off'} ({c.decided_by})" for n, c in d.conditions.items()
        )
        or "none",
        "host_key": host_key,
        "host_key_warning": warning,
        "remote_commands": f"{d.remote_commands} (answered from the capture, nothing sent)"
        if d.capture
        else f"{d.remote_commands}{SUDO_MODES.get(d.sudo_mode or '', '')}",
        "read_only": {True: "unchanged", False: "CHANGED", None: "not made"}[d.read_only]
        + (" during the capture" if d.capture and d.read_only is not None else "")
        + problem,
        "read_only_class": "passed" if d.read_only else "failed",
        "offline": offline_text(d),
        "reached": f"{d.label}: reached through {d.reached_through}" if d.reached_through else None,
        "scanned": f"{d.label}: {d.scanned}" if d.scanned else None,
    }


def offline_text(d: DeviceReport) -> str | None:
    """The cover's words for a device judged from a capture (device/bundle.py), None for a live one."""
    c = d.capture
    if c is None:
        return None
    return (
        f"{d.label}: offline evidence captured at {c.captured_at} on {c.captured_on} by {c.captured_by}, "
        f"bundle sha256 {c.bundle_sha256}; its inbound items were not verifiable from a capture"
    )


def _site_row(s: DeviceReport) -> dict[str, Any]:
    return {
        "label": s.label,
        "spec": f"{s.spec} ({s.source_doc})",
        "nodes": ", ".join(f"{n.name} ({n.role})" for n in s.nodes),
        "flows": ", ".join(f"{n} {o}" for o, n in sorted(s.counts.items())) or "not run",
    }


def cover(data: ReportData) -> str:
    return _render(
        "cover.html.j2",
        data=data,
        banner=_banner(data),
        devices=[_device_row(d) for d in data.devices if d.kind == "device"],
        sites=[_site_row(s) for s in data.devices if s.kind == "site"],
        workers=checked_from(data),
    )


def checked_from(data: ReportData) -> list[str]:
    """Which pytest-xdist worker read each device and sent its inbound probes (a tester per site)."""
    by_worker: dict[str, list[str]] = {}
    for d in data.devices:
        if d.kind == "device" and d.checked_from:
            by_worker.setdefault(d.checked_from, []).append(d.label)
    return [
        f"checked from worker {worker!r} (its inbound probes left from there): {', '.join(labels)}"
        for worker, labels in by_worker.items()
    ]


def site_section(site: DeviceReport) -> str:
    return _render("site.html.j2", site=site)


def device_section(device: DeviceReport) -> str:
    if device.kind == "site":
        return site_section(device)
    taken = (("start", device.fingerprint.start), ("end", device.fingerprint.end))
    proof = "\n".join(f"{when}:\n{text or 'not taken'}" for when, text in taken)
    return _render("device.html.j2", device=device, proof=proof)


def unused_waivers(data: ReportData) -> str:
    """Waivers that matched nothing (a row or a device that does not exist): empty when there are none."""
    return _render("unused_waivers.html.j2", waivers=data.unused_waivers) if data.unused_waivers else ""


def signoff(data: ReportData) -> str:
    accepted = [(nodeid, note) for d in data.devices for nodeid, note in d.accepted]
    return _render("signoff.html.j2", accepted=accepted)


def fragments(data: ReportData) -> list[str]:
    """The report's parts, each safe HTML (markupsafe.Markup), for pytest-html's page or `page`."""
    parts = [
        _render("style.html.j2"),
        cover(data),
        *(device_section(d) for d in data.devices),
        unused_waivers(data),
        signoff(data),
    ]
    return [part for part in parts if part]


def page(data: ReportData) -> str:
    return _render("page.html.j2", title=data.title, body=Markup("").join(fragments(data)))
