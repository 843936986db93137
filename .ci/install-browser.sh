#!/usr/bin/env bash
# Install Debian's Chromium and its driver for the browser tests (tests/browser/). Playwright's own browser
# download is not used: Playwright drives /usr/bin/chromium through executable_path.
# Fails loudly (non-zero exit, message on stderr) if Chromium cannot be installed: the browser tests must
# not silently skip.
set -euo pipefail

die() { echo "install-browser: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    die "need root or sudo to apt-get install chromium chromium-driver"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script expects Debian/Ubuntu"

export DEBIAN_FRONTEND=noninteractive
if ! { [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; }; then
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed"
    "${SUDO[@]}" apt-get install -y -q chromium chromium-driver \
        || die "apt-get install chromium chromium-driver failed"
fi

[ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing after install"
version=$(/usr/bin/chromium --headless --no-sandbox --disable-gpu --version 2>/dev/null) \
    || die "/usr/bin/chromium does not run"
echo "install-browser: ${version}; $(chromedriver --version 2>/dev/null | head -n1)"
