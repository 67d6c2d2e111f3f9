#!/bin/sh
# Make sure the system libsodium that libnacl loads through ctypes is present.
if python3 -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("sodium") else 1)' 2>/dev/null; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "libsodium not found: installing it with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsodium23) >/dev/null || {
        echo "error: apt-get could not install libsodium23" >&2; exit 1; }
    exit 0
fi
echo "error: libsodium is missing; install it first (Debian/Ubuntu: sudo apt-get install libsodium23)" >&2
exit 1
