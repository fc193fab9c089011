import BerthStore
import Foundation

/// Images made in memory for the tests: a config and layers that are real tar.gz files (a tar
/// written by hand, gzip with stored deflate blocks: valid for any gunzip, no zlib needed).
struct TestImage {
    struct Blob {
        var bytes: [UInt8]
        var descriptor: Descriptor
    }

    var config: Blob
    var layers: [Blob]
    var manifest: Blob

    var blobs: [Blob] { [config] + layers }

    /// Two layers: a small text file, and `dataSize` bytes of pseudo-random data (seeded by `seed`).
    static func make(
        seed: String, architecture: String = "amd64", variant: String? = nil, docker: Bool = false,
        dataSize: Int = 300_000, extraLayers: Int = 0
    ) -> TestImage {
        var tars = [
            Tar.archive([("hello.txt", Array("hello from \(seed)\n".utf8))]),
            Tar.archive([("data.bin", pseudoRandom(dataSize, seed: seed))]),
        ]
        for n in 0..<extraLayers {
            tars.append(Tar.archive([("extra\(n).bin", pseudoRandom(50_000 + n, seed: seed + "-\(n)"))]))
        }
        let layerType = docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip
        let layers = tars.map { tar -> Blob in
            let gz = Gzip.stored(tar)
            return Blob(
                bytes: gz, descriptor: Descriptor(mediaType: layerType, digest: Digest(of: gz), size: Int64(gz.count)))
        }
        var image = ImageConfig(
            architecture: architecture, config: ImageConfig.Config(),
            rootfs: .init(diffIDs: tars.map { Digest(of: $0) }))
        image.variant = variant
        image.config?.cmd = ["/bin/sh"]
        image.config?.env = ["PATH=/usr/bin:/bin", "SEED=\(seed)"]
        image.created = "2026-01-01T00:00:00Z"
        let configBytes = encode(image)
        let config = Blob(
            bytes: configBytes,
            descriptor: Descriptor(
                mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig, digest: Digest(of: configBytes),
                size: Int64(configBytes.count)))
        let manifestValue = Manifest(
            mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest, config: config.descriptor,
            layers: layers.map(\.descriptor))
        let manifestBytes = encode(manifestValue)
        var descriptor = Descriptor(
            mediaType: manifestValue.mediaType!, digest: Digest(of: manifestBytes), size: Int64(manifestBytes.count))
        descriptor.platform = Platform(architecture: architecture, os: "linux", variant: variant)
        return TestImage(config: config, layers: layers, manifest: Blob(bytes: manifestBytes, descriptor: descriptor))
    }

    /// An index (or Docker manifest list) of these images' manifests, with their platforms.
    static func index(_ images: [TestImage], docker: Bool = false) -> Blob {
        let value = Index(
            mediaType: docker ? MediaType.dockerManifestList : MediaType.ociIndex,
            manifests: images.map(\.manifest.descriptor))
        let bytes = encode(value)
        return Blob(
            bytes: bytes,
            descriptor: Descriptor(mediaType: value.mediaType!, digest: Digest(of: bytes), size: Int64(bytes.count)))
    }

    /// Writes the manifest, config and layers into `store`.
    func put(into store: ContentStore) throws {
        for blob in blobs + [manifest] where !store.contains(blob.descriptor.digest) {
            try store.write(blob.bytes, expected: blob.descriptor.digest)
        }
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(value))
    }

    /// Deterministic bytes (xorshift64*), fast enough for tens of megabytes in a debug build.
    static func pseudoRandom(_ count: Int, seed: String) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for byte in seed.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01B3 }
        if state == 0 { state = 1 }
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        for i in words.indices {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            words[i] = state &* 0x2545_F491_4F6C_DD1D
        }
        return words.withUnsafeBytes { Array($0.prefix(count)) }
    }
}

/// A ustar archive of regular files.
enum Tar {
    static func archive(_ files: [(name: String, bytes: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, bytes) in files {
            out += header(name: name, size: bytes.count)
            out += bytes
            out += [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        }
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }

    static func header(name: String, size: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (i, b) in text.utf8.enumerated() { h[offset + i] = b }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: width - 1 - digits.count) + digits
        }
        put(name, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(1_767_225_600, width: 12), at: 136)
        put("        ", at: 148)
        h[156] = UInt8(ascii: "0")
        put("ustar", at: 257)
        put("00", at: 263)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), at: 148)
        h[155] = UInt8(ascii: " ")
        return h
    }
}

/// gzip (RFC 1952) with stored deflate blocks (RFC 1951 §3.2.4).
enum Gzip {
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let final = offset + n == data.count
            out.append(final ? 1 : 0)
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<offset + n]
            offset += n
        } while offset < data.count
        out += le32(crc32(data))
        out += le32(UInt32(truncatingIfNeeded: data.count))
        return out
    }

    static func le32(_ v: UInt32) -> [UInt8] {
        [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
    }

    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in data { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}
