"""Reading a YAML file people wrote, safely: size, encoding, syntax and tags, each a Problem.

    read_text(path, src)   the file's text, or None: larger than MAX_FILE_BYTES, unreadable, or
                           not UTF-8 (a problem naming line and column, not a byte offset)
    compose(text, src)     the node tree, or None; every scalar and tag is vetted on the way

Only the standard YAML types are allowed (text, numbers, true/false, null, dates, lists and
mappings): a tag such as `!foo` or `!!python/object` and a value its tag cannot read
(`!!int abc`, the date 2027-02-30) are problems with their line, found once here, so the
validators that read values later never meet them. Aliases are composed by reference, and the
walk below visits a node once, so an alias bomb costs its size in the file, not its expansion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from pytest_portspec.errors import Problem
from pytest_portspec.text import clip, printable, quoted

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_portspec.spec.yamlsrc import Source

# A spec, inventory or waiver file may be at most 1 MB: 30 times the largest shipped spec (35 kB)
# or an inventory of ~10,000 devices. 1 MB of rows is read and validated in ~9 s and 140 MB (18 s
# when malformed at its end: the pure-Python parser reads it again to word the error); 4 MB took
# 25 s and 390 MB, 50 MB 69 s and 2 GB. Beyond the cap the file is refused before it is parsed.
MAX_FILE_BYTES = 2**20

_STD = "tag:yaml.org,2002:"
STR = _STD + "str"
_SCALARS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTIONS = {_STD + "seq": yaml.SequenceNode, _STD + "map": yaml.MappingNode}
_FAST: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()


def join(path: str, key: str | int) -> str:
    """A key path for an error line: `rows[3].ports` (a key quoted at most ~200 characters)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = printable(clip(key))
    return f"{path}.{key}" if path else key


def read_text(path: Path, src: Source) -> str | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more, whatever the file is
    except OSError as exc:
        src.problems.append(Problem(src.name, None, "", f"cannot read the file: {exc.strerror or exc}"))
        return None
    if len(data) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // 2**20
        message = f"the file is larger than {limit} MB, the most a spec, inventory or waiver file may be"
        src.problems.append(Problem(src.name, None, "", message))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[start : exc.start].decode("utf-8", "replace")) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"column {column}: byte 0x{data[exc.start]:02x} is not UTF-8 text"
        src.problems.append(Problem(src.name, line, "", message))
        return None


def compose(text: str, src: Source) -> yaml.Node | None:
    """Parse YAML safely into a vetted node tree; a syntax error becomes a Problem."""
    try:  # libyaml where PyYAML has it: 15x faster, the same nodes and lines
        return _checked(yaml.compose(text, Loader=_FAST), src)
    except yaml.YAMLError:  # the pure-Python parser says what is wrong in the words users know
        pass
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:  # a NUL or another character YAML does not allow
        _bad_character(text, exc, src)
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(filter(None, [exc.context, exc.problem]))
        src.problems.append(Problem(src.name, line, "", f"malformed YAML: {what}"))
        return None
    except yaml.YAMLError as exc:
        src.problems.append(Problem(src.name, None, "", f"malformed YAML: {clip(str(exc))}"))
        return None
    except RecursionError:  # the pure-Python composer recurses once per level of nesting
        src.problems.append(Problem(src.name, None, "", "malformed YAML: nested too deeply"))
        return None
    return _checked(node, src)


def _bad_character(text: str, exc: yaml.reader.ReaderError, src: Source) -> None:
    position = exc.position
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    message = f"column {column}: character {char!r} is not allowed in YAML"
    src.problems.append(Problem(src.name, line, "", message))


def _checked(node: yaml.Node | None, src: Source) -> yaml.Node | None:
    if node is None:
        src.problems.append(Problem(src.name, 1, "", "the file is empty"))
        return None
    _vet(node, src)
    return node


# Where a node is, as (parent, key) links: the key path is only spelled out for a problem.
_Where = tuple["_Where", str | int] | None


def _path(where: _Where) -> str:
    keys: list[str | int] = []
    while where is not None:
        where, key = where
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = join(path, key)
    return path


def _vet(root: yaml.Node, src: Source) -> None:
    """Check every node's tag and scalar once (iteratively: aliases and depth cost nothing)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, _Where]] = [(root, None)]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.tag != STR:  # text is always readable; only other tags can be wrong
                _vet_scalar(node, where, src)
            continue
        _vet_collection(node, where, src)
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, (where, i)) for i, item in enumerate(node.value))
            continue
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            stack.extend([(key, where), (value, (where, str(name)))])


def _vet_collection(node: yaml.Node, where: _Where, src: Source) -> None:
    kind = next(k for k, v in _COLLECTIONS.items() if isinstance(node, v))
    if node.tag != kind:
        _unreadable(node, where, f"the YAML tag {_short(node.tag)!r} is not allowed here", src)
        node.tag = kind


def _vet_scalar(node: yaml.ScalarNode, where: _Where, src: Source) -> None:
    if node.tag == _STD + "value":  # a lone '=': the resolver's own tag, which nothing constructs
        node.tag = STR
    if node.tag == _STD + "merge":
        _unreadable(node, where, "merge keys (<<) are not supported: write the keys out", src)
    elif node.tag not in _SCALARS:
        _unreadable(node, where, f"the YAML tag {_short(node.tag)!r} is not allowed here", src)
    elif construct(node) is _INVALID:
        _unreadable(node, where, f"{quoted(node.value)} is not a valid {_type_name(node)}", src)


def _unreadable(node: yaml.Node, where: _Where, message: str, src: Source) -> None:
    """One problem for the node; readers later see it as plain text and say nothing more of it."""
    src.problem(node, _path(where), message)
    src.reported.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        node.tag = STR


_INVALID = object()


def construct(node: yaml.ScalarNode) -> object:
    """The scalar's value (`_INVALID` if its tag cannot read it), not memoised: SafeConstructor's
    construct_object keeps every node it ever built."""
    build = _CONSTRUCTOR.yaml_constructors.get(node.tag)
    if build is None:
        return node.value
    try:
        return build(_CONSTRUCTOR, node)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, yaml.YAMLError):
        return _INVALID


def _type_name(node: yaml.ScalarNode) -> str:
    implicit = _RESOLVER.resolve(yaml.ScalarNode, node.value, (True, False)) == node.tag  # type: ignore[no-untyped-call]
    if implicit and node.tag == _STD + "timestamp":  # 2027-02-30: say why it is not a date
        try:
            _CONSTRUCTOR.construct_yaml_timestamp(node)
        except ValueError as exc:
            return f"date ({exc})"
        return "date"
    return _short(node.tag)


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_STD) if tag.startswith(_STD) else clip(tag, 60)
