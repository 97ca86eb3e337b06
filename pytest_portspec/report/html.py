"""The sign-off report as HTML: fragments for pytest-html's page, or one self-contained page.

Every value is escaped; nothing secret is in the data (no passwords, no keys).
"""

from __future__ import annotations

from html import escape

from pytest_portspec.report.data import DeviceReport, ReportData

CSS = """
.portspec { font-family: system-ui, sans-serif; font-size: 13px; color: #111; }
.portspec h2 { margin: 1.2em 0 .4em; } .portspec h3 { margin: 1em 0 .3em; }
.portspec table { border-collapse: collapse; margin: .4em 0 1em; width: 100%; }
.portspec th, .portspec td { border: 1px solid #bbb; padding: 3px 6px; text-align: left;
  vertical-align: top; }
.portspec th { background: #eee; }
.portspec .verdict { font-size: 22px; font-weight: bold; padding: 10px 14px; border: 3px solid;
  margin: .5em 0; }
.portspec .accepted { color: #0a5d1e; border-color: #0a5d1e; background: #e7f6ea; }
.portspec .rejected { color: #8a1010; border-color: #8a1010; background: #fbe9e9; }
.portspec .passed { background: #e7f6ea; } .portspec .failed { background: #fbe9e9; font-weight: bold; }
.portspec .error { background: #fde7c8; font-weight: bold; }
.portspec .skipped { background: #f2f2f2; color: #555; }
.portspec .quote { font-style: italic; color: #333; }
.portspec pre { white-space: pre-wrap; font-size: 11px; }
.portspec .sign td { height: 2.2em; }
@media print {
  @page { size: A4; margin: 12mm; }
  .portspec tr, .portspec .failure { page-break-inside: avoid; }
  .portspec details { display: block; } .portspec details > * { display: block; }
}
"""


def _e(value: object) -> str:
    return escape(str(value)) if value is not None else ""


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(value: object, cls: str = "") -> str:
    return f'<td class="{cls}">{_e(value)}</td>' if cls else f"<td>{_e(value)}</td>"


def cover(data: ReportData) -> str:
    counts = data.counts
    shown = ", ".join(
        f"{counts[o]} {o}" for o in ("passed", "failed", "error", "accepted", "skipped") if counts[o]
    )
    if data.accepted:
        banner = f'<div class="verdict accepted">ACCEPTED — {_e(shown)}</div>'
    else:
        reasons = [shown] + [f"{d.label}: {d.error}" for d in data.devices if d.error]
        reasons += [f"partial run: {data.partial}"] if data.partial else []
        reasons += [
            f"{d.label}: read-only proof "
            + ("failed" if d.read_only is False else f"missing ({d.read_only_problem or 'not taken'})")
            for d in data.devices
            if d.read_only is not True and not d.error and d.kind == "device"
        ]
        banner = f'<div class="verdict rejected">NOT ACCEPTED — {_e("; ".join(reasons))}</div>'
    meta = _table(
        ["run", ""],
        [
            [_td("date"), _td(data.created)],
            [_td("operator"), _td(data.operator)],
            [_td("tool"), _td(f"pytest-portspec {data.tool_version}")],
        ],
    )
    devices = _table(
        [
            "device",
            "spec (document)",
            "profile / role",
            "conditions (how decided)",
            "SSH host key",
            "remote commands",
            "read-only proof",
        ],
        [
            [
                _td(d.label),
                _td(
                    f"{d.spec} rev. {d.revision} ({d.source_doc})"
                    if d.revision
                    else f"{d.spec} ({d.source_doc})"
                ),
                _td(" / ".join(filter(None, [d.profile, d.role]))),
                _td(
                    "; ".join(
                        f"{n}={'on' if c['enabled'] else 'off'} ({c['decided_by']})"
                        for n, c in d.conditions.items()
                    )
                    or "none"
                ),
                _td(d.host_key or "—"),
                _td(d.remote_commands),
                _td(
                    {True: "unchanged", False: "CHANGED", None: "not made"}[d.read_only]
                    + (f": {d.read_only_problem}" if d.read_only is None and d.read_only_problem else ""),
                    "passed" if d.read_only else "failed",
                ),
            ]
            for d in data.devices
            if d.kind == "device"
        ],
    )
    if not any(d.kind == "device" for d in data.devices):
        devices = ""
    sites = [d for d in data.devices if d.kind == "site"]
    if sites:
        devices += _table(
            ["site (node-to-node flows)", "spec (document)", "nodes", "flows"],
            [
                [
                    _td(s.label),
                    _td(f"{s.spec} ({s.source_doc})"),
                    _td(", ".join(f"{n['name']} ({n['role']})" for n in s.nodes)),
                    _td(", ".join(f"{n} {o}" for o, n in sorted(s.counts.items())) or "not run"),
                ]
                for s in sites
            ],
        )
    return f'<section class="portspec"><h2>{_e(data.title)}</h2>{banner}{meta}{devices}</section>'


def _matrix(device: DeviceReport) -> str:
    rows = []
    for m in device.matrix:
        cells = [
            _td(m.key),
            _td(m.row),
            _td(f"{m.direction} {m.ports}/{m.proto}"),
            _td(m.action or "—"),
            f'<td><span class="quote">“{_e(m.quote)}”</span><br>{_e(m.doc)}</td>',
        ]
        cells += [_td(m.checks.get(c, ""), m.checks.get(c, "")) for c in device.columns]
        cells.append(_td(m.status, "" if m.status == "applies" else "skipped"))
        rows.append(cells)
    return _table(
        ["key", "row", "traffic", "required", "citation", *device.columns, "applies"], rows, "matrix"
    )


def _failures(device: DeviceReport) -> str:
    if not device.failures:
        return "<p>No failure and no error.</p>"
    parts = []
    for f in device.failures:
        evidence = "".join(f"<li><code>{_e(line)}</code></li>" for line in f.evidence)
        parts.append(
            f'<div class="failure"><h4 class="{_e(f.outcome)}">{_e(f.outcome.upper())}: {_e(f.nodeid)}</h4>'
            f"<p><b>Required:</b> {_e(f.expected)}"
            + (f'<br><span class="quote">“{_e(f.quote)}”</span>' if f.quote else "")
            + f"<br><b>Observed:</b> {_e(f.observed)}"
            + (f"<br><b>Class:</b> {_e(f.failure_class)}" if f.failure_class else "")
            + f"</p><ul>{evidence}</ul></div>"
        )
    return "".join(parts)


def _not_checked(device: DeviceReport) -> str:
    """The checks of applying rows that were skipped, each with its reason: never a silent gap."""
    if not device.not_checked:
        return "<h3>Checks not made</h3><p>Every check of every applying row was made.</p>"
    rows = [[_td(nodeid), _td(reason)] for nodeid, reason in device.not_checked]
    return "<h3>Checks not made, and why</h3>" + _table(["item", "reason"], rows)


def _findings(device: DeviceReport) -> str:
    """Where ufw's view and the kernel disagree: the verdicts follow the kernel, and this says why."""
    head = "<h3>ufw's view and the kernel</h3>"
    notes = "".join(f"<p>{_e(n)}</p>" for n in device.kernel_notes)
    if not device.findings:
        return head + "<p>ufw's view and the kernel's ruleset agree.</p>" + notes
    rows = [[_td(f["finding"]), _td(f["ufw"]), _td(f["kernel"])] for f in device.findings]
    intro = "<p>The verdicts above follow what the kernel enforces; these differ from what ufw shows:</p>"
    return head + intro + _table(["finding", "ufw's view", "the kernel"], rows) + notes


def site_section(site: DeviceReport) -> str:
    nodes = _table(
        ["node", "role", "address (as its peers reach it)", "its own checks"],
        [[_td(n["name"]), _td(n["role"]), _td(n["address"]), _td(n["device"])] for n in site.nodes],
    )
    return (
        f'<section class="portspec"><h2>Node-to-node flows: {_e(site.label)}</h2>{nodes}'
        "<p>Each flow: the source's probe of the peer connected, the peer's ufw permits the port from "
        "the source's address, and a service listens where the document requires one.</p>"
        f"{_matrix(site)}<h3>Evidence of failures</h3>{_failures(site)}{_not_checked(site)}</section>"
    )


def device_section(device: DeviceReport) -> str:
    if device.kind == "site":
        return site_section(device)
    parts = [f"<h2>{_e(device.label)}</h2>"]
    if device.error:
        parts.append(f'<p class="error">This device could not be checked: {_e(device.error)}</p>')
    parts += [
        "<h3>Traceability matrix</h3>",
        _matrix(device),
        "<h3>Exposure audit</h3>",
        f"<p>{_e(device.exposure or 'not run')}</p>",
    ]
    parts += [f"<p>{_e(note)}</p>" for note in device.management]
    parts += [
        "<h3>Evidence of failures</h3>",
        _failures(device),
        _not_checked(device),
        "<h3>ufw rules, explained</h3>",
        _table(
            ["rule", "kind", "explanation"],
            [[_td(r["rule"]), _td(r["kind"]), _td(r["explanation"])] for r in device.rules],
        ),
        _findings(device),
    ]
    if device.fingerprint:
        proof = "\n".join(f"{when}:\n{text or 'not taken'}" for when, text in device.fingerprint.items())
        parts.append(
            "<details><summary>read-only proof (ufw files and iptables rules, hashed at the start and "
            f"at the end)</summary><pre>{_e(proof)}</pre></details>"
        )
    for name, text in device.snapshot.items():
        parts.append(f"<details><summary>raw snapshot: {_e(name)}</summary><pre>{_e(text)}</pre></details>")
    return '<section class="portspec">' + "".join(parts) + "</section>"


def signoff(data: ReportData) -> str:
    accepted = [(nodeid, note) for d in data.devices for nodeid, note in d.accepted]
    if accepted:
        deviations = "<h3>Accepted deviations</h3>" + _table(
            ["item", "waiver"], [[_td(nodeid), _td(note)] for nodeid, note in accepted]
        )
    else:
        deviations = "<p>Accepted deviations: none.</p>"
    roles = ("Commissioning engineer", "Security reviewer", "Site owner")
    rows = [[_td(role), _td(""), _td(""), _td("")] for role in roles]
    return (
        '<section class="portspec"><h2>Sign-off</h2>'
        + deviations
        + _table(["role", "name", "signature", "date"], rows, "sign")
        + "</section>"
    )


def fragments(data: ReportData) -> list[str]:
    return [f"<style>{CSS}</style>", cover(data), *(device_section(d) for d in data.devices), signoff(data)]


def page(data: ReportData) -> str:
    body = "".join(fragments(data))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(data.title)}</title>'
        f"</head><body>{body}</body></html>"
    )
