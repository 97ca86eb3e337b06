"""benchmarks/fake_fleet.py (bench.py --fake-fleet) at a tiny size, so that it cannot rot: the fake
devices are read without error, every item runs, and the figures are printed. No timing assertion."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import fake_fleet  # noqa: E402


def test_a_fleet_of_two_fake_devices_is_read_and_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(fake_fleet, "MODES", {"plugin": (), "pytest itself": ()})  # -n 2: the same path
    args = argparse.Namespace(fake_latency=0.0, probe_timeout=0.1, repeat=1)
    figures, problems = fake_fleet.measure([1, 2], args, tmp_path)
    assert problems == []  # no device error, ITEMS_PER_DEVICE items each, pytest exit 0 or 1
    data = json.loads((tmp_path / "plugin-2" / "results.json").read_text(encoding="utf-8"))
    assert [d["device"] for d in data["devices"]] == [
        "smartserver[enhanced]@198.18.0.2",
        "smartserver[enhanced]@198.18.0.3",
    ]
    assert {d["remote_commands"] for d in data["devices"]} == {3}  # state, outbound probes, proof
    fake_fleet.report(figures, [1, 2])
    out = capsys.readouterr().out
    assert "plugin                    2     192" in out
    assert "pytest itself 1->2 devices" in " ".join(out.split())


def test_the_fake_outbound_report_is_one_the_plugin_reads_as_answered() -> None:
    from pytest_portspec.probe import OutboundProbe, parse_results

    probes = [
        OutboundProbe("a", "198.18.7.1", "tcp", 443),
        OutboundProbe("b", "ntp.example", "udp", 123),
        OutboundProbe("c", "198.18.7.1", "udp", 40000),
    ]
    stdin = json.dumps(
        {
            "probes": [
                {"id": p.id, "host": p.host, "proto": p.proto, "port": p.port, "protocol": p.protocol}
                for p in probes
            ]
        }
    )
    results = parse_results("python", fake_fleet.outbound_report(stdin), probes)
    assert [r.outcome for r in results] == ["ok", "ok", "unverifiable"]
