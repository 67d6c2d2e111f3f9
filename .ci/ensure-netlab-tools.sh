#!/bin/sh
# The NAT-lab tests need iptables and conntrack inside network namespaces; install them when we can.
missing=""
command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
command -v conntrack >/dev/null 2>&1 || missing="$missing conntrack"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing for the NAT lab:$missing"
    # A failure exits non-zero: the Makefile decides whether that is a note (developer) or an error (CI).
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
        || { echo "could not install$missing"; exit 1; }
    exit 0
fi
echo "$missing missing and not root"
exit 1
