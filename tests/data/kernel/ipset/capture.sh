#!/bin/sh
# Captures this directory's `ipset save` (and the iptables-save of rules using the sets) in a
# throwaway network namespace (no addresses, no packets). Run once as root from this directory.
set -eu
NS="psipset-capture-$$"
ip netns add "$NS"
trap 'ip netns delete "$NS"' EXIT
grep -v '^#' sets.commands | while read -r line; do
	[ -n "$line" ] && ip netns exec "$NS" sh -c "$line"
done
ip netns exec "$NS" ipset save > sets.ipset-save
ip netns exec "$NS" iptables-save > sets.iptables-save
ip netns exec "$NS" ip6tables-save > sets.ip6tables-save
ipset --version > versions.txt
iptables --version >> versions.txt
uname -r >> versions.txt
