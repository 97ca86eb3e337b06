"""The HTML report of a crafted results file: nothing from the file becomes markup (issue 14).

A results file is untrusted input: `portspec report` renders whatever file it is given. Every value
is escaped by the template engine, and a class attribute takes only a known outcome.
"""

from __future__ import annotations

import copy
import fnmatch
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from test_report import DEVICE, results

from pytest_portspec.outcome.records import Outcome
from pytest_portspec.report.data import ReportData, build
from pytest_portspec.report.html import CLASSES, SECTION_LIMIT, capped, css_class, page

ROOT = Path(__file__).parent.parent
ATTRIBUTE = 'passed" onmouseover="alert(1)'
SCRIPT = "<script>alert(1)</script>"
CELL = "</td><td onclick=alert(1)>"
TAGS = {
    "html", "head", "meta", "title", "body", "style", "section", "h2", "h3", "h4", "div", "table",
    "thead", "tbody", "tr", "th", "td", "p", "span", "br", "b", "ul", "li", "code", "details",
    "summary", "pre",
}  # fmt: skip
OWN_CLASSES = {
    "portspec", "verdict", "rejected", "quote", "matrix", "sign", "failure", "warning", "more",
    "reached-through", "checked-from",
}  # fmt: skip


class Markup(HTMLParser):
    """Every element and attribute of a page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Markup:
    parser = Markup()
    parser.feed(html)
    parser.close()
    return parser


def crafted() -> dict[str, Any]:
    """A failed run whose outcome, device label, process name and citation are attacks."""
    data = results(outcome="failed")
    label = f"{DEVICE} {SCRIPT}"
    device = data["devices"][0]
    device["device"] = label
    device["snapshot"]["processes"] = f"4444\t{SCRIPT}\t/usr/sbin/evil"
    device["reached_through"] = f"jump host {SCRIPT}@bastion:22"  # the cover's line of a jumped device
    device["checked_from"] = f"tester{CELL}"  # the cover's line of the xdist worker
    device["rows"][0]["citation"] = {"doc": f"doc{CELL}", "quote": f"quote{CELL}", "reading": None}
    for item in data["results"]:
        item["device"] = label
        item["nodeid"] = item["nodeid"].replace(DEVICE, label)
    failed = data["results"][0]
    failed["evidence"] = [f"tcp 0.0.0.0:4444 ({SCRIPT}) listens"]
    failed["citation"] = device["rows"][0]["citation"]
    attack = copy.deepcopy(failed) | {"check": "listening", "outcome": ATTRIBUTE}
    attack["nodeid"] = attack["nodeid"].replace("::ufw", "::listening")
    data["results"].append(attack)
    return data


def render(data: dict[str, Any]) -> str:
    return page(
        build(Outcome.from_json(data), title="Acceptance", operator="o", created="c", tool_version="v")
    )


def test_nothing_from_a_crafted_results_file_becomes_an_element_or_an_attribute() -> None:
    markup = parsed(render(crafted()))
    assert {tag for tag, _ in markup.tags} <= TAGS
    names = {name for _, attrs in markup.tags for name, _ in attrs}
    assert names <= {"class", "lang", "charset"}, names
    classes = {c for _, attrs in markup.tags for n, v in attrs if n == "class" for c in (v or "").split()}
    assert classes <= CLASSES | OWN_CLASSES, classes


def test_the_crafted_values_are_still_shown_as_text() -> None:
    """Escaped, not dropped: the reviewer sees what the file said."""
    text = "".join(parsed(render(crafted())).text)
    assert SCRIPT in text and f"quote{CELL}" in text and f"doc{CELL}" in text
    assert f"4444\t{SCRIPT}" in text  # the raw snapshot section
    assert f"jump host {SCRIPT}@bastion:22" in text and f"tester{CELL}" in text  # the cover's lines


def test_an_unknown_outcome_gives_no_class_at_all() -> None:
    html = render(crafted())
    assert 'onmouseover="' not in html and "<script>" not in html and "<td onclick" not in html
    assert css_class(ATTRIBUTE) == "" and css_class("failed") == "failed" and css_class(None) == ""


def test_a_raw_section_is_capped_in_the_html_and_says_how_much_is_left_out() -> None:
    data = results()
    data["devices"][0]["snapshot"]["sockets"] = "é" * SECTION_LIMIT  # 2 bytes each: half is shown
    html = render(data)
    assert f"… {SECTION_LIMIT} more bytes in the results file" in html
    assert len(html.encode()) < 3 * SECTION_LIMIT
    shown, more = capped("ab€", 4)  # never half a character
    assert (shown, more) == ("ab", 3)
    assert capped("short") == ("short", 0) and capped(None) == ("", 0)


def report_data(**device: Any) -> ReportData:
    data = build(Outcome.from_json(results()), title="t", operator="o", created="c", tool_version="v")
    for name, value in device.items():  # fields of the host key's verification (results format 2)
        setattr(data.devices[0], name, value)
    return data


@pytest.mark.parametrize(
    ("fields", "shown", "warns"),
    [
        ({"host_key_policy": "strict", "host_key_verified": True}, "verified against known_hosts", False),
        (
            {"host_key_policy": "ignore", "host_key_verified": False},
            "NOT verified: host-key policy ignore",
            True,
        ),
        (
            {"host_key_policy": "accept-new", "host_key_verified": False},
            "NOT verified: new key accepted, accept-new",
            True,
        ),
        (
            {"host_key_policy": None, "host_key_verified": None},
            "verification not recorded",
            True,
        ),  # an older results file: never shown as verified
    ],
)
def test_the_cover_says_whether_the_host_key_was_verified(
    fields: dict[str, Any], shown: str, warns: bool
) -> None:
    markup = parsed(page(report_data(**fields)))
    cells = [t for t in markup.text if "ssh-ed25519 SHA256:abc" in t]
    assert cells == [f"ssh-ed25519 SHA256:abc ({shown})"]
    warning = [tag for tag, attrs in markup.tags if tag == "td" and ("class", "warning") in attrs]
    assert bool(warning) is warns


def test_the_cover_shows_why_an_ignored_key_was_not_verified() -> None:
    note = "host key does not match known_hosts (ignored: --host-key-policy ignore)"
    markup = parsed(page(report_data(host_key_policy="ignore", host_key_verified=False, host_key_note=note)))
    assert f"ssh-ed25519 SHA256:abc ({note})" in markup.text


@pytest.mark.parametrize(
    ("mode", "shown"),
    [("commands", "a sudo per read-only command"), ("shell", "sudo sh, full root"), (None, None)],
)
def test_the_cover_says_how_the_root_reads_ran(mode: str | None, shown: str | None) -> None:
    html = page(report_data(sudo_mode=mode))
    assert (shown is None and "root reads" not in html) or (shown is not None and shown in html)


def test_unused_waivers_have_their_own_section_only_when_there_are_some() -> None:
    data = report_data()
    assert "Unused waivers" not in page(data)
    data.unused_waivers = [("accept.yaml:3", f"row nope{SCRIPT} of no device")]
    html = page(data)
    assert "Unused waivers" in html and "accept.yaml:3" in html
    assert SCRIPT not in html and "row nope&lt;script&gt;" in html


def test_the_templates_ship_in_the_wheel() -> None:
    """pyproject's package-data names every template file, so an installed plugin renders reports."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["pytest_portspec.report.templates"]
    folder = ROOT / "pytest_portspec" / "report" / "templates"
    assert "pytest_portspec.report.templates" in config["tool"]["setuptools"]["packages"]
    files = [p.name for p in folder.iterdir() if p.suffix != ".py" and p.name != "__pycache__"]
    assert files and all(any(fnmatch.fnmatch(f, pattern) for pattern in patterns) for f in files)


def test_control_characters_are_shown_escaped_and_a_raw_sections_tabs_kept() -> None:
    """A bidi override would reorder what the page seems to say: shown as in the terminal."""
    data = results(outcome="failed")
    data["results"][0]["evidence"] = ["comment \x1b[2J\x1b]0;x\x07\u202eevil"]
    data["devices"][0]["snapshot"]["processes"] = "4444\tev\u202eil\n4445\tsshd"
    html = render(data)
    assert not any(c in html for c in "\x1b\x07\u202e")
    assert "comment \\x1b[2J\\x1b]0;x\\x07\\u202eevil" in html
    assert "4444\tev\\u202eil\n4445\tsshd" in html
