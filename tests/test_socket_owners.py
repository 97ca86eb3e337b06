"""Who holds a listening socket: ss's process column read strictly, then checked against the
kernel's names for each pid (the snapshot's processes section). Real captures: tests/data/sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.device.state_command import SECTIONS, parse_sections
from pytest_portspec.parse.owners import parse_processes, users_column
from pytest_portspec.parse.sockets import Socket, cross_check, parse_listening

DATA = Path(__file__).parent / "data" / "sockets"


def captured() -> tuple[list[Socket], str]:
    """The sockets and processes sections of a real capture (capture.py)."""
    sections = parse_sections((DATA / "ss-families.snapshot").read_bytes().decode())
    return parse_listening(sections["sockets"].text), sections["processes"].text


def by_port(sockets: list[Socket]) -> dict[int, Socket]:
    return {s.port: s for s in sockets}


@pytest.mark.parametrize(
    ("column", "entries"),
    [
        ('users:(("nginx",pid=9,fd=7))', (("nginx", 9),)),
        ('users:(("nginx",pid=9,fd=7),("nginx",pid=10,fd=7))', (("nginx", 9), ("nginx", 10))),
        ('users:(("nginx",pid=1",pid=10,fd=3))', (('nginx",pid=1', 10),)),  # real: the name has ",pid=1
        ('users:(("a b)(",pid=3,fd=4))   ', (("a b)(", 3),)),  # ss pads lines with spaces
        ('users:(("java",pid=1722,fd=125)) uid:112 ino:19543 sk:8 v6only:0 <->', (("java", 1722),)),
    ],
)
def test_the_process_column_is_read_by_its_grammar(column: str, entries: tuple[tuple[str, int], ...]) -> None:
    assert users_column(f"tcp LISTEN 0 128 0.0.0.0:443 0.0.0.0:* {column}") == (entries, "")


@pytest.mark.parametrize(
    ("column", "why"),
    [
        # two readings: one process named a",pid=1,fd=2),("b, or two processes a and b
        ('users:(("a",pid=1,fd=2),("b",pid=5,fd=3))x', "cannot read"),
        ('users:(("",pid=1,fd=2)) ",pid=5,fd=3))', "reads more than one way"),
        ('users:(("a",pid=1,fd=2),("b",pid=5,fd=3))', ""),
        ('users:(("sendmail",3965,4))', "cannot read"),  # an ancient ss (InSpec's ss-tulpen)
        ('users:(("nginx",pid=9,fd=7)', "cannot read"),  # cut short
        ("", "ss shows no process"),
    ],
)
def test_an_ambiguous_or_unreadable_process_column_credits_nobody(column: str, why: str) -> None:
    entries, problem = users_column(f"tcp LISTEN 0 128 0.0.0.0:443 0.0.0.0:* {column}")
    assert why in problem
    assert (entries == ()) == bool(why)


def test_a_column_that_fits_only_with_names_longer_than_the_kernel_keeps_is_refused() -> None:
    line = 'tcp LISTEN 0 1 *:80 *:* users:(("a",pid=1,fd=2),("b",pid=5,fd=3)),("c",pid=6,fd=4))'
    assert users_column(line) == ((), "ss's process column is in a form this tool cannot read")


def test_processes_section_is_read_from_hex() -> None:
    _, text = captured()
    table = parse_processes(text)
    assert table[3].comm == b"redis-server" and table[3].exe.endswith(b"/python3.11")
    assert table[10].comm == b'nginx",pid=1'
    assert table[12].comm == b"a\x1b[2Jb"
    doubled = "7\t6e67696e780a\t\n7\t6a6176610a\t\n8\tzz\t\n"
    assert parse_processes(doubled) == {}  # a pid twice, or not hex: nothing is believed


def test_the_kernel_confirms_the_owners_ss_names() -> None:
    sockets, processes = captured()
    found = by_port(cross_check(sockets, processes))
    assert found[6379].names == ("redis-server",) and not found[6379].unclear
    assert found[8443].names == ("nginx",)
    assert any("python3.11" in line for line in found[8443].owner_evidence)  # the exe, as evidence


def test_a_quote_in_a_process_name_is_that_process_s_name_not_nginx() -> None:
    found = by_port(cross_check(*captured()))
    assert found[443].names == ('nginx",pid=1',)  # established, and not nginx


def test_ss_cuts_a_name_at_a_parenthesis_the_kernel_shows_it_whole() -> None:
    """`nginx)x` shows as "nginx" in ss (it reads /proc/PID/stat up to the first ")")."""
    found = by_port(cross_check(*captured()))
    assert found[444].names == ()
    assert "nginx)x" in found[444].unclear and found[444].describe() == "tcp 127.0.0.1:444 (owner unclear)"


def test_control_characters_a_device_sends_never_reach_the_terminal() -> None:
    found = by_port(cross_check(*captured()))
    for text in (found[445].text, found[445].describe(), found[445].unclear):
        assert "\x1b" not in text
    assert "\\x1b[2Jb" in found[445].text


def test_without_the_processes_section_no_owner_is_credited() -> None:
    sockets, _ = captured()
    found = by_port(cross_check(sockets, None))
    assert found[6379].names == () and "not checked" in found[6379].unclear


def test_a_pid_the_kernel_did_not_list_is_not_credited() -> None:
    sockets, processes = captured()
    found = by_port(cross_check(sockets, "\n".join(processes.splitlines()[2:])))  # pid 3 gone (exited)
    assert found[6379].names == () and "pid 3" in found[6379].unclear


def test_without_a_process_column_the_owner_is_unknown() -> None:
    found = by_port(cross_check(parse_listening((DATA / "ss-unprivileged.txt").read_text()), ""))
    assert found[8443].names == () and "ss shows no process" in found[8443].unclear
    assert found[8443].describe() == "tcp 0.0.0.0:8443 (unknown process)"


def test_the_processes_section_reads_only_and_quotes_what_the_device_says() -> None:
    command = SECTIONS["processes"]
    assert "grep -oE 'pid=[0-9]+|[0-9]+/'" in command and "head -n 512" in command
    assert "case $p in ''|*[!0-9]*) continue;; esac" in command
    assert '"/proc/$p/comm"' in command and '"/proc/$p/exe"' in command


def test_a_snapshot_without_the_processes_section_is_read_but_credits_no_owner() -> None:
    """An older capture or fake: the device is read; each listening item says why it cannot pass."""
    from test_runner import device, ok, sections

    from pytest_portspec.device.state_command import MARK

    text = sections()
    start = text.index(f"{MARK}processes\n")
    end = text.index("\n", text.index(f"{MARK}rc=", start)) + 1
    run = device({"ufw status verbose": ok(text[:start] + text[end:])})
    run.run()
    assert run.error is None, run.error
    verdict = run.verdicts[("in-443-tcp-https-nginx", "listening")]
    assert verdict.outcome == "error" and "not checked against the kernel" in verdict.observed
    assert verdict.observed.startswith("the owner of tcp 0.0.0.0:443 is unknown")
    with_it = device({"ufw status verbose": ok(text)})
    with_it.run()
    assert with_it.verdicts[("in-443-tcp-https-nginx", "listening")].outcome == "passed"
