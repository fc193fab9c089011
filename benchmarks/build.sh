#!/bin/bash
# Builds, berth against podman build (buildah), in one sandbox: a 6-step Containerfile on a
# busybox base, cold (--no-cache) and fully cached, in alternating rounds; medians in ms.
#   benchmarks/build.sh [ROUNDS]      (default 10)
source "$(dirname "$0")/common.sh"
in_sandbox "$@"
N=${1:-10}
make_rootfs
for t in cat cp echo mkdir; do ln -sf busybox "$WORK/rootfs/bin/$t"; done
BERTH="$REPO/.build/release/berth"
export BERTH_ROOT=$WORK/berth
setup_podman

# The same base in berth's store: podman's image saved as an OCI archive, loaded by berth.
"${PODMAN[@]}" save --format oci-archive -o "$WORK/base.tar" localhost/bench-busybox:latest >/dev/null 2>&1
"$BERTH" load -i "$WORK/base.tar" >/dev/null
"$BERTH" tag localhost/bench-busybox:latest bench-busybox:latest >/dev/null 2>&1 || true

CTX=$WORK/context
mkdir -p "$CTX"
head -c 65536 /dev/urandom | base64 > "$CTX/data.txt"
cat > "$CTX/Containerfile" <<'CF'
FROM localhost/bench-busybox:latest
ENV GREETING=hello
COPY data.txt /data/
RUN echo "$GREETING" > /greeting && cat /data/data.txt >> /greeting
WORKDIR /app
RUN cp /greeting /app/out
CMD ["cat", "/app/out"]
CF

berth_cold() { "$BERTH" build -q --no-cache --network none -t bench-built "$CTX"; }
berth_cached() { "$BERTH" build -q --network none -t bench-built "$CTX"; }
podman_cold() { "${PODMAN[@]}" build -q --no-cache --pull=never --network=none -t bench-built "$CTX"; }
podman_cached() { "${PODMAN[@]}" build -q --pull=never --network=none -t bench-built "$CTX"; }

# One warm-up of each, so both caches hold the build and the binaries are in the page cache.
for f in berth_cold podman_cold; do $f >/dev/null 2>&1 || { echo "failed: $f" >&2; $f; exit 1; }; done
[ "$("$BERTH" run --rm --network none bench-built)" = "$(cat <(echo hello) "$CTX/data.txt")" ] ||
  { echo "berth's image does not give the expected output" >&2; exit 1; }

declare -A times
for _ in $(seq "$N"); do
  for f in berth_cold podman_cold berth_cached podman_cached; do
    s=$(date +%s%N); $f >/dev/null 2>&1 || { echo "failed: $f" >&2; exit 1; }; e=$(date +%s%N)
    times[$f]+="$(( (e - s) / 1000 )) "
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
bc=$(median "${times[berth_cold]}"); pc=$(median "${times[podman_cold]}")
bk=$(median "${times[berth_cached]}"); pk=$(median "${times[podman_cached]}")
echo "build of a 6-step Containerfile on busybox, median of $N alternating rounds (ms):"
printf '  %-28s %10s %10s\n' "" cold cached "berth build" "$bc" "$bk" "podman build --pull=never" "$pc" "$pk"
awk -v bc="$bc" -v pc="$pc" -v bk="$bk" -v pk="$pk" \
  'BEGIN {printf "  podman/berth: cold %.2fx (target 1.5x), cached %.1fx (target 5x)\n", pc/bc, pk/bk}'
