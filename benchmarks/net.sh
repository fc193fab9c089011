#!/bin/bash
# Networking, berth against podman in one sandbox: iperf3 throughput through a published port
# on 127.0.0.1 (and plain loopback as the limit), connections per second to busybox httpd
# through it (ab, one connection per request), and the time to re-apply a changed port map on a
# running container (berth port add, one transaction) against podman's recreate (rm -f -t 0,
# then run -d -p), with berth port ls beside it (process start and lookup, no change): the reconciler makes
# the same call in-process. Alternating rounds; medians. Both run the same root directories.
#   benchmarks/net.sh [ROUNDS]      (default 5)
source "$(dirname "$0")/common.sh"
if [ "${BERTH_SANDBOX:-}" != 1 ] && ! command -v iperf3 >/dev/null; then
  echo "installing iperf3 from Debian, for this benchmark only" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
fi
in_sandbox "$@"
N=${1:-5}
make_rootfs
for t in httpd; do ln -sf busybox "$WORK/rootfs/bin/$t"; done
mkdir -p "$WORK/rootfs/www" && echo hello > "$WORK/rootfs/www/index.html"
# iperf3 with the libraries it loads, in a root of its own.
IPERF=$WORK/iperf-root
mkdir -p "$IPERF/usr/bin" "$IPERF/etc" "$IPERF/tmp"
cp "$(command -v iperf3)" "$IPERF/usr/bin/"
for lib in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do mkdir -p "$IPERF$(dirname "$lib")"; cp -L "$lib" "$IPERF$lib"; done
cp "$WORK/rootfs/etc/passwd" "$WORK/rootfs/etc/group" "$IPERF/etc/"
BERTH="$REPO/.build/release/berth"
export BERTH_ROOT=$WORK/berth
setup_podman
"$BERTH" run -d --name bench-iperf -p 127.0.0.1:15201:5201 --rootfs "$IPERF" /usr/bin/iperf3 -s >/dev/null
"${PODMAN[@]}" run -d --name bench-iperf -p 127.0.0.1:25201:5201 --rootfs "$IPERF" /usr/bin/iperf3 -s >/dev/null
# bench-web is measured and never changed; bench-move is the one whose port moves (podman
# recreates it), so neither tool's measured server is fresher than the other's.
"$BERTH" run -d --name bench-web -p 127.0.0.1:18080:80 --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
"${PODMAN[@]}" run -d --name bench-web -p 127.0.0.1:28080:80 --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
"$BERTH" run -d --name bench-move -p 127.0.0.1:19080:80 --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
"${PODMAN[@]}" run -d --name bench-move -p 127.0.0.1:29080:80 --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
iperf3 -s -p 5202 -D
sleep 1

gbits() { iperf3 -c 127.0.0.1 -p "$1" -t 3 -J | python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
conns() { ab -q -n 3000 -c 4 "http://127.0.0.1:$1/" 2>/dev/null | awk '/^Requests per second/ {printf "%d", $4}'; }
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
# One re-apply: the map to port $2 added, then (not timed) the one to $1 removed.
move_berth() { ms "$BERTH" port add bench-move "127.0.0.1:$2:80" && "$BERTH" port rm bench-move "127.0.0.1:$1:80" >/dev/null; }
recreate_podman() {
  "${PODMAN[@]}" rm -f -t 0 bench-move >/dev/null &&
    "${PODMAN[@]}" run -d --name bench-move -p "127.0.0.1:$2:80" --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
check() { curl -sf -m 2 "http://127.0.0.1:$1/" >/dev/null || { echo "port $1 does not answer" >&2; exit 1; }; }

declare -A r
bp=19080; pp=29080
for i in $(seq "$N"); do
  r[bt]+="$(gbits 15201) "; r[pt]+="$(gbits 25201) "; r[lt]+="$(gbits 5202) "
  r[bc]+="$(conns 18080) "; r[pc]+="$(conns 28080) "
  r[bm]+="$(move_berth $bp $((bp + 1))) "; bp=$((bp + 1)); check $bp
  r[pm]+="$(ms recreate_podman $pp $((pp + 1))) "; pp=$((pp + 1)); check $pp
  r[bv]+="$(ms "$BERTH" port ls bench-move) "
done
echo "networking, median of $N alternating rounds:"
printf '  %-48s %10s %10s %10s\n' "" berth podman loopback
printf '  %-48s %10s %10s %10s\n' "iperf3 through a 127.0.0.1 port map (Gbit/s)" "$(median "${r[bt]}")" "$(median "${r[pt]}")" "$(median "${r[lt]}")"
printf '  %-48s %10s %10s\n' "busybox httpd through it, connections/s (ab -c 4)" "$(median "${r[bc]}")" "$(median "${r[pc]}")"
printf '  %-48s %10s %10s\n' "change a published port (ms; podman recreates)" \
  "$(awk -v v="$(median "${r[bm]}")" 'BEGIN{printf "%.1f", v/1000}')" "$(awk -v v="$(median "${r[pm]}")" 'BEGIN{printf "%.1f", v/1000}')"
printf '  %-48s %10s\n' "of which start and lookup (berth port ls)" \
  "$(awk -v v="$(median "${r[bv]}")" 'BEGIN{printf "%.1f", v/1000}')"
echo "  every round: berth ${r[bt]}/ ${r[bc]}/ ${r[bm]}(us); podman ${r[pt]}/ ${r[pc]}/ ${r[pm]}(us); loopback ${r[lt]}"
"$BERTH" rm -f bench-iperf bench-web bench-move >/dev/null
"${PODMAN[@]}" rm -f -t 0 bench-iperf bench-web bench-move >/dev/null
