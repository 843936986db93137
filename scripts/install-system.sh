#!/usr/bin/env bash
# Install the Debian packages the course's commands need, only those missing, then check that each works.
#   scripts/install-system.sh browser   Chromium + ChromeDriver for the browser tests (tests/browser/); Playwright
#                                       drives /usr/bin/chromium, its own browser download is not used
#   scripts/install-system.sh sandbox   bubblewrap for the grading sandbox (python -m cutmix_course grade)
#   scripts/install-system.sh postgres  PostgreSQL server binaries for the gradebook-on-PostgreSQL tests
# `make test` runs it with all three, `make grade` with sandbox: a fresh clone needs nothing else typed.
# Fails loudly (non-zero exit, message on stderr): the tests that need these must not silently skip.
set -euo pipefail

die() { echo "install-system: $*" >&2; exit 1; }

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(browser sandbox postgres)

missing=()
for w in "${want[@]}"; do
    case "$w" in
        browser)  { [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; } \
                      || missing+=(chromium chromium-driver) ;;
        sandbox)  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap) ;;
        postgres) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql) ;;
        *) die "unknown component '$w' (expected browser, sandbox or postgres)" ;;
    esac
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "need root or sudo to apt-get install ${missing[*]}"
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} by other means"
    export DEBIAN_FRONTEND=noninteractive
    echo "install-system: apt-get install ${missing[*]}"
    "${SUDO[@]}" apt-get update -q >/dev/null || die "apt-get update failed"
    "${SUDO[@]}" apt-get install -y -q "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi

for w in "${want[@]}"; do
    case "$w" in
    browser)
        [ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing after install"
        version=$(/usr/bin/chromium --headless --no-sandbox --disable-gpu --version 2>/dev/null) \
            || die "/usr/bin/chromium does not run"
        echo "install-system: ${version}; $(chromedriver --version 2>/dev/null | head -n1)" ;;
    sandbox)
        # The same namespaces and options as the grader's bubblewrap command, on a trivial command.
        if ! out=$(bwrap --die-with-parent --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts \
                         --uid 65534 --gid 65534 --cap-drop ALL --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp \
                         /bin/sh -c 'id -u' 2>&1) || [ "$out" != "65534" ]; then
            die "bubblewrap cannot create its sandbox here: ${out}
(it needs user namespaces: check sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces, or, inside a
container, a seccomp/AppArmor profile that allows unshare)"
        fi
        echo "install-system: $(bwrap --version) works (user, pid, net, ipc and uts namespaces)" ;;
    postgres)
        initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)
        [ -x "$initdb" ] || die "initdb missing after installing postgresql"
        echo "install-system: $("$initdb" --version)" ;;
    esac
done
