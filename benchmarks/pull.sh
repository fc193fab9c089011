#!/bin/bash
# Pulling, berth against skopeo and podman, from Debian's registry (docker-registry) on
# 127.0.0.1 inside a sandbox, every store on the same tmpfs: a 200 MB image of 5 gzip layers,
# incompressible and compressible; then an image sharing 4 of its 5 layers with one already
# present (the registry's log shows which blobs were fetched); then a no-op pull.
#   benchmarks/pull.sh [N]      (default 3 runs each; the median is printed)
source "$(dirname "$0")/common.sh"
in_sandbox "$@"
N=${1:-3}
BERTH="$REPO/.build/release/berth"
PORT=5055
make_rootfs # (and a fresh $WORK) for podman's store setup
mkdir -p "$WORK/registry"
cat >"$WORK/registry/config.yml" <<YML
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $WORK/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
YML
docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
REGISTRY=$!
trap 'kill $REGISTRY 2>/dev/null; umount -R "$WORK/skopeo/root/overlay" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done

make_image() { # NAME KIND SEED-OF-LAST-LAYER
  python3 "$REPO/benchmarks/make-image.py" "$WORK/layout-$1" 5 40000000 "$2" "$3" >/dev/null
  skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout-$1" "docker://127.0.0.1:$PORT/bench/$1:1"
}
echo "generating the images (5 x 40 MB layers each)..." >&2
make_image random random a
make_image text text a
# Four layers in common with "text": the same seed for them, another for the last.
python3 "$REPO/benchmarks/make-image.py" "$WORK/layout-shared" 5 40000000 text a >/dev/null
python3 "$REPO/benchmarks/make-image.py" "$WORK/layout-shared-last" 1 40000000 text b >/dev/null
python3 - "$WORK" <<'PY'
# The shared image: the "text" image's first 4 layers and a new fifth.
import json, shutil, sys, os, hashlib
w = sys.argv[1]
def load(layout):
    index = json.load(open(f"{layout}/index.json"))
    manifest = json.load(open(f"{layout}/blobs/sha256/" + index["manifests"][0]["digest"][7:]))
    config = json.load(open(f"{layout}/blobs/sha256/" + manifest["config"]["digest"][7:]))
    return manifest, config
m, c = load(f"{w}/layout-shared")
m2, c2 = load(f"{w}/layout-shared-last")
for blob in os.listdir(f"{w}/layout-shared-last/blobs/sha256"):
    shutil.copy(f"{w}/layout-shared-last/blobs/sha256/{blob}", f"{w}/layout-shared/blobs/sha256/{blob}")
m["layers"] = m["layers"][:4] + m2["layers"][:1]
c["rootfs"]["diff_ids"] = c["rootfs"]["diff_ids"][:4] + c2["rootfs"]["diff_ids"][:1]
def blob(data):
    d = hashlib.sha256(data).hexdigest(); open(f"{w}/layout-shared/blobs/sha256/{d}", "wb").write(data); return d
cb = json.dumps(c).encode(); m["config"]["digest"] = "sha256:" + blob(cb); m["config"]["size"] = len(cb)
mb = json.dumps(m).encode()
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": m["mediaType"], "digest": "sha256:" + blob(mb), "size": len(mb)}]}, open(f"{w}/layout-shared/index.json", "w"))
PY
skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout-shared" "docker://127.0.0.1:$PORT/bench/shared:1"

setup_podman
REF=127.0.0.1:$PORT/bench
berth_pull() { rm -rf "$WORK/berth-root"; BERTH_ROOT=$WORK/berth-root "$BERTH" pull -q "$REF/$1:1"; }
# skopeo into containers-storage (overlay, on the same tmpfs): it unpacks the layers, as berth
# and podman do.
STORAGE="containers-storage:[overlay@$WORK/skopeo/root+$WORK/skopeo/run]"
# containers-storage keeps its overlay directory bind-mounted on itself: unmount, then remove.
skopeo_clean() {
  umount -R "$WORK/skopeo/root/overlay" 2>/dev/null || true
  rm -rf "$WORK/skopeo"
}
skopeo_pull() {
  skopeo_clean
  skopeo copy -q --src-tls-verify=false "docker://$REF/$1:1" "${STORAGE}bench/$1:1"
}
podman_pull() {
  "${PODMAN[@]}" rmi -af >/dev/null 2>&1 || true
  "${PODMAN[@]}" pull -q --tls-verify=false "$REF/$1:1"
}
mbps() { awk -v ms="$1" 'BEGIN {printf "%.0f", 200 / (ms / 1000)}'; }
echo "pull of a 200 MB image (5 layers), median of $N (ms, and MB/s of uncompressed data):"
for kind in random text; do
  b=$(median_ms "$N" berth_pull "$kind"); s=$(median_ms "$N" skopeo_pull "$kind"); p=$(median_ms "$N" podman_pull "$kind")
  printf '  %-10s berth %7s (%4s MB/s)   skopeo copy %7s (%4s MB/s)   podman pull %7s (%4s MB/s)\n' \
    "$kind" "$b" "$(mbps "$b")" "$s" "$(mbps "$s")" "$p" "$(mbps "$p")"
done
# The shared-layer pull: "text" is present, "shared" adds one layer.
shared_berth() { BERTH_ROOT=$WORK/berth-root "$BERTH" pull -q "$REF/shared:1" && BERTH_ROOT=$WORK/berth-root "$BERTH" rmi "$REF/shared:1" >/dev/null && BERTH_ROOT=$WORK/berth-root "$BERTH" prune >/dev/null; }
rm -rf "$WORK/berth-root"; BERTH_ROOT=$WORK/berth-root "$BERTH" pull -q "$REF/text:1" >/dev/null
before=$(grep -c 'GET /v2/bench/shared/blobs' "$WORK/registry/log" || true)
b=$(median_ms "$N" shared_berth)
after=$(grep -c 'GET /v2/bench/shared/blobs' "$WORK/registry/log" || true)
noop=$(median_ms "$N" env BERTH_ROOT="$WORK/berth-root" "$BERTH" pull -q "$REF/text:1")
skopeo_shared() {
  skopeo copy -q --src-tls-verify=false "docker://$REF/shared:1" "${STORAGE}bench/shared:1"
  podman --root "$WORK/skopeo/root" --runroot "$WORK/skopeo/run" --storage-driver overlay --events-backend none \
    rmi -f bench/shared:1 >/dev/null 2>&1 || true
}
skopeo_clean; skopeo copy -q --src-tls-verify=false "docker://$REF/text:1" "${STORAGE}bench/text:1"
s=$(median_ms "$N" skopeo_shared)
echo "  shared-layer pull: berth $b ms (blob GETs per pull: $(( (after - before) / N ))), skopeo $s ms; no-op berth pull $noop ms"

# The machine's limits, on the same blobs, in the same run: copying them, the registry serving
# them to curl, hashing them, inflating them (the text image's, whose data does compress).
layers() { python3 -c '
import json, sys
layout = sys.argv[1]
index = json.load(open(layout + "/index.json"))
manifest = json.load(open(layout + "/blobs/sha256/" + index["manifests"][0]["digest"][7:]))
print(" ".join(layer["digest"][7:] for layer in manifest["layers"]))' "$WORK/layout-$1"; }
blob_files() { for h in $(layers "$1"); do echo "$WORK/layout-$1/blobs/sha256/$h"; done; }
rate() { awk -v ms="$2" -v mb="$1" 'BEGIN {printf "%.0f MB/s", mb / (ms / 1000)}'; }
compressed_mb() { du -cmb $(blob_files "$1") | tail -1 | awk '{printf "%.0f", $1 / 1000000}'; }
copy_all() { for f in $(blob_files "$1"); do cp "$f" "$WORK/copy"; done; rm -f "$WORK/copy"; }
curl_all() { for h in $(layers "$1"); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/v2/bench/$1/blobs/sha256:$h"; done; }
inflate_all() { python3 -c '
import sys, zlib
for path in sys.argv[1:]:
    d = zlib.decompressobj(31)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            d.decompress(chunk)' $(blob_files "$1"); }
for kind in random text; do
  mb=$(compressed_mb "$kind")
  c=$(median_ms "$N" copy_all "$kind"); g=$(median_ms "$N" curl_all "$kind")
  h=$(median_ms "$N" sha256sum $(blob_files "$kind")); z=$(median_ms "$N" inflate_all "$kind")
  echo "  limits, $kind layers ($mb MB compressed): cp $(rate "$mb" "$c"), registry to curl $(rate "$mb" "$g"), sha256 $(rate "$mb" "$h"), inflate to 200 MB $(rate 200 "$z") of output"
done
