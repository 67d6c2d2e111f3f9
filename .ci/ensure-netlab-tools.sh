#!/bin/sh
# The NAT-lab tests need iptables and conntrack inside network namespaces; install them when we can.
missing=""
command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
command -v conntrack >/dev/null 2>&1 || missing="$missing conntrack"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing for the NAT lab:$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
        || echo "note: could not install$missing: the NAT-lab tests will be skipped"
    exit 0
fi
echo "note:$missing missing and not root: the NAT-lab tests will be skipped"
