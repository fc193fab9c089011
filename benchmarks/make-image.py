#!/usr/bin/env python3
"""Writes an OCI image layout of N gzip layers of SIZE bytes each, for benchmarks/pull.sh.

   make-image.py DIR N SIZE KIND [SEED]
KIND: random (incompressible) or text (compressible: repeated words and numbers, as text and
binaries in real images compress). Layers with the same SEED and index are identical, so two
images can share layers."""
import gzip, hashlib, io, json, os, random, sys, tarfile

out, count, size, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seed = sys.argv[5] if len(sys.argv) > 5 else "a"
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)

def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return digest

def content(index):
    rng = random.Random(f"{seed}-{index}")
    if kind == "random":
        return rng.randbytes(size)
    # 16 symbols at random: 4 bits of entropy a byte, about what binaries and text give gzip.
    table = bytes(b"etaoin shrdlu\n\x00\x01\x02"[i % 16] for i in range(256))
    return rng.randbytes(size).translate(table)

layers, diff_ids = [], []
for i in range(count):
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = content(i)
        info = tarfile.TarInfo(f"data/layer-{i}")
        info.size, info.mtime = len(data), 1700000000
        tar.addfile(info, io.BytesIO(data))
    plain = tar_bytes.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(plain).hexdigest())
    packed = gzip.compress(plain, compresslevel=1, mtime=0)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + blob(packed), "size": len(packed)})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + blob(config), "size": len(config)},
                       "layers": layers}).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                              "digest": "sha256:" + blob(manifest), "size": len(manifest)}]}
json.dump(index, open(f"{out}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{out}/oci-layout", "w"))
