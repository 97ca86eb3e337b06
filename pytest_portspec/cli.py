"""The `portspec` command: lint, show and list specs.

Exit codes: 0 success, 1 lint found problems, 2 bad usage or a spec that cannot be used.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pytest_portspec import __version__, kernel_cli
from pytest_portspec.device import capture, privilege
from pytest_portspec.draft import cli as draft_cli
from pytest_portspec.errors import PortspecError, SpecError
from pytest_portspec.lab import cli as lab_cli
from pytest_portspec.outcome.diff import diff_results, diff_text
from pytest_portspec.outcome.read import load_results
from pytest_portspec.outcome.records import Outcome
from pytest_portspec.report.data import TITLE
from pytest_portspec.report.data import build as build_report
from pytest_portspec.report.html import page
from pytest_portspec.report.policy_text import list_text, policy_text, spec_summary
from pytest_portspec.spec import load_spec
from pytest_portspec.spec.catalog import find_spec, packaged_spec_dir, spec_files
from pytest_portspec.spec.lint import lint
from pytest_portspec.spec.policy import policy_named
from pytest_portspec.text import clip, printable_lines

DOCS_ENV = "PORTSPEC_DOCS"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portspec", description="Vendor port and firewall requirement tables as acceptance tests."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_lint = commands.add_parser("lint", help="validate spec files and print notes")
    _add_paths(p_lint)
    p_lint.add_argument(
        "--docs",
        type=Path,
        default=_env_path(DOCS_ENV),
        metavar="DIR",
        help=f"vendor documents directory: check that every citation quote "
        f"occurs in its document (env {DOCS_ENV})",
    )
    p_lint.add_argument("--quiet", "-q", action="store_true", help="print problems only")

    _add_show(commands)

    p_list = commands.add_parser("list", help="list the specs found")
    _add_paths(p_list)
    _add_format(p_list)
    p_report = commands.add_parser("report", help="render the sign-off report from a results file")
    p_report.add_argument("results", type=Path, metavar="RESULTS.json")
    p_report.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.html")
    p_report.add_argument("--operator", default=None, help="operator named on the cover")
    p_report.add_argument(
        "--format",
        choices=("html", "sarif"),
        default="html",
        help="html: the sign-off report; sarif: the failed and errored checks as SARIF 2.1.0",
    )
    p_report.add_argument(
        "--spec-dir",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="sarif: look for the run's specs by name here first (to locate its rows); repeatable",
    )
    p_diff = commands.add_parser("diff", help="what changed between two results files (exit 1 on regression)")
    p_diff.add_argument("old", type=Path, metavar="OLD.json")
    p_diff.add_argument("new", type=Path, metavar="NEW.json")
    p_diff.add_argument("--format", choices=("text", "json"), default="text")
    lab_cli.add_parser(commands)
    privilege.add_parser(commands)
    capture.add_parser(commands)
    draft_cli.add_parser(commands)
    kernel_cli.add_parsers(commands)
    return parser


def _add_show(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_show = commands.add_parser("show", help="print the effective policy of a spec")
    p_show.add_argument("spec", help="spec name or path")
    p_show.add_argument("--profile", help="profile (default: the spec's default profile)")
    for flag, state in (("--enable", "on"), ("--disable", "off")):
        p_show.add_argument(
            flag,
            action="append",
            default=[],
            metavar="COND",
            help=f"turn a condition {state} ('all' for every condition); repeatable",
        )
    p_show.add_argument("--firmware", metavar="VERSION", help="device firmware version")
    p_show.add_argument("--role", help="only the rows of this node role")
    p_show.add_argument(
        "--spec-dir",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="look for specs by name here first; repeatable",
    )
    _add_format(p_show)


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files or directories (default: the packaged specs)",
    )


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table")


def say(text: str, stream: TextIO | None = None) -> None:
    """Print text that quotes specs, results files or devices: control characters escaped, lines kept."""
    print(printable_lines(text), file=stream or sys.stdout)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def cmd_lint(args: argparse.Namespace) -> int:
    files = spec_files(args.paths or [packaged_spec_dir()])
    if not files:
        raise PortspecError("no spec files found in " + ", ".join(map(str, args.paths)))
    if args.docs is not None and not args.docs.is_dir():
        raise PortspecError(f"--docs {args.docs}: no such directory")
    result = lint(files, args.docs)
    for problem in result.problems:
        say(str(problem), sys.stderr)
    if not args.quiet:
        for note in result.notes:
            say(str(note))
    checked = "citations checked" if args.docs else "citations not checked (no --docs)"
    summary = (
        f"{len(files)} spec file(s), {len(result.problems)} problem(s), "
        f"{len(result.notes)} note(s); {checked}"
    )
    print(summary, file=sys.stderr if result.problems else sys.stdout)
    return 0 if result.ok else 1


def cmd_show(args: argparse.Namespace) -> int:
    spec = find_spec(args.spec, args.spec_dir)
    policy = policy_named(spec, args)
    if args.format == "json":
        print(json.dumps(policy.as_dict(), indent=2))
    else:
        say(policy_text(policy))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    specs = [load_spec(path) for path in spec_files(args.paths or [packaged_spec_dir()])]
    if args.format == "json":
        print(json.dumps([spec_summary(s) for s in specs], indent=2))
    else:
        say(list_text(specs))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    results = load_results(args.results)
    if args.format == "sarif":
        return _sarif_report(results, args.output, args.spec_dir)
    run = results.run
    data = build_report(
        results,
        title=TITLE,
        operator=args.operator or run.operator or getpass.getuser(),
        created=run.created or "unknown",
        tool_version=run.tool_version or __version__,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page(data), encoding="utf-8")
    verdict = "ACCEPTED" if data.accepted else f"NOT ACCEPTED ({clip('; '.join(data.refusals), 400)})"
    say(f"{args.output}: {verdict}")
    return 0


def _sarif_report(results: Outcome, output: Path, spec_dirs: list[Path]) -> int:
    """The failed and errored checks as SARIF, located in the specs found by name (paths relative
    to the current directory, the repository's checkout in CI)."""
    from pytest_portspec.report import sarif

    log = sarif.build(results, sarif.load_sources(results, spec_dirs), Path.cwd())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(log, indent=2), encoding="utf-8")
    say(f"{output}: {len(log['runs'][0]['results'])} SARIF result(s)")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    result = diff_results(load_results(args.old), load_results(args.new))
    say(json.dumps(result.as_dict(), indent=2) if args.format == "json" else diff_text(result))
    return 1 if result.regressed else 0


COMMANDS = {
    "lint": cmd_lint,
    "show": cmd_show,
    "list": cmd_list,
    "diff": cmd_diff,
    "report": cmd_report,
    "lab": lab_cli.run_lab,
    "sudoers": privilege.run_sudoers,
    "capture-script": capture.run_capture_script,
    "draft": draft_cli.run_draft,
    "packet": kernel_cli.run_packet,
    "matrix": kernel_cli.run_matrix,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SpecError as exc:
        say(str(exc), sys.stderr)
        return 2
    except PortspecError as exc:
        say(f"portspec: error: {exc}", sys.stderr)
        return 2
    except BrokenPipeError:  # `portspec show ... | head` closed the pipe: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
