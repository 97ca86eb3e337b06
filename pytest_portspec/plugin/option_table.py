"""The plugin's command line: one option group and its ini twins (options.py validates the values)."""

from __future__ import annotations

import pytest

from pytest_portspec.device.privilege import SUDO_MODES
from pytest_portspec.plugin import scan_options, ssh_options

GROUP = "portspec"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "portspec: check devices against vendor port tables")
    add = group.addoption
    add(
        "--device",
        action="append",
        default=[],
        dest="portspec_devices",
        metavar="SPEC[:PROFILE]@HOST[:PORT]",
        help="a device to check (HOST: address, DNS name, ~/.ssh/config alias, lab or lab:NAME); repeatable",
    )
    add(
        "--spec-dir",
        action="append",
        default=[],
        dest="portspec_spec_dirs",
        metavar="DIR",
        help="look for specs here before the packaged ones; repeatable (ini: portspec_spec_dirs)",
    )
    add(
        "--enable",
        action="append",
        default=[],
        dest="portspec_enable",
        metavar="COND",
        help="turn a condition on for every device ('all' for every condition); repeatable",
    )
    add(
        "--disable",
        action="append",
        default=[],
        dest="portspec_disable",
        metavar="COND",
        help="turn a condition off for every device; repeatable",
    )
    add("--firmware", dest="portspec_firmware", metavar="VERSION", help="firmware version of the devices")
    add("--role", dest="portspec_role", metavar="ROLE", help="node role of the devices, for cluster specs")
    add(
        "--port",
        action="append",
        default=[],
        dest="portspec_ports",
        metavar="ROW=PORT",
        help="the port a configurable row really uses, e.g. --port opcua=4840; repeatable",
    )
    add(
        "--dest",
        action="append",
        default=[],
        dest="portspec_dests",
        metavar="KEY=HOST",
        help="a destination the document does not name, e.g. --dest ntp=time.example.net; repeatable",
    )
    add(
        "--site-allow",
        action="append",
        default=[],
        dest="portspec_site_allow",
        metavar="PORT/PROTO",
        help="an inbound port the site opened on purpose beyond the document, e.g. 8443/tcp; repeatable",
    )
    add(
        "--cluster-net",
        action="append",
        default=[],
        dest="portspec_cluster_nets",
        metavar="CIDR",
        help="the cluster's network: the only sources cluster-only ports may let in; repeatable "
        "(ini: portspec_cluster_net)",
    )
    add(
        "--management-net",
        action="append",
        default=[],
        dest="portspec_management_nets",
        metavar="CIDR",
        help="a management network of the site: with --cluster-net, cluster-only ports may let it in "
        "too; repeatable (ini: portspec_management_net)",
    )
    add("--ssh-user", dest="portspec_ssh_user", metavar="USER", help="SSH user (ini: portspec_ssh_user)")
    add("--ssh-key", dest="portspec_ssh_key", metavar="FILE", help="SSH private key file")
    add(
        "--known-hosts",
        dest="portspec_known_hosts",
        metavar="FILE",
        help="known_hosts file (default ~/.ssh/known_hosts; ini: portspec_known_hosts)",
    )
    add(
        "--host-key-policy",
        dest="portspec_host_key_policy",
        choices=("strict", "accept-new", "ignore"),
        help="unknown host keys: strict (refuse, default), accept-new (remember), ignore",
    )
    ssh_options.add_options(add, parser)  # --ssh-proxy-jump, --inbound-from
    scan_options.add_options(add, parser)  # --scan, --scan-rate, --scanner, --scan-timeout
    add(
        "--connect-timeout",
        dest="portspec_connect_timeout",
        type=float,
        metavar="SECONDS",
        help="SSH connect timeout (default 10; ini: portspec_connect_timeout)",
    )
    # --ssh-config and --sudo belong to testinfra (a dependency); the plugin honours its --ssh-config
    add(
        "--no-sudo",
        dest="portspec_no_sudo",
        action="store_true",
        help="the SSH user is root: read the device's state without sudo (default: 'sudo -n')",
    )
    add(
        "--sudo-password-env",
        dest="portspec_sudo_password_env",
        metavar="VAR",
        help="environment variable holding the sudo password (fed on stdin, never shown)",
    )
    add(
        "--sudo-mode",
        dest="portspec_sudo_mode",
        choices=SUDO_MODES,
        help="commands: one sudo per read-only command, as `portspec sudoers` allows (default); "
        "shell: the whole snapshot under `sudo sh` (ini: portspec_sudo_mode)",
    )
    add(
        "--probe-timeout",
        dest="portspec_probe_timeout",
        type=float,
        metavar="SECONDS",
        help="timeout of each reachability probe (default 3; ini: portspec_probe_timeout)",
    )
    add("--portspec-json", dest="portspec_json", metavar="PATH", help="write the results file here")
    add(
        "--portspec-sarif",
        dest="portspec_sarif",
        metavar="PATH",
        help="write the failed and errored checks here as SARIF 2.1.0 (code scanning, DefectDojo)",
    )

    add(
        "--inventory",
        dest="portspec_inventory",
        metavar="PATH",
        help="the site's devices, with spec, role and SSH settings: our YAML, or an Ansible inventory "
        "(INI, YAML or a directory; ini: portspec_inventory)",
    )
    add(
        "--inventory-limit",
        dest="portspec_inventory_limit",
        metavar="PATTERN",
        help="only the Ansible inventory's hosts this pattern selects, as ansible --limit "
        "(ini: portspec_inventory_limit)",
    )
    add(
        "--max-parallel",
        dest="portspec_max_parallel",
        type=int,
        metavar="N",
        help="devices read at once (default 32; ini: portspec_max_parallel)",
    )
    add(
        "--accept",
        dest="portspec_accept",
        metavar="FILE",
        help="accepted deviations (waivers) of the site, YAML (ini: portspec_accept)",
    )
    add(
        "--signoff-operator",
        dest="portspec_operator",
        metavar="NAME",
        help="operator named on the report's cover (default: the user running pytest)",
    )
    parser.addini("portspec_inventory", "inventory file of the site's devices", default="")
    parser.addini("portspec_inventory_limit", "Ansible host pattern: the inventory's devices", default="")
    parser.addini("portspec_max_parallel", "devices read at once", default="32")
    parser.addini("portspec_accept", "accepted deviations (waivers) file", default="")
    parser.addini("portspec_cluster_net", "the cluster's networks (CIDR), one a line", type="linelist")
    parser.addini(
        "portspec_management_net", "the site's management networks (CIDR), one a line", type="linelist"
    )
    parser.addini(
        "portspec_spec_dirs", "spec directories searched before the packaged specs", type="paths", default=[]
    )
    parser.addini("portspec_ssh_user", "SSH user", default="")
    parser.addini("portspec_ssh_config", "ssh_config file honoured", default="~/.ssh/config")
    # empty: not given, so ssh_config's UserKnownHostsFile / StrictHostKeyChecking may set them
    parser.addini("portspec_known_hosts", "known_hosts file (default ~/.ssh/known_hosts)", default="")
    parser.addini("portspec_host_key_policy", "strict, accept-new or ignore (default strict)", default="")
    parser.addini("portspec_sudo_mode", "commands (a sudo per read) or shell (sudo sh)", default="commands")
    parser.addini("portspec_connect_timeout", "SSH connect timeout in seconds", default="10")
    parser.addini("portspec_probe_timeout", "probe timeout in seconds", default="3")
