"""Finding specs: by name in spec directories (the packaged specs by default) or by path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_portspec.errors import SpecNotFoundError
from pytest_portspec.text import quoted

if TYPE_CHECKING:  # the spec machinery (YAML, netaddr) loads when a spec does: pytest start-up stays light
    from pytest_portspec.spec import Spec

SUFFIXES = (".yaml", ".yml")


def packaged_spec_dir() -> Path:
    return Path(str(resources.files("pytest_portspec.specs")))


def spec_files(paths: Iterable[Path]) -> list[Path]:
    """The spec files named, or found directly inside the directories named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise SpecNotFoundError(f"{path}: no such file or directory")
    return found


def find_spec_file(name_or_path: str, spec_dirs: Sequence[Path] = ()) -> Path:
    """A spec by name (looked up in spec_dirs, then the packaged specs) or by file path."""
    as_path = Path(name_or_path)
    if as_path.suffix in SUFFIXES or "/" in name_or_path:
        if as_path.is_file():
            return as_path
        raise SpecNotFoundError(f"spec file {name_or_path} does not exist")
    dirs = [*spec_dirs, packaged_spec_dir()]
    for directory in dirs:
        for suffix in SUFFIXES:
            candidate = directory / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    from pytest_portspec.spec.yamlsrc import suggest

    names = sorted({p.stem for d in dirs if d.is_dir() for p in spec_files([d])})
    raise SpecNotFoundError(
        f"no spec named {quoted(name_or_path)}{suggest(name_or_path, names)}; "
        f"available: {', '.join(names) or 'none'}"
    )


def find_spec(name_or_path: str, spec_dirs: Sequence[Path] = ()) -> Spec:
    from pytest_portspec.spec import load_spec

    return load_spec(find_spec_file(name_or_path, spec_dirs))
