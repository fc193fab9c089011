import Crypto

/// A content digest as the OCI specs write it: `sha256:` and 64 lowercase hex digits. Only
/// sha256 is accepted: it is what every registry and image uses, and the store is keyed by it.
public struct Digest: Sendable, Hashable, Codable, CustomStringConvertible, Comparable {
    /// The 64 lowercase hex digits.
    public let hex: String

    public var description: String { "sha256:" + hex }
    public var algorithm: String { "sha256" }

    public init?(_ text: String) {
        guard text.hasPrefix("sha256:") else { return nil }
        let hex = text.dropFirst(7)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        self.hex = String(hex)
    }

    /// The digest of `bytes`.
    public init(of bytes: some Sequence<UInt8>) {
        var hasher = Hasher256()
        hasher.update(Array(bytes))
        self = hasher.finalize()
    }

    init(hex: String) { self.hex = hex }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = Digest(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid digest \(text)"))
        }
        self = digest
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }
}

/// SHA-256 over a stream of chunks (swift-crypto).
public struct Hasher256 {
    private var inner = SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { inner.update(bufferPointer: bytes) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { inner.update(bufferPointer: $0) } }

    public func finalize() -> Digest {
        Digest(
            hex: inner.finalize().map { byte in
                let digits = Array("0123456789abcdef".utf8)
                return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
            }.joined())
    }
}
