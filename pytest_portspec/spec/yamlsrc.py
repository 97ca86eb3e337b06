"""Read YAML as a tree of nodes that remember their source line.

Validation works on the composed node tree rather than on plain Python objects,
so every problem can name the line it comes from. Problems are collected, not
raised one at a time, so the user sees every mistake of a file in one run.
Reading the file (size cap, encoding, YAML tags, dates that do not exist) is
`spec/yamlread.py`, re-exported here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml

from pytest_portspec.errors import Problem, SpecError
from pytest_portspec.spec.yamlread import MAX_FILE_BYTES as MAX_FILE_BYTES
from pytest_portspec.spec.yamlread import compose as compose
from pytest_portspec.spec.yamlread import construct
from pytest_portspec.spec.yamlread import join as join
from pytest_portspec.spec.yamlread import read_text as read_text
from pytest_portspec.text import quoted as quoted

T = TypeVar("T")


@dataclass
class Source:
    """A YAML file being validated: its display name and the problems found so far."""

    name: str
    problems: list[Problem] = field(default_factory=list)
    # key node of each mapping value, so a problem with a whole block value points at its key
    owners: dict[int, yaml.Node] = field(default_factory=dict)
    # nodes already reported as unreadable (a bad tag or date): one sentence each, not one per reader
    reported: set[int] = field(default_factory=set)

    def problem(self, node: yaml.Node | None, path: str, message: str) -> None:
        if node is not None and id(node) in self.reported:
            return
        if node is not None and isinstance(node, yaml.CollectionNode) and not node.flow_style:
            node = self.owners.get(id(node), node)
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(Problem(self.name, line, path, message))

    def raise_if_problems(self) -> None:
        if self.problems:
            raise SpecError(sorted(self.problems, key=lambda p: (p.line or 0, p.path)))


def read_file(path: Path, source: Source) -> yaml.Node | None:
    text = read_text(path, source)
    return None if text is None else compose(text, source)


def kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    value = scalar_value(node)
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {quoted(value)}"


def scalar_value(node: yaml.Node) -> object:
    if not isinstance(node, yaml.ScalarNode):
        return node
    return construct(node)


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def suggest(word: str, choices: Sequence[str]) -> str:
    if len(word) > 100:  # no name is that long, and difflib's cost grows with it
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def mapping(
    src: Source,
    node: yaml.Node,
    path: str,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
) -> dict[str, yaml.Node] | None:
    """Check a mapping's keys (missing, unknown, duplicated) and return key -> value node."""
    if not isinstance(node, yaml.MappingNode):
        src.problem(node, path, f"expected a mapping, found {kind_of(node)}")
        return None
    known = [*required, *optional]
    result: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = scalar_value(key_node)
        if not isinstance(key, str):
            src.problem(key_node, path, f"keys must be text, found {kind_of(key_node)}")
            continue
        if key in result:
            src.problem(key_node, join(path, key), "duplicate key")
            continue
        if key not in known:
            allowed = ", ".join(known)
            src.problem(
                key_node,
                join(path, key),
                f"unknown key{suggest(key, known)}; allowed here: {allowed}",
            )
            continue
        result[key] = value_node
        src.owners[id(value_node)] = key_node
    for key in required:
        if key not in result:
            src.problem(node, join(path, key), "missing required key")
    return result


def named_entries(src: Source, node: yaml.Node, path: str) -> Iterator[tuple[str, yaml.Node]]:
    """Entries of a name -> definition mapping, with the names checked as identifiers."""
    entries = mapping(src, node, path, optional=_any_key(node))
    if entries is None:
        return
    for name, value in entries.items():
        if identifier(src, node, join(path, name), name):
            yield name, value


def _any_key(node: yaml.Node) -> list[str]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [k for k in (scalar_value(kn) for kn, _ in node.value) if isinstance(k, str)]


def sequence(src: Source, node: yaml.Node, path: str) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.SequenceNode):
        src.problem(node, path, f"expected a list, found {kind_of(node)}")
        return None
    return list(node.value)


def text(src: Source, node: yaml.Node, path: str) -> str | None:
    value = scalar_value(node)
    if not isinstance(value, str) or not value.strip():
        src.problem(node, path, f"expected text, found {kind_of(node)}")
        return None
    return value.strip()


def boolean(src: Source, node: yaml.Node, path: str) -> bool | None:
    value = scalar_value(node)
    if not isinstance(value, bool):
        src.problem(node, path, f"expected true or false, found {kind_of(node)}")
        return None
    return value


def choice(src: Source, node: yaml.Node, path: str, choices: Sequence[str]) -> str | None:
    value = scalar_value(node)
    if value not in choices:
        hint = suggest(value, choices) if isinstance(value, str) else ""
        src.problem(node, path, f"expected one of {', '.join(choices)}, found {kind_of(node)}{hint}")
        return None
    assert isinstance(value, str)
    return value


def identifier(src: Source, node: yaml.Node, path: str, value: str) -> bool:
    if re.fullmatch(r"[a-z][a-z0-9]*(?:[-.][a-z0-9]+)*", value):
        return True
    src.problem(node, path, f"expected a lower-case name (letters, digits, '-', '.'), found {quoted(value)}")
    return False


def one_or_many(
    src: Source, node: yaml.Node, path: str, read: Callable[[Source, yaml.Node, str], T | None]
) -> list[T]:
    """A value that may be written as one item or as a list of items."""
    if isinstance(node, yaml.SequenceNode):
        items = [read(src, item, join(path, i)) for i, item in enumerate(node.value)]
        if not node.value:
            src.problem(node, path, "expected at least one item, found an empty list")
    else:
        items = [read(src, node, path)]
    return [item for item in items if item is not None]
