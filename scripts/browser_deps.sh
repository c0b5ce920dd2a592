#!/bin/sh
# scripts/browser_deps.sh: installs the browser tests' npm packages (tests/browser: playwright-core,
# which drives Debian's Chromium; it downloads no browser) with `npm ci`, only when missing.
# Needs node and npm (scripts/deps.sh installs Debian's nodejs; npm comes with it or from apt).
set -eu
cd "$(dirname "$0")/../tests/browser"
if [ -d node_modules/playwright-core ]; then
    echo "browser deps: present"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
fi
npm ci --no-audit --no-fund --loglevel=error
