"""Reading the probes' output back: one checked `ProbeResult` per probe, never a false "ok"."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import netaddr

from pytest_portspec.addresses import is_ip
from pytest_portspec.probe import payloads
from pytest_portspec.probe.model import (
    OUTCOMES,
    SHELL_TAG,
    OutboundProbe,
    ProbeResult,
    Proto,
    checked_probes,
    udp_verifiable,
)


def parse_results(
    kind: Literal["python", "shell"], stdout: str, probes: Sequence[OutboundProbe], *, stderr: str = ""
) -> list[ProbeResult]:
    """One result per probe, in order, from the output of `python_command` ("python") or
    `shell_command` ("shell"). A probe without exactly one well-formed report consistent with
    it (same host, protocol and port; an "ok" only where one is possible) is an "error"."""
    probes = checked_probes(probes)
    if kind == "python":
        records, problem = _python_records(stdout, probes)
    elif kind == "shell":
        records, problem = _shell_records(stdout, probes)
    else:
        raise ValueError(f"kind must be python or shell, not {kind!r}")
    if problem and stderr.strip():
        problem += f" (stderr: {_last_line(stderr)})"
    results = []
    for index, probe in enumerate(probes):
        found = records.get(index, [])
        if len(found) == 1:
            verifiable = kind == "python" and udp_verifiable(probe.proto, probe.port, probe.protocol)
            results.append(
                result_from_record(found[0], probe.id, probe.host, probe.proto, probe.port, verifiable)
            )
        elif found:
            results.append(_error(probe, f"the probe output reports this check {len(found)} times"))
        else:
            results.append(_error(probe, problem or "the probe output has no result for this check"))
    return results


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _error(probe: OutboundProbe, detail: str) -> ProbeResult:
    return ProbeResult(probe.id, probe.host, probe.proto, probe.port, "error", None, (), 0.0, detail)


REPORT_BASE = 65536  # characters of a probe report besides its records
REPORT_PER_PROBE = 8192  # characters one probe's record may take (its detail is a short sentence)


def _python_records(stdout: str, probes: list[OutboundProbe]) -> tuple[dict[int, list[Any]], str]:
    if not stdout.strip():
        return {}, "the probe program printed nothing (no python3 >= 3.5 on the device?)"
    limit = REPORT_BASE + REPORT_PER_PROBE * len(probes)
    if len(stdout) > limit:
        return {}, f"the probe program's output is too long for a report ({len(stdout)} > {limit} characters)"
    try:
        document = json.loads(stdout)
    except ValueError as exc:
        return {}, f"the probe program's output is not one JSON document ({exc})"
    except RecursionError:  # nested deeper than the parser can go: no report is like that
        return {}, "the probe program's output is not a report: JSON nested too deeply to read"
    if not isinstance(document, dict) or document.get("program") != payloads.PROGRAM:
        return {}, "the probe program's output is not a portspec-probe report"
    if "error" in document:
        return {}, f"the probe program refused its input: {document['error']}"
    if document.get("version") != payloads.VERSION or not isinstance(document.get("results"), list):
        return {}, f"the probe program's report has an unknown version {document.get('version')!r}"
    indexes = {probe.id: index for index, probe in enumerate(probes)}
    records: dict[int, list[Any]] = {}
    for record in document["results"]:
        probe_id = record.get("id") if isinstance(record, dict) else None
        index = indexes.get(probe_id) if isinstance(probe_id, str) else None
        if index is not None:
            records.setdefault(index, []).append(record)
    return records, "the probe program's report has no result for this check"


def _shell_records(stdout: str, probes: list[OutboundProbe]) -> tuple[dict[int, list[Any]], str]:
    records: dict[int, list[Any]] = {}
    ended = False
    for line in stdout.splitlines():
        words = line.rstrip("\r").split(" ", 6)
        if words[0] != SHELL_TAG:
            continue
        if words[1:] == ["end"]:
            ended = True
            continue
        if len(words) != 7 or not words[1].isdigit() or not words[5].isdigit():
            continue
        index = int(words[1])
        if index >= len(probes):
            continue
        _, _, outcome, address, addresses, seconds, detail = words
        probe = probes[index]
        records.setdefault(index, []).append(
            {
                "id": probe.id,
                "host": probe.host,
                "proto": probe.proto,
                "port": probe.port,
                "outcome": outcome,
                "address": None if address == "-" else address,
                "addresses": [] if addresses == "-" else addresses.split(","),
                "seconds": float(seconds),
                "detail": detail,
            }
        )
    if not stdout.strip():
        return records, "the shell probes printed nothing"
    if not ended:
        return records, "the shell probes' output ended early, without this check's result"
    return records, "the shell probes' output has no (well-formed) result for this check"


_RECORD_KEYS = {"id", "host", "proto", "port", "outcome", "address", "addresses", "seconds", "detail"}


def result_from_record(
    record: Any, probe_id: str, host: str, proto: Proto, port: int, udp_verifiable: bool
) -> ProbeResult:
    """A ProbeResult from one report of a probe run, checked against the probe it claims to answer
    (`udp_verifiable`: whether that run could verify this probe if it is UDP); any inconsistency
    makes it an "error" that says what was wrong."""
    problem = _record_problem(record, probe_id, host, proto, port, udp_verifiable)
    if problem:
        detail = f"the probe output for this check is malformed ({problem}): treated as an error"
        return ProbeResult(probe_id, host, proto, port, "error", None, (), 0.0, detail)
    return ProbeResult(
        probe_id,
        host,
        proto,
        port,
        record["outcome"],
        record["address"],
        tuple(record["addresses"]),
        float(record["seconds"]),
        record["detail"],
    )


def _record_problem(
    record: Any, probe_id: str, host: str, proto: Proto, port: int, udp_verifiable: bool
) -> str:
    if not isinstance(record, dict) or set(record) != _RECORD_KEYS:
        return "not a result record"
    if (record["id"], record["host"], record["proto"], record["port"]) != (probe_id, host, proto, port):
        return "it answers another host, protocol or port"
    outcome, address, addresses = record["outcome"], record["address"], record["addresses"]
    if outcome not in OUTCOMES:
        return f"unknown outcome {outcome!r}"
    if not isinstance(record["detail"], str) or not record["detail"].strip():
        return "no detail"
    seconds = record["seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 10**6:
        return f"bad duration {seconds!r}"
    if not isinstance(addresses, list) or not all(isinstance(a, str) and is_ip(a) for a in addresses):
        return "bad address list"
    if address is not None and not (isinstance(address, str) and is_ip(address) and address in addresses):
        return f"address {address!r} is not one of the resolved addresses"
    if outcome == "unverifiable" and (proto != "udp" or udp_verifiable):
        return f"'unverifiable' for {port}/{proto}, which can be verified"
    if outcome == "answered" and proto != "udp":
        return f"'answered' for {port}/{proto}: only a UDP exchange can get a reply that is not valid"
    if outcome in ("ok", "answered"):  # both say the address probed answered: it must be that one
        if address is None:
            return f"{outcome!r} without the address that answered"
        if proto == "udp" and not udp_verifiable:
            return f"{outcome!r} for {port}/udp, which this probe run cannot verify"
        if is_ip(host) and netaddr.IPAddress(address) != netaddr.IPAddress(host):
            return f"{outcome!r} from {address}, not from {host}"
    return ""
