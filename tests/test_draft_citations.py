"""A draft's citations (`citation: {observed: ...}`, what `portspec draft` saw on a device) are never
the vendor's words: the loader reads their shape and refuses every one, naming its line, so lint
fails and the plugin will not run a draft as if it were a spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.cli import main
from pytest_portspec.errors import SpecError
from pytest_portspec.spec import load_spec
from pytest_portspec.spec.lint import lint

DRAFT = """\
format: 1
name: boiler
product: Boiler
vendor: Example
source: {doc: boiler.txt, title: BX network requirements}
profiles:
  default: {title: Factory}
default:
  in: block
  out: allow
  citation:
    observed: "ufw: Default: deny (incoming), allow (outgoing)"
rows:
  - id: nginx-443-tcp
    service: nginx
    direction: in
    proto: tcp
    ports: 443
    action: allow
    listener: required
    citation: {observed: "ss: tcp LISTEN 0.0.0.0:443 users:((\\"nginx\\",pid=1,fd=3))"}
  - id: sshd-22-tcp
    service: sshd
    direction: in
    proto: tcp
    ports: 22
    action: allow
    citation:
      observed: "ss: tcp LISTEN 0.0.0.0:22"
      quote: "SSH 22"
"""


def write(tmp_path: Path, text: str = DRAFT) -> Path:
    path = tmp_path / "boiler.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_every_observed_citation_is_one_problem_naming_its_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path))
    problems = caught.value.problems
    assert [(p.line, p.path) for p in problems] == [
        (line_of(DRAFT, "  citation:"), "default.citation"),
        (line_of(DRAFT, 'citation: {observed: "ss: tcp LISTEN 0.0.0.0:443'), "rows[0].citation"),
        (line_of(DRAFT, 'observed: "ss: tcp LISTEN 0.0.0.0:22"') - 1, "rows[1].citation"),
    ]
    for p in problems:
        assert "draft observation" in p.message and "vendor's words (doc + quote)" in p.message
    assert "0.0.0.0:443" in problems[1].message  # what was observed is quoted, to find it again


def test_replaced_by_the_vendors_words_the_same_file_loads(tmp_path: Path) -> None:
    cited = (
        DRAFT.replace('observed: "ufw: Default: deny (incoming), allow (outgoing)"', 'quote: "All other"')
        .replace(
            '{observed: "ss: tcp LISTEN 0.0.0.0:443 users:((\\"nginx\\",pid=1,fd=3))"}', '{quote: "443"}'
        )
        .replace('      observed: "ss: tcp LISTEN 0.0.0.0:22"\n', "")
    )
    spec = load_spec(write(tmp_path, cited))
    assert [r.id for r in spec.rows] == ["nginx-443-tcp", "sshd-22-tcp"]


def test_lint_fails_with_one_problem_per_draft_citation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path)
    result = lint([path])
    assert not result.ok and len(result.problems) == 3
    assert main(["lint", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line_of(DRAFT, 'rows:') + 8}: rows[0].citation: a draft observation" in err
    assert "3 problem(s)" in err


def test_the_plugin_refuses_to_run_a_draft_naming_file_and_line(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    path = write(spec_dir)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--device", "boiler@127.0.0.1", "--spec-dir", str(spec_dir)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"{path}:{line_of(DRAFT, 'rows:') + 8}: rows[0].citation: a draft observation" in err
    assert "Traceback" not in err
