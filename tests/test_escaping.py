"""What a device or a file says reaches the terminal and the JUnit XML printable (issue 14).

`ESC[2J` would clear the reviewer's terminal, `ESC]0;...BEL` set its title, a carriage return
overwrite a line, a bidi override (U+202E) reorder what a line seems to say. A fake device (the
plugin run in a subprocess, its SSH transport replaced by FakeTransport in a conftest) puts them in
a process name, a ufw comment and the probe's error; a waiver file puts them in its reason.
None reaches the output raw, and each is still shown, escaped, so the evidence is kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_portspec.text import printable

TESTS = Path(__file__).parent
HOSTILE = "\x1b[2J\x1b]0;x\x07\u202e"  # clear screen, set title, bidi override
RAW = ("\x1b", "\x07", "\r", "\u202e")
SHOWN = printable(HOSTILE)  # \x1b[2J\x1b]0;x\x07\u202e, as text

CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from kernelfixture import ufw_save
from sockettools import processes_section
from test_runner import DATA, NO_PROBE_TOOLS, ok, sections

from pytest_portspec.transport import CommandResult, FakeTransport
from pytest_portspec.device.schemes import register

HOSTILE = {HOSTILE!r}
MANAGEMENT = "706f7274737065632d6c6162206d616e6167656d656e7420616363657373"  # hex of the lab's comment
ANYWHERE_22 = (
    "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\\n"
)


def answers():
    ss = (DATA / "ss-smartserver.txt").read_text()
    processes = processes_section(ss).replace(
        "nginx\\n".encode().hex(), ("ng" + HOSTILE + "\\rinx\\n").encode().hex(), 1
    )
    # only the management rule (with its comment) lets 22/tcp in: the ufw check fails and quotes it
    status = (DATA / "ufw" / "smartserver-all.status-verbose.txt").read_text()
    status = status.replace("# portspec-lab management access", "# mgmt" + HOSTILE)
    status = "\\n".join(line for line in status.split("\\n") if not line.startswith("22/tcp    "))
    rules = (DATA / "ufw" / "smartserver-all.user.rules").read_text()
    rules = rules.replace(MANAGEMENT, ("mgmt" + HOSTILE).encode().hex()).replace(ANYWHERE_22, "")
    state = sections(
        processes=processes,
        iptables=ufw_save(rules),
        **{{
            "ufw-status": status,
            "user-rules": rules,
            "probe-tools": NO_PROBE_TOOLS.replace("python3 no", "python3 yes"),
        }},
    )
    probe = CommandResult(0, "", "probe failed: " + HOSTILE + "\\r" + HOSTILE, 0.01)
    return {{"ufw status verbose": ok(state), "python3 -I": probe}}


register("ssh", lambda target: FakeTransport(answers()))
"""


def run_hostile(pytester: pytest.Pytester, *args: str) -> tuple[str, str, str]:
    """Stdout, stderr and the JUnit XML of a run against the hostile fake device, as written."""
    pytester.makeconftest(CONFTEST)
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rA", "-m", "not inbound", "--junitxml=junit.xml",
        "--enable", "all", "--device", "smartserver@127.0.0.1", *args,
    )  # fmt: skip
    # the files pytester captured: its LineMatcher's lines are split at \r, hiding one
    out, err, junit = (pytester.path / name for name in ("stdout", "stderr", "junit.xml"))
    return out.read_text("utf-8"), err.read_text("utf-8"), junit.read_text("utf-8") if junit.exists() else ""


def assert_printable(text: str, where: str) -> None:
    found = [ascii(c) for c in RAW if c in text.replace("\r\n", "\n")]
    assert not found, f"{where} has raw {found}"


def test_a_hostile_device_reaches_no_terminal_and_no_junit_xml_raw(pytester: pytest.Pytester) -> None:
    out, err, junit = run_hostile(pytester, "--html=report.html", "--self-contained-html")
    html = (pytester.path / "report.html").read_text("utf-8")
    assert "Traceability matrix" in html and f"# mgmt{SHOWN}" in html  # pytest-html's page, with ours
    assert not any(c in html for c in RAW if c != "\r")  # HTML may end its lines with CRLF
    assert "in-22-tcp::ufw" in out and "out-123-udp::outbound" in out, out[-3000:]
    for text, where in ((out, "stdout"), (err, "stderr"), (junit, "the JUnit XML")):
        assert_printable(text, where)
    assert "#x1B" not in junit  # what pytest writes for a raw ESC in XML
    assert f"# mgmt{SHOWN}" in out and f"# mgmt{SHOWN}" in junit  # the ufw comment, still there
    assert f"stderr: {SHOWN}" in out  # the probe's error


def test_a_waiver_sentence_is_shown_printable(pytester: pytest.Pytester) -> None:
    accept = pytester.path / "accept.yaml"
    reason = json.dumps(f"the vendor says so{HOSTILE}")  # a YAML double-quoted string
    accept.write_text(
        "waivers:\n  - id: w1\n    port: 22/tcp\n    check: ufw\n"
        f"    reason: {reason}\n    accepted_by: J. Engineer\n    expires: 2099-01-01\n",
        encoding="utf-8",
    )
    out, err, junit = run_hostile(pytester, "--accept", str(accept))
    for text, where in ((out, "stdout"), (err, "stderr"), (junit, "the JUnit XML")):
        assert_printable(text, where)
    assert f"the vendor says so{SHOWN}" in out + err


def test_a_usage_error_quoting_a_file_is_printable(pytester: pytest.Pytester) -> None:
    inventory = pytester.path / "site.yaml"
    inventory.write_text(
        f"devices:\n  - name: {json.dumps('a' + HOSTILE)}\n    spec: {json.dumps('nope' + HOSTILE)}\n"
        "    host: 127.0.0.1\n",
        encoding="utf-8",
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", f"--inventory={inventory}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = (pytester.path / "stderr").read_text(encoding="utf-8")
    assert_printable(err, "stderr")
    assert "\\x1b[2J" in err


def test_portspec_show_and_list_print_a_spec_printable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_portspec.cli import main
    from pytest_portspec.spec.catalog import find_spec

    source = find_spec("smartserver").path.read_text(encoding="utf-8")
    spec = tmp_path / "smartserver.yaml"
    spec.write_text(source.replace("    service: SSH\n", f"    service: {json.dumps('SSH' + HOSTILE)}\n", 1))
    assert main(["show", str(spec), "--enable", "all"]) == 0
    assert main(["list", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert_printable(out, "portspec show")
    assert f"SSH{SHOWN} [sshd]" in out
