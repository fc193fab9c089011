#!/bin/bash
# Container start-up, berth against crun and podman, on the same busybox root filesystem inside
# a sandbox: the median wall time of N runs of `true`, each a whole create-start-exit-remove.
#   benchmarks/start.sh [N]      (default 30)
source "$(dirname "$0")/common.sh"
in_sandbox "$@"
N=${1:-30}
make_rootfs
BERTH="$REPO/.build/release/berth"
export BERTH_ROOT=$WORK/berth

# crun: an OCI bundle with what berth sets up: mount, pid, uts, ipc, cgroup and network
# namespaces, the rootfs read-only under an overlay-like writable layer is not crun's job, so
# the bundle's root is the directory itself, read-only (berth's overlay is extra work for berth).
mkdir -p "$WORK/bundle" && cd "$WORK/bundle"
crun spec >/dev/null 2>&1 || true
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
c = json.load(open(f"{w}/bundle/config.json"))
c["root"] = {"path": f"{w}/rootfs", "readonly": True}
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
ns = [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount", "cgroup"]]
c["linux"]["namespaces"] = ns
c["linux"].pop("resources", None)
json.dump(c, open(f"{w}/bundle/config.json", "w"))
PY
i=0
crun_once() { i=$((i + 1)); crun --systemd-cgroup run -b "$WORK/bundle" "bench-$$-$i"; }
setup_podman

berth_ms=$(median_ms "$N" "$BERTH" run --rm --network none --rootfs "$WORK/rootfs" true)
berth_open_ms=$(median_ms "$N" "$BERTH" run --rm --network none --security-opt seccomp=unconfined --rootfs "$WORK/rootfs" true)
crun_ms=$(median_ms "$N" crun_once)
podman_ms=$(median_ms "$N" "${PODMAN[@]}" run --rm --network=none --log-driver=journald localhost/bench-busybox true)
echo "start, median of $N runs of true (ms):"
printf '  %-32s %8s\n' "berth (Docker's seccomp filter)" "$berth_ms" "berth (seccomp unconfined)" "$berth_open_ms" \
  "crun --systemd-cgroup (no filter)" "$crun_ms" "podman (its default filter)" "$podman_ms"
awk -v b="$berth_ms" -v o="$berth_open_ms" -v c="$crun_ms" -v p="$podman_ms" \
  'BEGIN {printf "  berth/crun = %.2fx (unconfined %.2fx), podman/berth = %.1fx\n", b/c, o/c, p/b}'
echo "  (the crun bundle has no seccomp filter; berth compiles Docker's once per capability set and caches it)"
