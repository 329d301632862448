#!/bin/sh
# The container's entrypoint: check that the run store can be written before anything starts, then run the command.
#
# /data holds the run store (RPM_ENGINE_CACHE) and the compiled kernels (TORCH_EXTENSIONS_DIR). It must be writable
# by the user the container runs as. A named volume is (the image prepares /data for uid 1000 and for group 0). A
# bind-mounted host folder Docker created is owned by root; an arbitrary uid (Kubernetes, OpenShift) may own nothing.
# - Started as root (docker run --user 0, or a compose file's user: "0"), the entrypoint gives /data to uid 1000 and
#   drops to that user (setpriv): a root-owned bind mount then just works. (The image's default user is 1000.)
# - Started as any other uid, it refuses in one line with the fix, rather than serving a store that cannot be
#   written (training would fail while the health check said ok).
set -eu

DATA="${RPM_DATA:-/data}"
RUNS="${RPM_ENGINE_CACHE:-$DATA/runs}"
KERNELS="${TORCH_EXTENSIONS_DIR:-$DATA/torch_extensions}"

if [ "$(id -u)" = "0" ] && [ "${RPM_RUN_AS_ROOT:-0}" != "1" ]; then
    mkdir -p "$RUNS" "$KERNELS"
    chown -R 1000:0 "$DATA" 2>/dev/null || true
    chmod -R g+rwX "$DATA" 2>/dev/null || true
    exec setpriv --reuid=1000 --regid=0 --clear-groups env HOME=/home/rpm "$0" "$@"
fi

# A uid with no home (an arbitrary uid): Python, Streamlit and Ray want a writable HOME.
if [ -z "${HOME:-}" ] || [ ! -w "${HOME:-/nonexistent}" ]; then
    export HOME=/tmp
fi

for dir in "$RUNS" "$KERNELS"; do
    if ! mkdir -p "$dir" 2>/dev/null || ! touch "$dir/.rpm-write-check" 2>/dev/null; then
        owner="$(stat -c '%u:%g' "$DATA" 2>/dev/null || echo '?')"
        echo "error: $dir is not writable by uid $(id -u) (gid $(id -g)); $DATA is owned by $owner. Trained runs could" \
            "not be stored. Fix: 'sudo chown -R 1000 HOSTDIR' for a bind mount, or run the container with --user 0" \
            "(it then fixes the owner and drops to uid 1000), or use a named volume (-v rpm-data:/data)." >&2
        exit 78
    fi
    rm -f "$dir/.rpm-write-check"
done

exec "$@"
