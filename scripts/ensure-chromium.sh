#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright; nothing downloads a browser.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
echo "installing Debian's chromium for the browser tests..."
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium did not install" >&2; exit 1; }
