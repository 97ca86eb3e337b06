"""The documentation's examples stay true: the worked example is a valid spec that
means what the text says it means."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_portspec.spec import load_spec
from pytest_portspec.spec.policy import effective_policy

DOC = Path(__file__).resolve().parents[1] / "docs" / "spec-format.md"


def worked_example(tmp_path: Path) -> Path:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"## Worked example.*?```yaml\n(.*?)```", text, re.S)
    assert match, "docs/spec-format.md lost its worked example"
    path = tmp_path / "boiler.yaml"
    path.write_text(match.group(1), encoding="utf-8")
    return path


def test_the_worked_example_loads_and_means_what_the_text_says(tmp_path: Path) -> None:
    spec = load_spec(worked_example(tmp_path))
    rows = {e.key: e for e in effective_policy(spec).rows}
    assert set(rows) == {"out-8883-tcp", "in-443-tcp", "in-502-tcp"}
    assert rows["out-8883-tcp"].action == "allow"
    assert str(rows["out-8883-tcp"].side.destinations[0]) == "cloud.boiler.example (203.0.113.10)"
    assert rows["in-443-tcp"].listener == "required"
    assert rows["in-502-tcp"].decision == "condition bms is off (default): pass --enable bms"
    enabled = {e.key: e for e in effective_policy(spec, enable=["bms"]).rows}
    assert enabled["in-502-tcp"].applies


def test_every_yaml_snippet_in_the_format_doc_parses() -> None:
    import yaml

    snippets = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(snippets) >= 5
    for snippet in snippets:
        assert list(yaml.safe_load_all(snippet)), snippet


def test_every_subpackage_is_shipped() -> None:
    import tomllib

    root = DOC.parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    inits = (root / "pytest_portspec").rglob("__init__.py")
    found = {".".join(p.parent.relative_to(root).parts) for p in inits}
    assert found | {"pytest_portspec.specs"} == listed
