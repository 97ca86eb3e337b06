"""Least privilege: the snapshot's root reads are exactly privilege.READS, each its own sudo with fixed
arguments in commands mode; both modes run the same sections; `portspec sudoers` allows exactly
READS; a refused read is one device error naming it."""

from __future__ import annotations

import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pytest_portspec import __version__
from pytest_portspec.cli import main
from pytest_portspec.device import privilege
from pytest_portspec.device.privilege import READS, REFUSED, ROOT, refusal, refusal_reason, sudoers
from pytest_portspec.device.state_command import fingerprint_command, state_command


def inner(command: str) -> str:
    """The script a remote command runs (what `sh -c` is given)."""
    words = shlex.split(command)
    assert words[-3:-1] == ["sh", "-c"], command[:80]
    return words[-1]


@pytest.mark.parametrize("build", [state_command, fingerprint_command])
def test_commands_mode_sudos_only_the_listed_reads_with_their_fixed_arguments(build: object) -> None:
    command = build(sudo=True)  # type: ignore[operator]
    assert command.startswith("sh -c '")  # the script itself runs as the SSH user
    script = inner(command)
    definition, _, body = script.partition("export PATH=")
    assert "sudo" not in body  # every sudo is in portspec_root's definition
    used = [read for read in READS.values() if read.shell() in body]
    for read in used:
        body = body.replace(read.shell(), "")
    assert ROOT not in body  # no root read that is not one of READS, word for word
    assert definition.count("sudo -n") == 2 and '"$@"' in definition  # the read, then `sudo -l` of it


def test_every_read_has_an_absolute_path_and_plain_fixed_arguments() -> None:
    for key, read in READS.items():
        assert read.path.startswith("/") and read.name in read.path, key
        for arg in read.args:
            assert re.fullmatch(r"[A-Za-z0-9/_.-]+", arg), (key, arg)  # no wildcard, space or quote
        assert read.shell() == f"{ROOT} {shlex.join((read.name, *read.args))}"
    state = inner(state_command(sudo=True)) + inner(fingerprint_command(sudo=True))
    assert all(read.shell() in state for read in READS.values())  # no rule for a read never made


def test_both_modes_run_the_same_sections_only_portspec_root_differs() -> None:
    for build in (state_command, fingerprint_command):
        commands = inner(build(sudo=True, mode="commands"))
        shell = build(sudo=True, mode="shell")
        assert shell.startswith("sudo -n sh -c '")
        assert commands.partition("export PATH=")[2] == inner(shell).partition("export PATH=")[2]
        assert inner(shell).startswith(f'{ROOT}() {{ "$@"; }}; ')
    assert state_command(sudo=True, password=True, mode="shell").startswith("sudo -S -p '' sh -c '")
    assert state_command(sudo=False).startswith(f'sh -c \'{ROOT}() {{ "$@"; }}; ')
    assert "sudo" not in state_command(sudo=False).partition("export PATH=")[2]


STUB_SUDO = """#!/bin/sh
# a stand-in for sudo: records its arguments, reads a password with -S, refuses when asked to
printf '%s\\n' "$*" >> "$STUB_DIR/argv"
password=; list=
while [ $# -gt 0 ]; do
  case $1 in
    -S) IFS= read -r password;; -n) ;; -p) shift;; -l) list=1;; --) shift; break;; *) break;;
  esac
  shift
done
[ -n "$STUB_PASSWORD" ] && [ "$password" != "$STUB_PASSWORD" ] && {
  echo "sudo: 1 incorrect password attempt" >&2; exit 1; }
[ "$1" = refused ] && { echo "sudo: a password is required" >&2; exit 1; }
[ -n "$list" ] && exit 0
exec "$@"
"""


def run_root(tmp_path: Path, call: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """portspec_root, as commands mode defines it, run by sh with the stub sudo first on PATH."""
    stub = tmp_path / "sudo"
    stub.write_text(STUB_SUDO)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    for name, body in (("refused", "echo should-not-run"), ("fails", "echo failing; exit 3")):
        tool = tmp_path / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    script = inner(
        privilege.remote(
            f"PATH={tmp_path}:$PATH; {call}", sudo=True, mode="commands", password=bool(password)
        )
    )
    env = {"PATH": "/usr/bin:/bin", "STUB_DIR": str(tmp_path), "STUB_PASSWORD": password or ""}
    return subprocess.run(
        ["sh", "-c", script],
        input=f"{password}\n" if password else None,
        env=env,
        capture_output=True,
        text=True,
    )


def test_a_read_runs_through_sudo_and_keeps_its_output_and_status(tmp_path: Path) -> None:
    done = run_root(tmp_path, f"{ROOT} echo hello 2>&1; echo rc=$?; {ROOT} fails 2>&1; echo rc=$?")
    assert done.stdout == "hello\nrc=0\nfailing\nrc=3\n"  # a failing program is no refusal
    assert (tmp_path / "argv").read_text().splitlines()[0] == "-n -- echo hello"


def test_a_missing_program_is_the_shells_not_found(tmp_path: Path) -> None:
    done = run_root(tmp_path, f"{ROOT} no-such-tool; echo rc=$?")
    assert done.stdout == "rc=127\n" and "no-such-tool: not found" in done.stderr
    assert not (tmp_path / "argv").exists()


def test_a_refused_read_is_marked_past_pipes_and_named_in_one_error(tmp_path: Path) -> None:
    done = run_root(tmp_path, f"echo ==s; ({ROOT} refused arg 2>/dev/null | cat) 2>&1; echo rc=$?")
    assert f"{REFUSED}refused arg\n" in done.stdout and "should-not-run" not in done.stdout
    found = refusal("sudo: a password is required\n" + done.stdout)
    assert found == ("refused arg", "sudo: a password is required")
    reason = refusal_reason(*found, password_given=False)
    assert reason.startswith("sudo needs a password on this device: pass --sudo-password-env VAR")
    assert "sudo refused `refused arg`" in reason and "`portspec sudoers`" in reason
    other = refusal_reason("ufw status verbose", "Sorry, user x is not allowed to execute", True)
    assert other.startswith("sudo refused `ufw status verbose` (Sorry, user x is not allowed to execute)")


def test_a_hostile_refusal_line_is_printable_and_clipped() -> None:
    found = refusal(f"{REFUSED}\x1b[2J" + "x" * 5000)
    assert found is not None and "\x1b" not in found[0] and len(found[0]) < 300


def test_the_password_goes_to_each_sudo_on_stdin_never_on_a_command_line(tmp_path: Path) -> None:
    done = run_root(tmp_path, f"{ROOT} echo one; {ROOT} echo two", password="s3cret pw!")
    assert done.stdout == "one\ntwo\n", done.stderr
    argv = (tmp_path / "argv").read_text()
    assert argv.count("-S -p  -- echo") == 2 and "s3cret" not in argv
    command = state_command(sudo=True, password=True)
    assert command.startswith("sh -c 'IFS= read -r portspec_pw; ")


def test_the_drop_in_allows_exactly_the_reads(tmp_path: Path) -> None:
    text = sudoers("alice", __version__)
    assert f"pytest-portspec {__version__}" in text and "visudo -cf" in text
    assert text.rstrip().endswith("alice ALL=(root) NOPASSWD: PORTSPEC_READS")
    alias = text.split("Cmnd_Alias PORTSPEC_READS = ", 1)[1].split("\nalice ", 1)[0]
    entries = [e.strip() for e in alias.replace("\\\n", "").split(",")]
    assert sorted(entries) == sorted({read.sudoers() for read in READS.values()})
    assert '/usr/sbin/iptables-save ""' in entries  # a bare path would allow `-f FILE` (a write)
    assert all(" " in e for e in entries)  # every command with its arguments (or "")
    if shutil.which("visudo"):
        path = tmp_path / "portspec"
        path.write_text(text)
        checked = subprocess.run(["visudo", "-cf", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_portspec_sudoers_prints_it_and_refuses_a_name_that_is_no_user(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sudoers", "--user", "deploy"]) == 0
    assert capsys.readouterr().out == sudoers("deploy", __version__)
    assert main(["sudoers", "--user", "a, ALL=(ALL) ALL"]) == 2
    assert "not a user name" in capsys.readouterr().err


def test_the_verdicts_are_the_same_in_both_modes_and_a_refusal_is_one_device_error() -> None:
    from test_runner import device, ok, sections

    runs = {
        mode: device({"ufw status verbose": ok(sections())}, sudo_mode=mode) for mode in ("commands", "shell")
    }
    for run in runs.values():
        run.run()
        assert run.error is None
    assert {k: v.outcome for k, v in runs["commands"].verdicts.items()} == {
        k: v.outcome for k, v in runs["shell"].verdicts.items()
    }
    refused = sections(**{"ufw-status": (1, f"sudo: a password is required\n{REFUSED}ufw status verbose")})
    run = device({"ufw status verbose": ok(refused)})
    run.run()
    assert run.error is not None and run.verdicts == {}
    assert "sudo refused `ufw status verbose` (sudo: a password is required)" in run.error.reason


def test_the_sudo_mode_is_an_option_with_an_ini_twin(pytester: pytest.Pytester) -> None:
    device = ["-p", "no:cacheprovider", "--collect-only", "--device", "smartserver@198.18.1.2"]
    result = pytester.runpytest_subprocess(*device, "--sudo-mode", "root")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "--sudo-mode" in result.stderr.str()
    pytester.makeini("[pytest]\nportspec_sudo_mode = sudo-sh\n")
    result = pytester.runpytest_subprocess(*device)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "portspec_sudo_mode 'sudo-sh': expected commands or shell" in result.stderr.str()
    assert pytester.runpytest_subprocess(*device, "--sudo-mode", "shell").ret == pytest.ExitCode.OK


def test_an_owner_whose_program_is_unreadable_says_it_was_checked_by_its_name_only() -> None:
    from pytest_portspec.parse.owners import Process, confirmed

    unread = Process(7, b"nginx", b"")  # /proc/7/exe read as the SSH user: not its process
    assert unread.evidence().endswith("program unreadable without root: checked by its name only")
    assert Process(7, b"nginx", b"/usr/sbin/nginx").evidence().endswith("program /usr/sbin/nginx")
    assert confirmed(("nginx", 7), {7: unread}) == ""  # the kernel's name is what confirms, as before
    assert confirmed(("nginx", 7), {7: Process(7, b"evil", b"")}) != ""
