#!/bin/sh
# Make sure the system libraries loaded through ctypes are present: libsodium (libnacl, required) and
# OpenSSL's libcrypto (the legacy Dispersy keys' binary curves; without it a slow pure-Python path is used).
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && \
        ! python3 -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("crypto") else 1)' 2>/dev/null; then
    echo "libcrypto not found: installing OpenSSL's library with apt-get"
    (apt-get update -qq && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl3t64 ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl3; }) >/dev/null 2>&1 ||
        echo "note: could not install libssl3; legacy keys will use the pure-Python path"
fi
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
