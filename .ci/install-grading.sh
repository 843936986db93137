#!/usr/bin/env bash
# Install bubblewrap for the grading sandbox (python -m cutmix_course grade; tests/grading/) and check that it can
# create the namespaces the grader uses. Fails loudly (non-zero exit, message on stderr): the grading tests must not
# run student code unconfined, and they do not skip.
set -euo pipefail

die() { echo "install-grading: $*" >&2; exit 1; }

if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "need root or sudo to apt-get install bubblewrap"
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install bubblewrap (bwrap) by other means"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get install -y -q bubblewrap \
        || { "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q bubblewrap; } \
        || die "apt-get install bubblewrap failed"
fi

# The same namespaces and options as cutmix_course.grade.bwrap_command, on a trivial command.
if ! out=$(bwrap --die-with-parent --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts \
                 --uid 65534 --gid 65534 --cap-drop ALL --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp \
                 /bin/sh -c 'id -u' 2>&1) || [ "$out" != "65534" ]; then
    die "bubblewrap cannot create its sandbox here: ${out}
(it needs user namespaces: check sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces, or, inside a
container, a seccomp/AppArmor profile that allows unshare)"
fi
echo "install-grading: $(bwrap --version) works (user, pid, net, ipc and uts namespaces)"
