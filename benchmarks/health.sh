#!/bin/bash
# Health checks: berthd probing 100 containers every INTERVAL seconds against Podman's
# health-check timers for the same 100 (one systemd timer and one `podman healthcheck run` per
# probe), in one sandbox, each for WINDOW seconds:
#  - the whole sandbox's CPU time over the window (its root cgroup's CPU accounting, so the
#    machine's other work does not count), less an idle baseline of the same length with the
#    same 100 containers and no checks, per probe;
#  - berth: berthd's own CPU time and wake-ups (context switches) per minute, and the
#    supervisors' share (the probe processes are their children);
#  - the number of probes that ran (berth: the health logs; podman: inspect's log).
# The health logs (berth's and podman's) keep the last five probes, so WINDOW/INTERVAL stays
# under five.
#   benchmarks/health.sh [WINDOW] [INTERVAL]      (default 40 s, 10 s)
source "$(dirname "$0")/common.sh"
in_sandbox "$@"
WINDOW=${1:-40}
INTERVAL=${2:-10}
make_rootfs
ln -sf busybox "$WORK/rootfs/bin/cat"
# Podman's health-check timers run `podman healthcheck run ID` without the options of the
# `podman run` that made them, so its storage (on the sandbox's tmpfs: overlayfs cannot stack
# on the sandbox's overlay root) is set in the sandbox's own /etc/containers/storage.conf.
mkdir -p /etc/containers
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' "$WORK/podman/root" "$WORK/podman/run" \
  > /etc/containers/storage.conf
PODMAN=(podman)
setup_podman
start_berthd

# The sandbox's CPU time in ns: the root of its cgroup namespace (v1 cpuacct, or v2 cpu.stat).
busy() {
  if [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then cat /sys/fs/cgroup/cpuacct/cpuacct.usage
  else awk '/^usage_usec/ {print $2 * 1000}' /sys/fs/cgroup/cpu.stat; fi
}
ms_ns() { awk -v t="$1" 'BEGIN{printf "%.0f", t/1e6}'; }
hz=$(getconf CLK_TCK)
ms() { awk -v t="$1" -v hz="$hz" 'BEGIN{printf "%.0f", t*1000/hz}'; }
proc_cpu() { awk '{print $14+$15+$16+$17}' /proc/"$1"/stat 2>/dev/null || echo 0; }  # self and reaped children
ctx() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n+=$2} END {print n+0}'; }
sum_over() { local f=$1; shift; local t=0; for p in "$@"; do t=$((t + $($f "$p"))); done; echo $t; }
running_berth() { "$BERTH" ps -q | wc -l; }

spec() { # NAME CHECK
  printf '{"image": "localhost/bench-busybox:latest", "command": ["sleep", "100000"], "stopTimeout": "1s"%s}\n' "$2" > "$STAGE/$1.json"
}

# Baseline: 100 containers, no checks.
for i in $(seq 100); do spec "h$i" ""; done
mv "$STAGE"/*.json "$SPECS/"
while [ "$(running_berth)" != 100 ]; do sleep 0.2; done
sleep 5
b0=$(busy); sleep "$WINDOW"; b1=$(busy)
base=$((b1 - b0))

# berth: the same 100 with a check every INTERVAL s (applied live, no recreate).
check=$(printf ', "healthcheck": {"test": ["CMD", "cat", "/etc/passwd"], "interval": "%ss"}' "$INTERVAL")
for i in $(seq 100); do spec "h$i" "$check"; done
mv "$STAGE"/*.json "$SPECS/"
sleep 2
while [ "$("$BERTH" ps --format json | grep -o '"Health"' | wc -l)" != 100 ]; do sleep 0.5; done
pid=$(systemctl show -P MainPID bench-berthd)
sups=$(pgrep -f berth-supervisor | tr '\n' ' ')
probes() { for d in "$BERTH_ROOT"/containers/*/health/state.json; do grep -o '"exitCode"' "$d" | wc -l; done | awk '{n+=$1} END {print n+0}'; }
sleep "$INTERVAL"
u0=$(proc_cpu "$pid"); c0=$(ctx "$pid"); s0=$(sum_over proc_cpu $sups); b0=$(busy)
start_ns=$(date +%s%N)
sleep "$WINDOW"
u1=$(proc_cpu "$pid"); c1=$(ctx "$pid"); s1=$(sum_over proc_cpu $sups); b1=$(busy)
berth_total=$((b1 - b0 - base))
# Probes in the window: the log entries that started in it.
berth_probes=$(python3 - "$BERTH_ROOT" "$start_ns" <<'PY'
import glob, json, sys, datetime
root, start = sys.argv[1], int(sys.argv[2]) / 1e9
n = 0
for f in glob.glob(root + "/containers/*/health/state.json"):
    for p in json.load(open(f))["log"]:
        t = datetime.datetime.strptime(p["start"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
        n += t.timestamp() >= int(start)
print(n)
PY
)
rm -f "$SPECS"/*.json
while [ "$("$BERTH" ps -aq | wc -l)" != 0 ]; do sleep 0.2; done
systemctl stop bench-berthd

# podman: the same 100 with --health-cmd, probed by its systemd timers.
seq 100 | xargs -P 8 -I{} sh -c '"$@" >/dev/null' _ "${PODMAN[@]}" run -d --name "p{}" \
  --health-cmd "cat /etc/passwd" --health-interval "${INTERVAL}s" localhost/bench-busybox sleep 100000
sleep "$INTERVAL"
b0=$(busy); start_ns=$(date +%s%N)
sleep "$WINDOW"
b1=$(busy)
podman_total=$((b1 - b0 - base))
podman_probes=$("${PODMAN[@]}" inspect --format '{{range .State.Health.Log}}{{.Start}}
{{end}}' $(seq -f 'p%g' 100) 2>/dev/null | python3 -c '
import re, sys, datetime
start = int(sys.argv[1]) // 10**9
n = 0
for line in sys.stdin:
    m = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)", line.strip())
    if not m: continue
    # The sandbox runs in UTC, as podman writes local time.
    t = datetime.datetime.strptime(m.group(1) + " " + m.group(2), "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    n += t.timestamp() >= start
print(n)' "$start_ns")
"${PODMAN[@]}" rm -f -t 0 -a >/dev/null

per() { awk -v t="$1" -v n="$2" 'BEGIN{ if (n > 0) printf "%.2f", t/1e6/n; else print "-" }'; }
echo "health: 100 containers probed every ${INTERVAL} s, over ${WINDOW} s (CPU less an idle baseline of $(ms_ns $base) ms):"
printf '  %-52s %10s %10s\n' "" berth podman
printf '  %-52s %10s %10s\n' "probes run" "$berth_probes" "$podman_probes"
printf '  %-52s %10s %10s\n' "whole-sandbox CPU for the probes (ms)" "$(ms_ns $berth_total)" "$(ms_ns $podman_total)"
printf '  %-52s %10s %10s\n' "CPU per probe (ms)" "$(per $berth_total "$berth_probes")" "$(per $podman_total "$podman_probes")"
printf '  %-52s %10s %10s\n' "berthd's own CPU (ms)" "$(ms $((u1 - u0)))" "-"
printf '  %-52s %10s %10s\n' "supervisors' CPU, probe processes included (ms)" "$(ms $((s1 - s0)))" "-"
printf '  %-52s %10s %10s\n' "berthd's wake-ups (context switches) per minute" "$(( (c1 - c0) * 60 / WINDOW ))" "-"
