"""Port forwards of the `docker-forward`, `docker-forward-local` and `nft-forward` drifts.

`iptables_nat` writes the nat table as Docker does when it publishes a port (moby's
`iptables -t nat -S` on a host with `docker run -p 8080:80`, `-p 127.0.0.1:8081:80`):

    -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
    -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
    -A DOCKER -i docker0 -j RETURN
    -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
    -A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80

except that the destination is the appliance's own management address (there is no
container), where a documented service listens on TO-PORT: the traffic really flows, and ufw
judges it in INPUT on TO-PORT. `nft_nat` is the same forward as an nftables table of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_portspec.lab.plan import NatForward, in_lab
from pytest_portspec.lab.system import run

NFT_TABLE = "portspec-nat"


def iptables_nat(forwards: Sequence[NatForward], address: str) -> str:
    """iptables-restore input (applied with --noflush) for the Docker forwards; "" for none."""
    docker = [f for f in forwards if f.kind in ("docker", "docker-local")]
    if not docker:
        return ""
    lines = [
        "*nat",
        ":DOCKER - [0:0]",
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        "-A DOCKER -i docker0 -j RETURN",
    ]
    for f in docker:
        local = "-d 127.0.0.1/32 " if f.kind == "docker-local" else ""
        lines.append(
            f"-A DOCKER {local}! -i docker0 -p {f.proto} -m {f.proto} --dport {f.port} "
            f"-j DNAT --to-destination {in_lab(address)}:{f.to}"
        )
    return "\n".join([*lines, "COMMIT", ""])


def nft_nat(forwards: Sequence[NatForward], address: str) -> str:
    """`nft -f` input for the nft forwards; "" for none."""
    nft = [f for f in forwards if f.kind == "nft"]
    rules = [f"{f.proto} dport {f.port} dnat to {in_lab(address)}:{f.to}" for f in nft]
    if not rules:
        return ""
    body = "\n".join(f"    {rule}" for rule in rules)
    return (
        f"table ip {NFT_TABLE} {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat;\n"
        f"{body}\n  }}\n}}\n"
    )


def apply(enter: Sequence[str], forwards: Sequence[NatForward], address: str) -> None:
    """In the appliance's own namespace (`enter`: the nsenter prefix), after ufw."""
    docker, nft = iptables_nat(forwards, address), nft_nat(forwards, address)
    if docker:
        run([*enter, "iptables-restore", "--noflush"], input=docker)
    if nft:
        run([*enter, "nft", "-f", "-"], input=nft)
