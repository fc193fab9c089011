#!/bin/bash
# berthd, the reconciler, against podman driving the same containers, in one sandbox:
#  - drop to serving: a spec renamed into the spec directory until its busybox httpd answers on
#    its published port (p50, p95 of N runs); podman: `podman run -d -p` until it answers;
#  - cold apply of 100 specs (all renamed in at once) until all 100 run; podman: 100
#    `podman run -d -p` through xargs -P 8;
#  - a no-op reconcile of the 100 unchanged specs (`berth apply`: the CLI's round trip, and
#    berthd's own pass, which makes one ListUnitsByPatterns call), and how many actions it took;
#  - idle with 100 containers for IDLE seconds: berthd's RSS, CPU time and context switches
#    (its only wake-up should be the watchdog's ping, every 15 s with WatchdogSec=30s), beside
#    berth's 100 supervisors and podman's 100 conmons.
#   benchmarks/reconcile.sh [N] [IDLE]      (default 50 runs, 60 s)
source "$(dirname "$0")/common.sh"
in_sandbox "$@"
N=${1:-50}
IDLE=${2:-60}
make_rootfs
ln -sf busybox "$WORK/rootfs/bin/httpd"
mkdir -p "$WORK/rootfs/www" && echo hello > "$WORK/rootfs/www/index.html"
setup_podman
start_berthd

spec() { # NAME PORT
  printf '{"image": "localhost/bench-busybox:latest", "command": ["httpd", "-f", "-p", "80", "-h", "/www"], "ports": ["127.0.0.1:%s:80"], "stopTimeout": "1s"}\n' "$2" > "$STAGE/$1.json"
}
# Times from running "$@" (a rename, or podman run) until http://127.0.0.1:PORT/ answers: ms.
until_serving() {
  python3 - "$@" <<'PY'
import socket, subprocess, sys, time
port = int(sys.argv[1]); cmd = sys.argv[2:]
start = time.monotonic()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        if s.recv(64).startswith(b"HTTP/1"):
            break
    except OSError:
        pass
    if time.monotonic() - start > 30:
        sys.exit("port %d never answered" % port)
    time.sleep(0.0005)
print("%.1f" % ((time.monotonic() - start) * 1000))
PY
}
pct() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100+0.5); if(i<1)i=1; print a[i]}'; }
running_berth() { "$BERTH" status --format json | python3 -c 'import json,sys; print(sum(r["state"]=="running" for r in json.load(sys.stdin)))'; }
wait_berth_empty() { while [ "$("$BERTH" ps -aq | wc -l)" != 0 ]; do sleep 0.1; done; }

declare -A r
for i in $(seq "$N"); do
  spec "lat$i" $((21000 + i))
  r[bl]+="$(until_serving $((21000 + i)) mv "$STAGE/lat$i.json" "$SPECS/lat$i.json") "
  r[pl]+="$(until_serving $((31000 + i)) "${PODMAN[@]}" run -d --name "lat$i" -p "127.0.0.1:$((31000 + i)):80" localhost/bench-busybox httpd -f -p 80 -h /www) "
done
rm -f "$SPECS"/*.json
"${PODMAN[@]}" rm -f -t 0 -a >/dev/null
wait_berth_empty

# Cold apply of 100.
for i in $(seq 100); do spec "c$i" $((22000 + i)); done
s=$(date +%s%N)
mv "$STAGE"/*.json "$SPECS/"
while [ "$(running_berth)" != 100 ]; do sleep 0.05; done
e=$(date +%s%N); cold_berth=$(( (e - s) / 1000000 ))
s=$(date +%s%N)
seq 40001 40100 | xargs -P 8 -I{} sh -c '"$@" >/dev/null' _ "${PODMAN[@]}" run -d --name "c{}" -p "127.0.0.1:{}:80" localhost/bench-busybox httpd -f -p 80 -h /www
e=$(date +%s%N); cold_podman=$(( (e - s) / 1000000 ))

# No-op reconcile of the 100.
for i in $(seq 10); do
  s=$(date +%s%N); line=$("$BERTH" apply --timing); e=$(date +%s%N)
  r[nc]+="$(( (e - s) / 1000 )) "; r[np]+="$(awk '{print $(NF-1)}' <<<"$line") "; acted=$(awk '{print $3}' <<<"$line")
done

# Idle.
pid=$(systemctl show -P MainPID bench-berthd)
ctx() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n+=$2} END {print n+0}'; }
cpu() { awk '{print $14+$15}' /proc/"$1"/stat; }
rss() { awk '/VmRSS/ {print $2}' /proc/"$1"/status; }
# Proportional: a shared library's pages split among the processes that map them (RSS counts
# libc, and the libstdc++ the Swift driver links into the supervisor, in full each time).
pss() { awk '/^Pss:/ {print $2}' /proc/"$1"/smaps_rollup; }
sum_over() { local f=$1; shift; local t=0; for p in "$@"; do t=$((t + $($f "$p"))); done; echo $t; }
sups=$(pgrep -f berth-supervisor | tr '\n' ' ')
conmons=$(pgrep -x conmon | tr '\n' ' ')
c0=$(ctx "$pid"); u0=$(cpu "$pid"); sc0=$(sum_over ctx $sups); pc0=$(sum_over ctx $conmons)
sleep "$IDLE"
c1=$(ctx "$pid"); u1=$(cpu "$pid"); sc1=$(sum_over ctx $sups); pc1=$(sum_over ctx $conmons)
hz=$(getconf CLK_TCK)

ms_of() { awk -v v="$1" 'BEGIN{printf "%.1f", v/1000}'; }
echo "reconcile: berthd against podman (p50/p95 of $N runs; cold apply of 100; idle $IDLE s):"
printf '  %-52s %10s %10s\n' "" berth podman
printf '  %-52s %10s %10s\n' "drop to serving, p50 (ms)" "$(pct "${r[bl]}" 50)" "$(pct "${r[pl]}" 50)"
printf '  %-52s %10s %10s\n' "drop to serving, p95 (ms)" "$(pct "${r[bl]}" 95)" "$(pct "${r[pl]}" 95)"
printf '  %-52s %10s %10s\n' "cold apply of 100 until all run (ms; podman -P 8)" "$cold_berth" "$cold_podman"
printf '  %-52s %10s\n' "no-op reconcile of 100: berth apply round trip (ms)" "$(ms_of "$(pct "${r[nc]}" 50)")"
printf '  %-52s %10s\n' "  of which berthd's pass (ms)" "$(ms_of "$(pct "${r[np]}" 50)")"
printf '  %-52s %10s\n' "  actions taken" "$acted"
printf '  %-52s %10s %10s\n' "idle: daemon RSS (MiB)" "$(awk -v k="$(rss "$pid")" 'BEGIN{printf "%.1f", k/1024}')" "-"
printf '  %-52s %10s %10s\n' "idle: per-container processes' RSS, 100 (MiB)" \
  "$(awk -v k="$(sum_over rss $sups)" 'BEGIN{printf "%.1f", k/1024}')" "$(awk -v k="$(sum_over rss $conmons)" 'BEGIN{printf "%.1f", k/1024}')"
printf '  %-52s %10s %10s\n' "idle: per-container processes' PSS, 100 (MiB)" \
  "$(awk -v k="$(sum_over pss $sups)" 'BEGIN{printf "%.1f", k/1024}')" "$(awk -v k="$(sum_over pss $conmons)" 'BEGIN{printf "%.1f", k/1024}')"
printf '  %-52s %10s %10s\n' "idle: daemon CPU over the idle time (ms)" "$(( (u1 - u0) * 1000 / hz ))" "-"
printf '  %-52s %10s %10s\n' "idle: daemon context switches" "$((c1 - c0))" "-"
printf '  %-52s %10s %10s\n' "idle: per-container processes' context switches" "$((sc1 - sc0))" "$((pc1 - pc0))"
echo "  every run (ms): berth ${r[bl]}"
echo "                  podman ${r[pl]}"
rm -f "$SPECS"/*.json
wait_berth_empty
systemctl stop bench-berthd
"${PODMAN[@]}" rm -f -t 0 -a >/dev/null
