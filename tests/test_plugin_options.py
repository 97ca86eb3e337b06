"""The plugin's command line: bad values are one clear sentence before any device is contacted."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "smartserver"], "expected SPEC[:PROFILE]@HOST[:PORT]"),
        (["--device", "nosuchspec@198.18.0.10"], "no spec named 'nosuchspec'"),
        (
            ["--device", "smartserver:enhnaced@198.18.0.10"],
            "has no profile 'enhnaced' (did you mean 'enhanced'?)",
        ),
        (["--device", "smartserver@198.18.0.10", "--enable", "bacnett"], "has no condition 'bacnett'"),
        (["--device", "smartserver@198.18.0.10:99999"], "SSH port '99999' is not a port number 1-65535"),
        (
            ["--device", "voss@198.18.0.10"],
            "spec 'voss' describes roles (webproxy, application, database, unified): pass --role",
        ),
        (["--device", "smartserver@198.18.0.10", "--port", "opcua=70000"], "'70000' is not a port number"),
        (["--device", "smartserver@198.18.0.10", "--port", "opcua"], "--port 'opcua': expected KEY=VALUE"),
        (
            ["--device", "smartserver@198.18.0.10", "--dest", "ntp=bad host"],
            "is not a valid host name or address",
        ),
        (
            ["--device", "smartserver@198.18.0.10", "--port", "opcau=4840"],
            "no configurable row 'opcau' in smartserver (did you mean 'opcua'?)",
        ),
        (["--device", "smartserver@198.18.0.10", "--port", "ssh=2222"], "no configurable row 'ssh'"),
        (
            ["--device", "smartserver@198.18.0.10", "--dest", "ntpp=time.example.net"],
            "no destination 'ntpp' in smartserver (did you mean 'ntp'?)",
        ),
        (
            ["--device", "smartserver@198.18.0.10", "--site-allow", "8443"],
            "expected PORT/PROTO such as 8443/tcp",
        ),
        (
            ["--device", "smartserver@198.18.0.10", "--probe-timeout", "0"],
            "must be between 0 and 600 seconds",
        ),
        (
            ["--device", "smartserver@198.18.0.10", "--max-parallel", "0"],
            "is not a number of devices from 1 to 256",
        ),
        (
            ["--device", "smartserver@198.18.0.10", "--sudo-password-env", "PORTSPEC_NOT_SET"],
            "$PORTSPEC_NOT_SET is not set",
        ),
        (["--device", "smartserver@198.18.0.10", "--device", "smartserver@198.18.0.10"], "is given twice"),
        (["--device", "smartserver@lab:nothing-here"], "no emulated appliance named 'nothing-here' is up"),
        (
            ["--device", "smartserver@198.18.0.10", "--scan", "--scan-rate", "0"],
            "--scan-rate '0': expected more",
        ),
        (["--device", "smartserver@198.18.0.10", "--scan", "--scan-rate", "fast"], "expected a number"),
        (
            ["--device", "smartserver@198.18.0.10", "--scan", "--scan-rate", "1e9"],
            "at most 100000",
        ),
        (["--device", "smartserver@198.18.0.10", "--scan", "--scan-timeout", "31"], "at most 30"),
        (["--device", "smartserver@198.18.0.10", "--scan", "--scan-timeout", "nan"], "--scan-timeout 'nan'"),
    ],
)
def test_bad_values_are_usage_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("PORTSPEC_LAB_DIR", str(pytester.path / "lab"))
    # --collect-only: even a value wrongly accepted must never make a device be contacted
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_an_invalid_waiver_file_is_a_usage_error_with_its_line(pytester: pytest.Pytester) -> None:
    accept = pytester.path / "accept.yaml"
    accept.write_text(
        "waivers:\n  - id: x\n    row: modbus-tcp\n    reason: r\n    accepted_by: me\n    expires: soon\n"
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "--accept",
        str(accept),
        "--device",
        "smartserver@198.18.0.10",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{accept}:6: waivers[0].expires: expected a date such as 2027-03-31" in result.stderr.str()


def test_items_are_collected_from_devices_without_test_files(pytester: pytest.Pytester) -> None:
    # collection only: no device is contacted (192.0.2.0/24 is documentation space, never reached)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", "-q", "--device", "coppercube@198.18.0.10"
    )
    lines = result.stdout.lines
    assert "coppercube[fw-1.23]@198.18.0.10::out-5671-tcp::outbound" in lines
    assert "coppercube[fw-1.23]@198.18.0.10::in-22-tcp::ufw" in lines
    assert "coppercube[fw-1.23]@198.18.0.10::exposure::exposure" in lines
    assert "coppercube[fw-1.23]@198.18.0.10::default-in::default" in lines


def test_markers_select_checks_at_collection(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-q",
        "--strict-markers",
        "-m",
        "outbound and coppercube",
        "--device",
        "coppercube@198.18.0.10",
    )
    selected = [line for line in result.stdout.lines if "::" in line]
    assert selected and all(line.endswith("::outbound") for line in selected)


def test_the_firmware_option_picks_the_profile(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-q",
        "--firmware",
        "1.5",
        "--device",
        "coppercube@198.18.0.10",
    )
    assert any(
        line.startswith("coppercube[pre-1.6]@198.18.0.10::out-5672-tcp") for line in result.stdout.lines
    )


def test_an_unreachable_device_is_one_sentence_per_item(pytester: pytest.Pytester) -> None:
    """Port 1 of loopback refuses at once: every item is an error that says so, and no item formats
    a traceback (re-raising the device's one exception grew it item after item: 56 s for 96 items)."""
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--device", "smartserver@127.0.0.1:1")
    assert result.ret == 1
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) > 50 and "passed" not in outcomes
    out = result.stdout.str()
    assert out.count("refused the SSH connection (is sshd running?)") >= outcomes["errors"]
    assert "Traceback" not in out and "raise " not in out and ".py:" not in out
