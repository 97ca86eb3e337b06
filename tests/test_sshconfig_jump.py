"""ssh_config as OpenSSH users write it (Include, ProxyJump, ProxyCommand, tokens, known_hosts and
host key settings), its precedence against the command line, and the jump hosts planned from it:
pure (files in tmp_path, HOME pointed there; nothing connects, nothing is run)."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from pytest_portspec.device.jump import parse_jumps, plan
from pytest_portspec.device.route import resolve
from pytest_portspec.device.ssh import SSHSettings
from pytest_portspec.device.sshconfig import host_config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- Include -------------------------------------------------------------------------------------


def test_include_is_relative_to_dot_ssh_globbed_sorted_and_nested(home: Path) -> None:
    config = write(home / ".ssh/config", "Include conf.d/*.conf missing.conf\nHost *\n  User last\n")
    write(home / ".ssh/conf.d/b.conf", "Host dev\n  Port 2202\n  User from-b\n")
    write(home / ".ssh/conf.d/a.conf", "Host dev\n  Port 2201\nInclude deeper/x\n")
    write(home / ".ssh/deeper/x", "Host dev\n  HostName 198.18.7.2\n")
    found = host_config(config, "dev")
    assert (found.port, found.user, found.hostname) == (2201, "from-b", "198.18.7.2")  # a before b
    assert host_config(config, "other").user == "last"  # `Host *` after the Include still applies


def test_include_inside_a_host_block_applies_only_to_that_host(home: Path) -> None:
    config = write(
        home / ".ssh/config",
        "Host dev\n  Include site.conf\n  User after-include\nHost other\n  Port 2300\n",
    )
    write(home / ".ssh/site.conf", "IdentitiesOnly yes\nHost *\n  Port 2222\n  ProxyJump bastion\n")
    dev, other = host_config(config, "dev"), host_config(config, "other")
    assert (dev.identities_only, dev.port, dev.proxy_jump, dev.user) == (
        True,
        2222,
        "bastion",
        "after-include",
    )
    assert (other.identities_only, other.port, other.proxy_jump) == (False, 2300, None)


def test_include_inside_a_match_block_joins_the_conditions(home: Path) -> None:
    config = write(home / ".ssh/config", "Match originalhost dev*\n  Include ops.conf\nHost *\n  Port 2000\n")
    write(home / ".ssh/ops.conf", "Host *-a\n  Port 2100\n")
    assert host_config(config, "dev-a").port == 2100
    assert host_config(config, "dev-b").port == 2000  # the included block's own condition
    assert host_config(config, "other-a").port == 2000  # the Match block's condition


def test_an_include_loop_is_one_sentence_naming_the_line(home: Path) -> None:
    config = write(home / ".ssh/config", "Host dev\n  Port 22\nInclude config\n")
    with pytest.raises(ValueError, match=rf"^{home}/.ssh/config:3: Include nests more than 16 files deep"):
        host_config(config, "dev")


def test_a_match_exec_in_an_included_file_is_refused_naming_that_file(home: Path) -> None:
    marker = home / "ran"
    config = write(home / ".ssh/config", "Host dev\n  Port 22\nInclude extra.conf\n")
    write(home / ".ssh/extra.conf", f'# exec\nMatch host dev exec "touch {marker}"\n  User x\n')
    with pytest.raises(ValueError, match=rf"^{home}/.ssh/extra.conf:2: `Match exec` would run a command"):
        host_config(config, "dev")
    assert not marker.exists()


# --- ProxyJump, ProxyCommand, tokens -------------------------------------------------------------


def test_proxycommand_tokens_use_the_final_host_port_and_user(home: Path) -> None:
    config = write(
        home / ".ssh/config",
        "Host dev\n  HostName 198.18.7.2\n  User cfg\n  ProxyCommand nc -X %% %h %p %r %n\n",
    )
    assert host_config(config, "dev").proxy_command == "nc -X % 198.18.7.2 22 cfg dev"
    # the command line's port and user win, and the tokens stand for them
    assert host_config(config, "dev", 2200, "cli").proxy_command == "nc -X % 198.18.7.2 2200 cli dev"


def test_an_unknown_token_is_one_sentence_naming_the_line(home: Path) -> None:
    config = write(home / ".ssh/config", "Host dev\n  Port 22\n  IdentityFile ~/.ssh/%Z\n")
    expected = rf"^{home}/.ssh/config:3: IdentityFile uses the token %Z, which portspec cannot expand"
    with pytest.raises(ValueError, match=expected):
        host_config(config, "dev")


def test_of_proxyjump_and_proxycommand_the_first_set_wins_and_none_is_none(home: Path) -> None:
    config = write(
        home / ".ssh/config",
        "Host a\n  ProxyCommand ssh -W %h:%p j\nHost a b\n  ProxyJump j2\nHost c\n  ProxyJump none\n",
    )
    a, b, c = (host_config(config, n) for n in "abc")
    assert (a.proxy_command, a.proxy_jump, a.proxy_where) == ("ssh -W a:22 j", None, f"{config}:2")
    assert (b.proxy_command, b.proxy_jump, b.proxy_where) == (None, "j2", f"{config}:4")
    assert (c.proxy_command, c.proxy_jump) == (None, None)


def test_identity_files_all_in_order_and_known_hosts_and_strict_checking(home: Path) -> None:
    config = write(
        home / ".ssh/config",
        "Host dev\n  IdentityFile ~/.ssh/dev_%r\n  StrictHostKeyChecking accept-new\n"
        "  UserKnownHostsFile ~/kh/%u-%h %d/second\nHost *\n  IdentityFile ~/.ssh/id_ed25519\n"
        "  StrictHostKeyChecking no\n",
    )
    found = host_config(config, "dev", user="ops")
    assert found.identity_files == (f"{home}/.ssh/dev_ops", f"{home}/.ssh/id_ed25519")
    assert found.known_hosts_file == f"{home}/kh/{getpass.getuser()}-dev"
    assert found.host_key_policy == "accept-new"
    assert (
        host_config(config, "other").host_key_policy == "accept-new"
    )  # OpenSSH "no": never looser than accept-new here


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "StrictHostKeyChecking maybe",
            "StrictHostKeyChecking 'maybe' is not yes, ask, accept-new, no or off",
        ),
        ("IdentitiesOnly perhaps", "IdentitiesOnly 'perhaps' is not yes or no"),
        ("Port 0", "Port '0' is not a port number 1-65535"),
        ("ProxyJump a,b c", "ProxyJump: 'b c' is not [user@]host[:port]"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_file_and_line(home: Path, line: str, expected: str) -> None:
    config = write(home / ".ssh/config", f"Host dev\n  User x\n  {line}\n")
    settings = SSHSettings(host="dev", ssh_config=str(config))
    with pytest.raises(ValueError) as caught:
        resolve(settings)
    assert str(caught.value) == f"{config}:3: {expected}"


# --- precedence: the command line wins ------------------------------------------------------------


def test_the_command_line_wins_over_ssh_config(home: Path) -> None:
    config = write(
        home / ".ssh/config",
        "Host dev\n  HostName 198.18.7.2\n  Port 2200\n  User cfg\n  IdentityFile ~/k1\n"
        "  UserKnownHostsFile ~/cfg_known\n  StrictHostKeyChecking no\n  ProxyJump cfg-jump\n",
    )
    given = SSHSettings(
        host="dev",
        port=2222,
        user="cli",
        key="~/k2",
        ssh_config=str(config),
        known_hosts="/cli/known",
        host_key_policy="strict",
        proxy_jump="none",
    )
    route = resolve(given)
    assert (route.host, route.port, route.user, route.keys) == ("198.18.7.2", 2222, "cli", (f"{home}/k2",))
    assert (route.known_hosts, route.host_key_policy, route.hops) == (Path("/cli/known"), "strict", ())
    # the defaults left: ssh_config's known_hosts file, policy and ProxyJump apply
    left = SSHSettings(
        host="dev",
        ssh_config=str(config),
        known_hosts="~/.ssh/known_hosts",
        config_may_set=frozenset({"known_hosts", "host_key_policy"}),
    )
    route = resolve(left)
    assert (route.known_hosts, route.host_key_policy) == (home / "cfg_known", "accept-new")
    assert [h.label for h in route.hops] == ["cfg-jump:22"] and route.through == "jump host cfg-jump:22"


# --- jump hosts: their specs and their own ssh_config --------------------------------------------


def test_proxyjump_specs() -> None:
    assert parse_jumps("admin@bastion:2222,ssh://ops@[2001:2::5]:22,198.18.1.1") == [
        ("admin", "bastion", 2222),
        ("ops", "2001:2::5", 22),
        (None, "198.18.1.1", None),
    ]
    assert parse_jumps("none") == []
    for bad in ("a,,b", "bad host", "a:0", "a:http", "[2001:2::5", "us er@a", ",".join("abcdefghi")):
        with pytest.raises(ValueError):
            parse_jumps(bad)


def test_each_hop_gets_its_own_ssh_config_and_the_first_hops_proxyjump_is_followed(home: Path) -> None:
    config = write(
        home / ".ssh/config",
        "Host outer\n  HostName 198.18.9.1\n  User edge\n  IdentityFile ~/edge_key\n  IdentitiesOnly yes\n"
        "Host inner\n  HostName 198.18.9.2\n  Port 2022\n  ProxyJump outer\n"
        "Host last\n  ProxyJump nowhere\n",  # a later hop's own ProxyJump is not followed (as `ssh -J`)
    )
    route = resolve(
        SSHSettings(host="dev", ssh_config=str(config), proxy_jump="admin@inner,last:2200", key="~/k")
    )
    assert [(h.label, h.host, h.keys, h.identities_only) for h in route.hops] == [
        ("edge@outer:22", "198.18.9.1", (f"{home}/edge_key",), True),
        ("admin@inner:2022", "198.18.9.2", (f"{home}/k",), False),
        ("last:2200", "last", (f"{home}/k",), False),
    ]
    assert route.through == "jump hosts edge@outer:22, admin@inner:2022, last:2200"


def test_a_proxyjump_loop_is_bounded(home: Path) -> None:
    config = write(home / ".ssh/config", "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(ValueError, match="ProxyJump chains more than 8 jump hosts"):
        plan("a", "--ssh-proxy-jump 'a'", lambda n, p, u: host_config(config, n, p, u), ())
