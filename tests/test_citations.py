"""Round trip: every citation of every spec quotes its vendor document, and every spec
covers a document of shared/vendor-docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.spec import load_spec
from pytest_portspec.spec.catalog import packaged_spec_dir, spec_files
from pytest_portspec.spec.lint import check_citations, normalize

SPEC_FILES = spec_files([packaged_spec_dir()])


def test_the_five_vendor_specs_are_shipped() -> None:
    assert sorted(p.stem for p in SPEC_FILES) == [
        "coppercube",
        "digi-device-cloud",
        "smartserver",
        "syncsign-sops",
        "voss",
    ]


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_every_quote_occurs_in_its_document(path: Path, vendor_docs: Path) -> None:
    spec = load_spec(path)
    document = normalize((vendor_docs / spec.source_doc).read_text(encoding="utf-8"))
    missing = [label for label, cite in spec.citations() if normalize(cite.quote) not in document]
    assert missing == []
    assert check_citations(spec, vendor_docs) == []


def test_every_vendor_document_has_a_spec(vendor_docs: Path) -> None:
    documents = {p.name for p in vendor_docs.glob("*.txt")}
    covered = {load_spec(p).source_doc for p in SPEC_FILES}
    assert covered == documents


def test_a_quote_that_is_not_in_the_document_is_a_problem(tmp_path: Path, vendor_docs: Path) -> None:
    original = (packaged_spec_dir() / "coppercube.yaml").read_text(encoding="utf-8")
    quote = "No inbound ports are required to use CopperCubes on a daily basis."
    assert quote in original
    path = tmp_path / "coppercube.yaml"
    path.write_text(original.replace(quote, "No inbound ports are ever required."), encoding="utf-8")
    problems = check_citations(load_spec(path), vendor_docs)
    assert len(problems) == 1
    assert problems[0].path == "default.citation.quote"
    assert "quote not found in 000_079d76b3aa043524.txt" in problems[0].message
    assert problems[0].line is not None


def test_whitespace_is_folded_when_comparing_quotes() -> None:
    assert (
        normalize("TCP\n\n Allowed/Blocked\u00a0\u00a0Allowed/Allowed\t")
        == "TCP Allowed/Blocked Allowed/Allowed"
    )
