# Shared by the benchmarks: run inside a fresh test sandbox, release builds, a busybox rootfs,
# and the peers (crun, podman), which are installed from Debian for benchmarking only.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=/tmp/berth-bench

# Re-executes the calling script inside a sandbox (real systemd and journald) unless it is
# already there.
in_sandbox() {
  if [ "${BERTH_SANDBOX:-}" != 1 ]; then
    "$REPO/scripts/install-deps"
    if ! command -v crun >/dev/null || ! command -v podman >/dev/null; then
      echo "installing the peers (crun, podman) from Debian, for this benchmark only" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq crun podman conmon >/dev/null
    fi
    # berth as installed (README): release, with Swift's runtime and Foundation linked in
    # statically and not position-independent, which saves the loader about 2 ms of work
    # (80,000 relocations fewer) on every command.
    (cd "$REPO" && swift build -c release --static-swift-stdlib -Xlinker -no-pie --product berth >/dev/null &&
      swift build -c release --static-swift-stdlib -Xlinker -no-pie --product berth-supervisor >/dev/null &&
      swift build -c release --static-swift-stdlib -Xlinker -no-pie --product berthd >/dev/null)
    exec "$REPO/scripts/sandbox" run --name "bench-$$" "$0" "$@"
  fi
}

make_rootfs() {
  rm -rf "$WORK"; mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc"
  cp /bin/busybox "$WORK/rootfs/bin/"
  for t in sh true sleep; do ln -s busybox "$WORK/rootfs/bin/$t"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$WORK/rootfs/etc/passwd"
  echo 'root:x:0:' > "$WORK/rootfs/etc/group"
}

# Podman with its storage on the sandbox's tmpfs (overlayfs cannot stack on the sandbox's
# overlay root), and the busybox rootfs imported as an image.
PODMAN=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --storage-driver overlay --cgroup-manager systemd --events-backend none)
setup_podman() {
  tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import - localhost/bench-busybox:latest >/dev/null 2>&1
}

# Median, in ms, of the wall time of running "$@" N times.
median_ms() {
  local n=$1; shift
  for _ in $(seq "$n"); do
    local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; e=$(date +%s%N)
    echo $(( (e - s) / 1000 ))
  done | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

# berthd as a unit of the sandbox's systemd (bench-berthd), its specs in $SPECS (written in
# $STAGE and renamed in), and berth's image of the busybox root, built FROM scratch.
start_berthd() {
  BERTH="$REPO/.build/release/berth"
  BERTHD="$REPO/.build/release/berthd"
  export BERTH_ROOT=$WORK/berth BERTH_RUN_DIR=$WORK/run
  SPECS=$WORK/specs STAGE=$WORK/stage
  mkdir -p "$SPECS" "$STAGE" "$BERTH_RUN_DIR"
  export BERTH_SPEC_PATH=$SPECS
  mkdir -p "$WORK/ctx" && cp -a "$WORK/rootfs" "$WORK/ctx/rootfs"
  printf 'FROM scratch\nCOPY rootfs/ /\n' > "$WORK/ctx/Containerfile"
  "$BERTH" build -q -t localhost/bench-busybox:latest "$WORK/ctx" >/dev/null
  systemd-run -q --unit bench-berthd -p Type=notify -p WatchdogSec=30s \
    -E BERTH_ROOT="$BERTH_ROOT" -E BERTH_RUN_DIR="$BERTH_RUN_DIR" -E BERTH_SPEC_PATH="$SPECS" "$BERTHD"
}
