"""Load a spec file into the validated model, collecting every problem with its line."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import yaml

from pytest_portspec.spec import readings
from pytest_portspec.spec import rows as r
from pytest_portspec.spec import yamlsrc as y
from pytest_portspec.spec.model import (
    DEFAULT_ACTIONS,
    Condition,
    DefaultAction,
    DefaultPolicy,
    FirmwareRange,
    Note,
    Profile,
    Role,
    Row,
    Spec,
    parse_version,
)
from pytest_portspec.text import clip

FORMAT_VERSION = 1
TOP_REQUIRED = ("format", "name", "product", "vendor", "source", "profiles", "default", "rows")
TOP_OPTIONAL = ("revision", "description", "conditions", "roles", "decisions", "notes")


# Specs already validated, by (path, display name, digest of the exact text): a fleet of 30
# devices of one spec parses its YAML once, not 30 times (the pure-Python YAML parser costs ~0.1 s
# per spec). Keyed by the text's digest, so an edited file is never served stale.
_LOADED: dict[tuple[str, str | None, str], Spec] = {}
_LOADED_MAX = 32


def load_spec(path: str | Path, display_name: str | None = None) -> Spec:
    """Read and validate one spec file; raise SpecError listing every problem found."""
    path = Path(path)
    src = y.Source(display_name or str(path))
    text = y.read_text(path, src)  # at most MAX_FILE_BYTES of UTF-8, or a problem
    key = (str(path), display_name, hashlib.sha256(text.encode()).hexdigest()) if text is not None else None
    if key is not None and key in _LOADED:
        return _LOADED[key]
    root = None if text is None else y.compose(text, src)
    spec = None if root is None else _spec(src, root, path)
    src.raise_if_problems()
    assert spec is not None and key is not None
    if len(_LOADED) >= _LOADED_MAX:
        _LOADED.clear()
    _LOADED[key] = spec
    return spec


def _spec(src: y.Source, root: yaml.Node, path: Path) -> Spec | None:
    top = y.mapping(src, root, "", TOP_REQUIRED, TOP_OPTIONAL)
    if top is None:
        return None
    if "format" in top and y.scalar_value(top["format"]) != FORMAT_VERSION:
        src.problem(top["format"], "format", f"expected {FORMAT_VERSION}, found {y.kind_of(top['format'])}")

    def text(key: str) -> str | None:
        return y.text(src, top[key], key) if key in top else None

    name = text("name")
    if name is not None and y.identifier(src, top["name"], "name", name) and name != path.stem:
        mismatch = f"the spec name {y.quoted(name)} must match its file name {y.quoted(path.name)}"
        src.problem(top["name"], "name", mismatch)
    source = _source(src, top["source"]) if "source" in top else None
    profiles = _profiles(src, top["profiles"]) if "profiles" in top else {}
    doc = source[0] if source else ""
    ctx = r.Context(src, doc, tuple(profiles), (), ())
    conditions = _conditions(ctx, top["conditions"]) if "conditions" in top else {}
    roles = _roles(src, top["roles"]) if "roles" in top else {}
    ctx = r.Context(src, doc, tuple(profiles), tuple(conditions), tuple(roles))
    default = _default(ctx, top["default"]) if "default" in top else None
    spec_rows = _rows(ctx, top["rows"]) if "rows" in top else ()
    decisions = readings.decisions(ctx, top["decisions"], spec_rows) if "decisions" in top else ()
    notes = _notes(ctx, top["notes"]) if "notes" in top else ()
    revision = _revision(src, top.get("revision"))
    if src.problems or None in (name, source, default) or not profiles:
        return None
    assert name is not None and source is not None and default is not None
    return Spec(
        path=path,
        name=name,
        product=str(text("product")),
        vendor=str(text("vendor")),
        revision=revision,
        description=text("description"),
        source_doc=source[0],
        source_title=source[1],
        profiles=profiles,
        conditions=conditions,
        roles=roles,
        default=default,
        rows=spec_rows,
        decisions=decisions,
        notes=notes,
    )


def _revision(src: y.Source, node: yaml.Node | None) -> int:
    if node is None:
        return 1
    value = y.scalar_value(node)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        src.problem(node, "revision", f"expected a whole number >= 1, found {y.kind_of(node)}")
        return 1
    return value


def _source(src: y.Source, node: yaml.Node) -> tuple[str, str] | None:
    fields = y.mapping(src, node, "source", ("doc", "title"))
    if fields is None or len(fields) < 2:
        return None
    doc = y.text(src, fields["doc"], "source.doc")
    title = y.text(src, fields["title"], "source.title")
    return (doc, title) if doc and title else None


def _profiles(src: y.Source, node: yaml.Node) -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    for name, value in y.named_entries(src, node, "profiles"):
        path = f"profiles.{name}"
        fields = y.mapping(src, value, path, ("title",), ("default", "firmware", "description"))
        if fields is None or "title" not in fields:
            continue
        default = bool(y.boolean(src, fields["default"], f"{path}.default")) if "default" in fields else False
        profiles[name] = Profile(
            name=name,
            title=y.text(src, fields["title"], f"{path}.title") or name,
            default=default,
            firmware=_firmware(src, fields["firmware"], f"{path}.firmware") if "firmware" in fields else None,
            description=y.text(src, fields["description"], f"{path}.description")
            if "description" in fields
            else None,
        )
    defaults = [p.name for p in profiles.values() if p.default]
    if isinstance(node, yaml.MappingNode) and not node.value:
        src.problem(node, "profiles", "expected at least one profile")
    elif len(profiles) == 1 and not defaults:
        only = next(iter(profiles.values()))
        profiles[only.name] = Profile(only.name, only.title, True, only.firmware, only.description)
    elif len(profiles) > 1 and len(defaults) != 1:
        found = ", ".join(defaults) if defaults else "none"
        src.problem(node, "profiles", f"exactly one profile must have default: true, found {found}")
    return profiles


def _firmware(src: y.Source, node: yaml.Node, path: str) -> FirmwareRange | None:
    fields = y.mapping(src, node, path, (), ("min", "below"))
    if fields is None:
        return None
    if not fields:
        src.problem(node, path, "expected min and/or below")
        return None
    bounds: dict[str, str] = {}
    for key, value in fields.items():
        text = str(y.scalar_value(value))
        if parse_version(text) is None:
            src.problem(value, f"{path}.{key}", f'expected a version such as "1.6", found {y.quoted(text)}')
            return None
        bounds[key] = text
    low, high = bounds.get("min"), bounds.get("below")
    if low and high and parse_version(low) >= parse_version(high):  # type: ignore[operator]
        src.problem(node, path, f"min {clip(low)} must be lower than below {clip(high)}")
        return None
    return FirmwareRange(low, high)


def _conditions(ctx: r.Context, node: yaml.Node) -> dict[str, Condition]:
    conditions: dict[str, Condition] = {}
    for name, value in y.named_entries(ctx.src, node, "conditions"):
        path = f"conditions.{name}"
        fields = y.mapping(ctx.src, value, path, ("title", "default"), ("hint", "description", "citation"))
        if fields is None or "title" not in fields or "default" not in fields:
            continue

        f = r.Fields(ctx, fields, path)
        default = y.boolean(ctx.src, fields["default"], f"{path}.default")
        title = f.text("title")
        cite = r.citation(ctx, fields["citation"], f"{path}.citation") if "citation" in fields else None
        if default is None or title is None:
            continue
        conditions[name] = Condition(name, title, default, f.text("hint"), f.text("description"), cite)
    return conditions


def _roles(src: y.Source, node: yaml.Node) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for name, value in y.named_entries(src, node, "roles"):
        fields = y.mapping(src, value, f"roles.{name}", ("title",), ("description",))
        if fields is None or "title" not in fields:
            continue
        title = y.text(src, fields["title"], f"roles.{name}.title") or name
        description = None
        if "description" in fields:
            description = y.text(src, fields["description"], f"roles.{name}.description")
        roles[name] = Role(name, title, description)
    return roles


def _default(ctx: r.Context, node: yaml.Node) -> DefaultPolicy | None:
    fields = y.mapping(ctx.src, node, "default", ("in", "out", "citation"), ("dynamic",))
    if fields is None or any(k not in fields for k in ("in", "out", "citation")):
        return None
    inbound = _default_actions(ctx, fields["in"], "default.in")
    outbound = _default_actions(ctx, fields["out"], "default.out")
    cite = r.citation(ctx, fields["citation"], "default.citation")
    dynamic = r.citation(ctx, fields["dynamic"], "default.dynamic") if "dynamic" in fields else None
    if inbound is None or outbound is None or cite is None or ("dynamic" in fields and dynamic is None):
        return None
    return DefaultPolicy(inbound, outbound, cite, dynamic)


def _default_actions(ctx: r.Context, node: yaml.Node, path: str) -> Mapping[str, DefaultAction] | None:
    if not isinstance(node, yaml.MappingNode):
        action = y.choice(ctx.src, node, path, DEFAULT_ACTIONS)
        return None if action is None else {p: action for p in ctx.profiles}  # type: ignore[misc]
    result: dict[str, DefaultAction] = {}
    for key_node, value_node in node.value:
        profile = ctx.reference(key_node, path, "profile", ctx.profiles)
        action = y.choice(ctx.src, value_node, y.join(path, str(y.scalar_value(key_node))), DEFAULT_ACTIONS)
        if profile is not None and action is not None:
            result[profile] = action  # type: ignore[assignment]
    missing = [p for p in ctx.profiles if p not in result]
    if missing and len(result) == len(node.value):
        ctx.src.problem(node, path, f"missing a default for profile(s) {', '.join(missing)}")
        return None
    return result if not missing else None


def _rows(ctx: r.Context, node: yaml.Node) -> tuple[Row, ...]:
    items = y.sequence(ctx.src, node, "rows")
    if items is None:
        return ()
    if not items:
        ctx.src.problem(node, "rows", "expected at least one row")
    found: list[Row] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        row = r.row(ctx, item, f"rows[{index}]")
        if row is None:
            continue
        if row.id in seen:
            ctx.src.problem(
                item,
                f"rows[{index}].id",
                f"duplicate row id {y.quoted(row.id)} (first used on line {seen[row.id]})",
            )
            continue
        seen[row.id] = row.line
        found.append(row)
    return tuple(found)


def _notes(ctx: r.Context, node: yaml.Node) -> tuple[Note, ...]:
    found: list[Note] = []
    for index, item in enumerate(y.sequence(ctx.src, node, "notes") or []):
        path = f"notes[{index}]"
        fields = y.mapping(ctx.src, item, path, ("id", "text"), ("citation",))
        if fields is None or len(fields) < 2:
            continue
        note_id = y.text(ctx.src, fields["id"], f"{path}.id")
        text = y.text(ctx.src, fields["text"], f"{path}.text")
        cite = r.citation(ctx, fields["citation"], f"{path}.citation") if "citation" in fields else None
        if note_id and text:
            found.append(Note(note_id, text, cite))
    return tuple(found)
