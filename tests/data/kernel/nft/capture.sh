#!/bin/sh
# Captures the nft JSON (and iptables-save) files of this directory from real rulesets, each in a
# throwaway network namespace (no addresses, no packets). Run once as root from this directory;
# the outputs are committed and the tests only read them.
set -eu
NS="psnft-capture-$$"
ip netns add "$NS"
trap 'ip netns delete "$NS"' EXIT
run() { ip netns exec "$NS" "$@"; }
reset() { run nft flush ruleset; }

for name in statements firewalld docker inet-filter; do
	reset
	run nft -f "$name.nft"
	run nft -j list ruleset > "$name.json"
done

# ufw's ruleset as iptables-nft loads it (the emulated SmartServer's iptables-save, restored)
reset
run iptables-restore < smartserver.iptables-save
run ip6tables-restore < smartserver.ip6tables-save
run iptables-save > ufw.iptables-save
run ip6tables-save > ufw.ip6tables-save
run nft -j list ruleset > ufw.json

# native tables and iptables-nft tables side by side
reset
run nft -f inet-filter.nft
grep -v '^#' mixed.commands | while read -r line; do
	[ -n "$line" ] && run sh -c "$line"
done
run iptables-save > mixed.iptables-save
run ip6tables-save > mixed.ip6tables-save
run nft -j list ruleset > mixed.json
nft --version > versions.txt
iptables --version >> versions.txt
uname -r >> versions.txt
