"""`portspec packet` and `portspec matrix`: one packet's verdict with the rules behind it, and the
ports the kernel lets through, from a real capture (tests/data/kernel/lab) and small rulesets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import resultstools as rt

from pytest_portspec.cli import main
from pytest_portspec.text import printable

LAB = Path(__file__).parent / "data" / "kernel" / "lab"
V4 = str(LAB / "smartserver.iptables-save")
V6 = str(LAB / "smartserver.ip6tables-save")
INBOUND = ("--in", "--proto", "tcp", "--src", "10.1.2.3", "--dst", "198.18.1.2")
LINKS = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n2: eth0@if5: <BROADCAST,MULTICAST,UP> mtu 1500\n"
ADDRESSES = (
    "1: lo    inet 127.0.0.1/8 scope host lo\n"
    "2: eth0    inet 198.18.1.2/24 brd 198.18.1.255 scope global eth0\n"
    "2: eth0    inet6 fe80::2/64 scope link\n"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def save(tmp_path: Path, *rules: str, policy: str = "DROP", tables: str = "") -> str:
    """A small iptables-save text: the filter table with INPUT's policy and the rules given."""
    text = f"{tables}*filter\n:INPUT {policy} [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    path = tmp_path / "rules.iptables-save"
    path.write_text(text + "".join(f"{r}\n" for r in rules) + "COMMIT\n", encoding="utf-8")
    return str(path)


def packet_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "packet", *args, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def results_file(tmp_path: Path, *labels: str, ip6tables: str | None = None) -> Path:
    kernel = {
        "iptables": Path(V4).read_text(encoding="utf-8"),
        "ip6tables": ip6tables,
        "ip6tables!": None if ip6tables else "ip6tables-save: command not found",
        "links": LINKS,
        "addresses": ADDRESSES,
    }
    devices = [rt.device(label, kernel=kernel) for label in labels] + [rt.site("voss@site")]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(rt.results(devices, [])), encoding="utf-8")
    return path


# --- portspec packet ---------------------------------------------------------------------------


def test_a_blocked_port_of_the_real_capture_meets_the_input_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "packet", "--iptables-save", V4, *INBOUND, "--dport", "502")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == ["verdict: drop", "  filter INPUT policy DROP (iptables-save line 3)"]


def test_an_open_port_prints_every_rule_of_the_path_with_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    data = packet_json(capsys, "--iptables-save", V4, *INBOUND, "--dport", "443", "--sport", "40000")
    assert data["verdict"] == "accept" and data["under_load"] is None
    assert data["packet"] == {
        "direction": "in", "proto": "tcp", "src": "10.1.2.3", "sport": 40000,
        "dst": "198.18.1.2", "dport": 443, "iface": None,
    }  # fmt: skip
    assert [(s["chain"], s["rule"], s["where"]) for s in data["path"]] == [
        ("INPUT", 2, "iptables-save line 39"),
        ("ufw-before-input", 13, "iptables-save line 84"),
        ("ufw-user-input", 6, "iptables-save line 104"),
    ]
    assert data["path"][-1]["text"] == "-A ufw-user-input -p tcp -m tcp --dport 443 -j ACCEPT"
    assert data["path"][-1]["table"] == "filter"


def test_a_source_port_left_out_splits_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--iptables-save", V4, "--in", "--proto", "udp", "--src", "10.1.2.3", "--dst", "198.18.1.2")
    code, out, _ = run(capsys, "packet", *args, "--dport", "68")
    assert code == 0
    assert "verdict: from source port 67: accept; other source ports: drop" in out
    assert "  filter ufw-before-input rule 9 (iptables-save line 80): -A ufw-before-input" in out
    data = packet_json(capsys, *args, "--dport", "68")
    assert data["verdict"] == "depends" and data["path"] == []
    assert [(p["when"], p["verdict"]) for p in data["parts"]] == [
        ("from source port 67", "accept"),
        ("other source ports", "drop"),
    ]
    assert packet_json(capsys, *args, "--dport", "68", "--sport", "67")["verdict"] == "accept"


def test_an_interface_left_out_splits_the_verdict_by_the_interfaces_rules_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = save(tmp_path, "-A INPUT -i eth1 -p tcp --dport 502 -j ACCEPT")
    code, out, _ = run(capsys, "packet", "--iptables-save", rules, *INBOUND, "--dport", "502")
    assert code == 0 and "verdict: on eth1: accept; other interfaces: drop" in out
    data = packet_json(capsys, "--iptables-save", rules, *INBOUND, "--dport", "502", "--iface", "eth2")
    assert data["verdict"] == "drop" and "parts" not in data


def test_a_rate_limit_shows_what_a_quiet_source_meets_and_what_happens_under_load(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = save(
        tmp_path,
        "-A INPUT -p tcp --dport 22 -m recent --update --seconds 30 --hitcount 6 --name ssh -j REJECT",
        "-A INPUT -p tcp --dport 22 -j ACCEPT",
    )
    code, out, _ = run(capsys, "packet", "--iptables-save", rules, *INBOUND, "--dport", "22")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "verdict: accept, under load reject"
    assert lines[2] == "  accept when filter INPUT rule 1 does not match (a quiet source):"
    assert "  reject when filter INPUT rule 1 matches (under load):" in lines
    data = packet_json(capsys, "--iptables-save", rules, *INBOUND, "--dport", "22")
    assert data["verdict"] == "accept" and data["under_load"] == ["reject"]
    assert data["path"][-1]["rule"] == 2
    assert [b["outcome"] for b in data["branches"]] == ["accept", "reject"]


def test_a_match_the_model_cannot_read_is_undecided_and_quoted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rule = '-A INPUT -p tcp --dport 502 -m u32 --u32 "0>>22&0x3C@12>>26&0x3C@0=0x1b" -j ACCEPT'
    rules = save(tmp_path, rule)
    code, out, _ = run(capsys, "packet", "--iptables-save", rules, *INBOUND, "--dport", "502")
    assert code == 0
    assert "verdict: undecided (accept or drop)" in out
    assert f"  cannot decide: filter INPUT rule 1 `{rule}` uses -m u32" in out
    data = packet_json(capsys, "--iptables-save", rules, *INBOUND, "--dport", "502")
    assert data["verdict"] == "undecided" and data["possible"] == ["accept", "drop"]
    assert data["reasons"][0].startswith("cannot decide: filter INPUT rule 1")


def test_a_port_forward_is_its_own_verdict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dnat = "-A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 10.0.0.5:80"
    nat = f"*nat\n:PREROUTING ACCEPT [0:0]\n{dnat}\nCOMMIT\n"
    rules = save(tmp_path, tables=nat)
    data = packet_json(capsys, "--iptables-save", rules, *INBOUND, "--dport", "8080")
    assert data["verdict"] == "forward"
    assert data["path"] == [
        {
            "table": "nat",
            "chain": "PREROUTING",
            "rule": 1,
            "text": dnat,
            "where": "iptables-save line 3",
        }
    ]


def test_packets_from_json_lines_print_one_object_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    packets = tmp_path / "packets.jsonl"
    lines = [
        {"direction": "in", "proto": "tcp", "src": "10.1.2.3", "dst": "198.18.1.2", "dport": 22},
        {
            "direction": "out",
            "proto": "udp",
            "src": "198.18.1.2",
            "sport": 40000,
            "dst": "9.9.9.9",
            "dport": 53,
        },
        {
            "direction": "in",
            "proto": "tcp",
            "src": "2001:db8::7",
            "dst": "fe80::2",
            "dport": 502,
            "iface": "eth0",
        },
    ]
    packets.write_text("\n".join(map(json.dumps, lines)) + "\n\n", encoding="utf-8")
    args = ("packet", "--iptables-save", V4, "--ip6tables-save", V6, "--packets", str(packets))
    code, out, err = run(capsys, *args, "--format", "json")
    assert (code, err) == (0, "")
    verdicts = [json.loads(line)["verdict"] for line in out.splitlines()]
    assert verdicts == ["accept", "accept", "drop"]
    code, out, _ = run(capsys, *args)
    assert code == 0 and out.count("verdict: ") == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"direction": "in", "proto": "tcp", "src": "10.1.2.3", "dst": "198.18.1.2", "dport": 70000}',
         "line 2: dport 70000 is not a port (0-65535)"),
        ('{"direction": "in", "proto": "tcp", "src": "10.1.2.3", "dst": "198.18.1.2", "port": 22}',
         "line 2: unknown field 'port'"),
        ("not json", "line 2: not a JSON object"),
        ('{"direction": "sideways", "proto": "tcp"}', "line 2: give direction, not 'sideways'"),
    ],
)  # fmt: skip
def test_a_bad_packet_line_is_one_sentence_naming_the_line_and_nothing_is_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, line: str, message: str
) -> None:
    good = '{"direction": "in", "proto": "tcp", "src": "10.1.2.3", "dst": "198.18.1.2", "dport": 22}'
    packets = tmp_path / "packets.jsonl"
    packets.write_text(f"{good}\n{line}\n", encoding="utf-8")
    code, out, err = run(capsys, "packet", "--iptables-save", V4, "--packets", str(packets))
    assert (code, out) == (2, "")
    assert err.startswith(f"portspec: error: {packets} {message}") and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--in", "--proto", "tcp", "--src", "10.1.2", "--dst", "198.18.1.2", "--dport", "22"),
         "--src '10.1.2' is not an IP address (without a prefix or zone)"),
        (("--in", "--proto", "tcp", "--src", "10.0.0.0/8", "--dst", "198.18.1.2", "--dport", "22"),
         "--src '10.0.0.0/8' is not an IP address (without a prefix or zone)"),
        ((*INBOUND, "--dport", "65536"), "--dport 65536 is not a port (0-65535)"),
        ((*INBOUND, "--dport", "22", "--sport", "-1"), "--sport '-1' is not a port (0-65535)"),
        (("--in", "--proto", "tcp", "--src", "10.1.2.3", "--dst", "fe80::2", "--dport", "22"),
         "--src 10.1.2.3 and --dst fe80::2 are not of one family"),
        ((*INBOUND[1:], "--dport", "22"), "give --in or --out"),
        (INBOUND, "give --dport N"),
    ],
)  # fmt: skip
def test_a_bad_packet_is_one_sentence_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, "packet", "--iptables-save", V4, *args)
    assert (code, out) == (2, "")
    assert err == f"portspec: error: {message}\n"


def test_in_and_out_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["packet", "--iptables-save", V4, *INBOUND, "--out", "--dport", "22"])
    assert raised.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_family_not_captured_cannot_be_explained(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "packet", "--iptables-save", V4, "--in", "--proto", "tcp", "--src", "2001:db8::7",
        "--dst", "2001:db8::2", "--dport", "22",
    )  # fmt: skip
    assert code == 2
    assert err == "portspec: error: cannot explain an IPv6 packet: ip6tables-save: not given\n"


def test_the_inputs_must_be_one_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    snapshot = str(results_file(tmp_path, "smartserver-1"))
    for args in (
        (),
        ("--snapshot", snapshot, "--iptables-save", V4),
        ("--iptables-save", V4, "--device", "x"),
    ):
        code, _, err = run(capsys, "matrix", *args)
        assert code == 2 and err.startswith("portspec: error: give --snapshot RESULTS.json [--device LABEL]")
    code, _, err = run(capsys, "matrix", "--iptables-save", str(tmp_path / "missing"))
    assert code == 2 and "missing: cannot read it: No such file or directory" in err


# --- with a results file -----------------------------------------------------------------------


def test_a_snapshot_of_one_device_uses_its_interfaces_and_addresses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    snapshot = str(results_file(tmp_path, "smartserver-1"))
    data = packet_json(capsys, "--snapshot", snapshot, "--in", "--proto", "tcp", "--src", "198.18.1.1",
                       "--dst", "198.18.1.2", "--dport", "22")  # fmt: skip
    assert data["device"] == "smartserver-1" and data["verdict"] == "accept" and "parts" not in data
    assert data["path"][-1]["text"].startswith("-A ufw-user-input -s 198.18.1.1/32 -i eth0")
    code, _, err = run(capsys, "packet", "--snapshot", snapshot, *INBOUND[:-1], "198.18.1.9", "--dport", "22")
    assert code == 2
    assert err == (
        "portspec: error: --dst 198.18.1.9 is not an address of smartserver-1 "
        "(its: 127.0.0.1, 198.18.1.2, fe80::2)\n"
    )
    code, _, err = run(capsys, "packet", "--snapshot", snapshot, *INBOUND, "--dport", "22", "--iface", "eth1")
    assert code == 2 and err == "portspec: error: smartserver-1 has no interface 'eth1' (its: lo, eth0)\n"


def test_a_snapshot_of_several_devices_needs_a_label(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    snapshot = str(results_file(tmp_path, "smartserver-1", "evil\x1b[2J"))
    code, _, err = run(capsys, "packet", "--snapshot", snapshot, *INBOUND, "--dport", "22")
    assert code == 2
    assert err.endswith("has 2 kernel captures: give --device (smartserver-1, evil\\x1b[2J)\n")
    code, _, err = run(
        capsys, "packet", "--snapshot", snapshot, "--device", "nope", *INBOUND, "--dport", "22"
    )
    assert code == 2 and "has no device 'nope' with a kernel capture (its devices: smartserver-1, evil" in err
    code, out, _ = run(
        capsys, "packet", "--snapshot", snapshot, "--device", "evil\x1b[2J", *INBOUND, "--dport", "22"
    )
    assert code == 0 and out.startswith(
        "packet in tcp 10.1.2.3 (any source port) -> 198.18.1.2:22 [evil\\x1b[2J]"
    )
    code, _, err = run(capsys, "matrix", "--snapshot", snapshot, "--device", "smartserver-1")
    assert code == 0


# --- portspec matrix ---------------------------------------------------------------------------


def test_the_matrix_of_the_real_capture_lists_each_open_port_with_its_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "matrix", "--iptables-save", V4, "--ip6tables-save", V6, "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    inbound = [f for f in data["flows"] if (f["family"], f["direction"], f["proto"]) == (4, "in", "tcp")]
    assert [(f["ports"], f["from"], f["interfaces"]) for f in inbound] == [
        ("22", "198.18.1.1", "eth0"),
        ("22", "any address except 198.18.1.1", None),
        ("22", "198.18.1.1", "any other interface"),
        ("443", "any address", None),
        ("2541", "any address", None),
    ]
    assert (
        inbound[1]["rule"]
        == "filter ufw-user-input rule 4 `-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT`"
    )
    assert inbound[1]["where"] == "iptables-save line 102"
    assert all(f["outcome"] == "accept" and not f["under_load"] and f["undecided"] is None for f in inbound)
    dhcp = [f for f in data["flows"] if f["ports"] == "68" and f["family"] == 4]
    assert [(f["from"], f["source_ports"]) for f in dhcp] == [("any address", "67")]
    outbound6 = {f["ports"] for f in data["flows"] if (f["family"], f["direction"]) == (6, "out")}
    assert outbound6 == {"25", "53", "80", "443", "502", "123"}
    assert data["unavailable"] == [] and data["device"].endswith("smartserver.iptables-save, " + V6)


def test_the_matrix_table_reads_as_a_table_with_the_undecided_reasons_under_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = save(
        tmp_path,
        "-A INPUT -p tcp --dport 80 -m limit --limit 3/min -j ACCEPT",
        "-A INPUT -p tcp --dport 8443 -m recent --rcheck --name knock -j ACCEPT",
        "-A INPUT -s 10.0.0.0/8 -p tcp --dport 502 -m u32 --u32 0x0=0x1 -j ACCEPT",
        '-A INPUT -p tcp --dport 23 -m comment --comment "a\x1b[2Jb" -j ACCEPT',
    )
    code, out, _ = run(capsys, "matrix", "--iptables-save", rules)
    assert code == 0 and "\x1b" not in out
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.startswith("  ") and line.split()[0][0].isdigit()
    }
    assert "accept (a quiet source)" in rows["80"]
    assert "accept (under load)" in rows["8443"]
    assert "10.0.0.0/8" in rows["502"] and "accept (undecided)" in rows["502"]
    assert '--comment "a\\x1b[2Jb"' in rows["23"]
    assert "  undecided 502/tcp: cannot decide: filter INPUT rule 3 `-A INPUT -s 10.0.0.0/8" in out
    assert "IPv4 inbound udp: no new flow gets through" in out
    assert "IPv6 inbound tcp: not judged: ip6tables-save: not given" in out
    data = json.loads(run(capsys, "matrix", "--iptables-save", rules, "--format", "json")[1])
    knock = next(f for f in data["flows"] if f["ports"] == "8443")
    assert knock["under_load"] is True and knock["assumptions"]
    assert {"family": 6, "direction": "in", "proto": "tcp", "why": "ip6tables-save: not given"} in data[
        "unavailable"
    ]


def test_an_accept_behind_a_nat_table_names_the_filter_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chains = ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")
    nat = "*nat\n" + "".join(f":{c} ACCEPT [0:0]\n" for c in chains) + "COMMIT\n"
    rules = save(tmp_path, "-A INPUT -p tcp --dport 22 -j ACCEPT", tables=nat)
    data = json.loads(run(capsys, "matrix", "--iptables-save", rules, "--format", "json")[1])
    [ssh] = [f for f in data["flows"] if (f["direction"], f["ports"]) == ("in", "22")]
    assert ssh["rule"].startswith("filter INPUT rule 1")


def test_nft_json_alone_is_read_for_both_families(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    match = {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 502}
    ruleset = {"nftables": [
        {"table": {"family": "inet", "name": "fw", "handle": 1}},
        {"chain": {"family": "inet", "table": "fw", "name": "input", "handle": 1, "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "fw", "chain": "input", "handle": 4,
                  "expr": [{"match": match}, {"accept": None}]}},
    ]}  # fmt: skip
    path = tmp_path / "ruleset.json"
    path.write_text(json.dumps(ruleset), encoding="utf-8")
    for src, dst in (("10.1.2.3", "192.0.2.1"), ("2001:db8::7", "2001:db8::2")):
        args = (
            "--nft-json",
            str(path),
            "--in",
            "--proto",
            "tcp",
            "--src",
            src,
            "--dst",
            dst,
            "--dport",
            "502",
        )
        data = packet_json(capsys, *args)
        assert data["verdict"] == "accept"
        assert data["path"][-1] == {
            "table": "inet fw", "chain": "input", "rule": 1,
            "text": "tcp dport 502 accept", "where": "nft handle 4",
        }  # fmt: skip


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    assert printable("ok é ü") == "ok é ü"
    assert printable("a\x1b[31mb\rc\u202ed\x00") == "a\\x1b[31mb\\rc\\u202ed\\x00"


def test_the_console_script_explains_a_packet_read_from_stdin() -> None:
    exe = shutil.which("portspec", path=str(Path(sys.executable).parent))
    assert exe is not None
    done = subprocess.run(
        [exe, "packet", "--iptables-save", "-", *INBOUND, "--dport", "2541", "--sport", "50000"],
        input=Path(V4).read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[:2] == [
        "packet in tcp 10.1.2.3:50000 -> 198.18.1.2:2541 [-]",
        "verdict: accept",
    ]
    assert done.stdout.splitlines()[-1].endswith("-A ufw-user-input -p tcp -m tcp --dport 2541 -j ACCEPT")
