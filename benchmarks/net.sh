#!/bin/bash
# Networking, berth against podman in one sandbox: iperf3 throughput through a published port
# on 127.0.0.1 (and plain loopback as the limit), connections per second to busybox httpd
# through it, and the time to move a published port on a running container (berth port
# rm/add) against podman's recreate (rm -f -t 0, then run -d -p). Alternating rounds; medians.
#   benchmarks/net.sh [ROUNDS]      (default 5)
# Not runnable yet: it needs -p and berth port, which come with the bridge network (issue 7).
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
BERTH="$REPO/.build/release/berth"
export BERTH_ROOT=$WORK/berth
setup_podman
# iperf3 and its libraries come from the sandbox's own root: both run it with / as the image.
"$BERTH" run -d --name bench-iperf -p 127.0.0.1:15201:5201 --rootfs / iperf3 -s >/dev/null
"${PODMAN[@]}" run -d --name bench-iperf -p 127.0.0.1:25201:5201 --rootfs / iperf3 -s >/dev/null
"$BERTH" run -d --name bench-web -p 127.0.0.1:18080:80 --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
"${PODMAN[@]}" run -d --name bench-web -p 127.0.0.1:28080:80 localhost/bench-busybox httpd -f -p 80 -h /www >/dev/null 2>&1 ||
  "${PODMAN[@]}" run -d --name bench-web -p 127.0.0.1:28080:80 --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
iperf3 -s -p 5202 -D --logfile "$WORK/iperf-plain.log"
sleep 1

gbits() { iperf3 -c 127.0.0.1 -p "$1" -t 3 -J | python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
# Connections per second: 500 sequential fetches by one client.
conns() {
  local s e; s=$(date +%s%N)
  for _ in $(seq 500); do busybox wget -q -O /dev/null "http://127.0.0.1:$1/" || return 1; done
  e=$(date +%s%N); echo $(( 500 * 1000000000 / (e - s) ))
}
move_berth() { "$BERTH" port rm bench-web "127.0.0.1:$1:80" && "$BERTH" port add bench-web "127.0.0.1:$2:80"; }
move_podman() {
  "${PODMAN[@]}" rm -f -t 0 bench-web >/dev/null &&
    "${PODMAN[@]}" run -d --name bench-web -p "127.0.0.1:$2:80" --rootfs "$WORK/rootfs" httpd -f -p 80 -h /www >/dev/null
}
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A r
bp=18080; pp=28080
for i in $(seq "$N"); do
  r[bt]+="$(gbits 15201) "; r[pt]+="$(gbits 25201) "; r[lt]+="$(gbits 5202) "
  r[bc]+="$(conns $bp) "; r[pc]+="$(conns $pp) "
  r[bm]+="$(ms move_berth $bp $((bp + 1))) "; bp=$((bp + 1))
  r[pm]+="$(ms move_podman $pp $((pp + 1))) "; pp=$((pp + 1))
done
echo "networking, median of $N alternating rounds:"
printf '  %-44s %10s %10s %10s\n' "" berth podman loopback
printf '  %-44s %10s %10s %10s\n' "iperf3 through 127.0.0.1 port map (Gbit/s)" "$(median "${r[bt]}")" "$(median "${r[pt]}")" "$(median "${r[lt]}")"
printf '  %-44s %10s %10s\n' "busybox httpd, sequential connections/s" "$(median "${r[bc]}")" "$(median "${r[pc]}")"
printf '  %-44s %10s %10s\n' "move a published port (ms; podman recreates)" \
  "$(awk -v v="$(median "${r[bm]}")" 'BEGIN{printf "%.1f", v/1000}')" "$(awk -v v="$(median "${r[pm]}")" 'BEGIN{printf "%.1f", v/1000}')"
"$BERTH" rm -f bench-iperf bench-web >/dev/null
"${PODMAN[@]}" rm -f -t 0 bench-iperf bench-web >/dev/null
