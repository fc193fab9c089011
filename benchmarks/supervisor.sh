#!/bin/bash
# The per-container price: PSS (from /proc/PID/smaps_rollup) of berth's supervisors with 1 and
# with 100 containers running, against podman's conmon with 1 and with 10.
#   benchmarks/supervisor.sh
source "$(dirname "$0")/common.sh"
in_sandbox "$@"
make_rootfs
BERTH="$REPO/.build/release/berth"
export BERTH_ROOT=$WORK/berth

pss_kb() { # total PSS in kB of the processes named $1
  local total=0 n=0 p
  for p in $(pgrep -x "$1"); do
    total=$((total + $(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup))); n=$((n + 1))
  done
  echo "$n $total"
}
report() { # label, count, total
  awk -v l="$1" -v n="$2" -v t="$3" 'BEGIN {printf "  %-28s %4d processes  %8d kB  %7.0f kB each\n", l, n, t, t / n}'
}

"$BERTH" run -d --network none --rootfs "$WORK/rootfs" --name pss-1 sleep 600 >/dev/null
sleep 0.5; read -r n t < <(pss_kb berth-superviso); report "berth supervisor, 1" "$n" "$t"
for i in $(seq 2 100); do "$BERTH" run -d --network none --rootfs "$WORK/rootfs" --name "pss-$i" sleep 600 >/dev/null; done
sleep 1; read -r n t < <(pss_kb berth-superviso); report "berth supervisors, 100" "$n" "$t"

setup_podman
"${PODMAN[@]}" run -d --network=none --log-driver=journald localhost/bench-busybox sleep 600 >/dev/null
sleep 0.5; read -r n t < <(pss_kb conmon); report "podman conmon, 1" "$n" "$t"
for i in $(seq 2 10); do "${PODMAN[@]}" run -d --network=none --log-driver=journald localhost/bench-busybox sleep 600 >/dev/null; done
sleep 1; read -r n t < <(pss_kb conmon); report "podman conmon, 10" "$n" "$t"
