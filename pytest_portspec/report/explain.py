"""The auditor's sentence of a finding: what the pytest item prints and the SARIF result says (pure).

    explain(finding, device)  a failure: requirement with citation, observation, evidence, class
    sentence(result)          a results-file item as its pytest item showed it (failure or error)

A finding is a check's `Verdict` (the plugin's items) or a results file's `Result` (reports read
after the run): both have the fields `explain` reads, so one function writes the sentence for both.
The text is returned as written: the terminal makes it printable, JSON and HTML escape it.
"""

from __future__ import annotations

from typing import Protocol

from pytest_portspec.outcome.records import Result


class Cited(Protocol):
    """Where the vendor's document says it (spec.model.Citation, outcome.records.Citation)."""

    @property
    def doc(self) -> str: ...
    @property
    def quote(self) -> str: ...
    @property
    def reading(self) -> str | None: ...


class Finding(Protocol):
    """What `explain` reads of a verdict or a result."""

    @property
    def key(self) -> str: ...
    @property
    def check(self) -> str: ...
    @property
    def expected(self) -> str: ...
    @property
    def observed(self) -> str | None: ...
    @property
    def evidence(self) -> tuple[str, ...]: ...
    @property
    def notes(self) -> tuple[str, ...]: ...
    @property
    def failure_class(self) -> str | None: ...
    @property
    def citation(self) -> Cited | None: ...


def explain(finding: Finding, device: str) -> str:
    """A failure as a reviewer reads it: requirement with citation, observation, evidence."""
    lines = [
        f"{device}: {finding.key} [{finding.check}] does not meet the vendor document.",
        f"  Required: {finding.expected}",
    ]
    if finding.citation is not None:
        cite = finding.citation
        lines.append(f'  Source:   {cite.doc}: "{cite.quote}"')
        if cite.reading:
            lines.append(f"  Reading:  {cite.reading}")
    lines.append(f"  Observed: {finding.observed}")
    if finding.evidence:
        lines.append("  Evidence:")
        lines += [f"    {item}" for item in finding.evidence]
    lines += [f"  Note:     {note}" for note in finding.notes]
    if finding.failure_class:
        lines.append(f"  Class:    {finding.failure_class}")
    return "\n".join(lines)


def sentence(result: Result) -> str:
    """What the item of a failed (or accepted) or errored result printed: a failure's explanation,
    an error's one sentence (the device's error, or why the check reached no verdict)."""
    if result.outcome == "error" or not result.has_verdict:
        return f"{result.device}: {result.observed or 'no verdict was recorded'}"
    return explain(result, result.device)
