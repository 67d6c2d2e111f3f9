#!/bin/sh
# The browser tests (tests/browser) drive Debian's headless Chromium; install it when we can.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser tests"
    # A failure exits non-zero: the Makefile decides whether that is a note (developer) or an error (CI).
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
        >/dev/null 2>&1 || { echo "could not install chromium"; exit 1; }
    exit 0
fi
echo "chromium missing and not root"
exit 1
