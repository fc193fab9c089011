/// An image reference as Docker and the OCI distribution spec write it:
/// `[REGISTRY[:PORT]/]PATH[:TAG][@ALGO:HEX]`, e.g. `docker.io/library/nginx:1.27` or `app@sha256:…`.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// Registry host (and port) when the reference names one.
    public var domain: String?
    public var path: String
    public var tag: String?
    public var digest: String?

    public var description: String {
        var s = domain.map { "\($0)/" } ?? ""
        s += path
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// The registry a reference without a domain names, as Docker spells it.
    public static let defaultRegistry = "docker.io"

    /// The registry host (and port), as Docker normalizes it: `docker.io` when the reference
    /// names none, and `index.docker.io` is `docker.io` too.
    public var registryHost: String {
        guard let domain, domain != "index.docker.io" else { return Self.defaultRegistry }
        return domain
    }

    /// The repository's full name on its registry: on `docker.io`, a one-component name is an
    /// official image under `library/` (`busybox` is `library/busybox`).
    public var repository: String {
        registryHost == Self.defaultRegistry && !path.contains("/") ? "library/" + path : path
    }

    /// The reference as Docker normalizes it: registry and full repository spelled out, and the
    /// tag `latest` when it names neither a tag nor a digest (`busybox` is
    /// `docker.io/library/busybox:latest`). A digest is kept, and so is a tag beside it.
    public var normalized: ImageReference {
        var copy = self
        copy.domain = registryHost
        copy.path = repository
        if tag == nil && digest == nil { copy.tag = "latest" }
        return copy
    }

    /// The name without tag or digest, normalized: `docker.io/library/busybox`.
    public var normalizedName: String { registryHost + "/" + repository }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws(ParseError) {
        func fail(_ why: String) -> ParseError { ParseError(description: why) }
        guard !text.isEmpty else { throw fail("an image reference cannot be empty") }
        guard text.utf8.count <= 512 else {
            throw fail("an image reference is at most 512 bytes")
        }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let digest = String(rest[rest.index(after: at)...])
            guard Self.isValidDigest(digest) else {
                throw fail("invalid digest '\(digest)': expected sha256: and 64 lowercase hex digits")
            }
            self.digest = digest
            rest = rest[..<at]
        }
        // A tag follows the last ':' unless that colon belongs to a registry port (a '/' after it).
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let tag = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(tag) else {
                throw fail(
                    "invalid tag '\(tag)': up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
                )
            }
            self.tag = tag
            rest = rest[..<colon]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if components.count > 1,
            let first = components.first,
            first.contains(".") || first.contains(":") || first == "localhost"
                || first.contains(where: \.isUppercase)
        {
            guard Self.isValidDomain(first) else { throw fail("invalid registry '\(first)'") }
            domain = first
            components.removeFirst()
        }
        guard !components.isEmpty, components.allSatisfy(Self.isValidPathComponent) else {
            throw fail(
                "invalid repository name '\(components.joined(separator: "/"))': lowercase letters, digits and separators (., _, __, -) between them"
            )
        }
        path = components.joined(separator: "/")
        guard path.utf8.count + (domain?.utf8.count ?? 0) <= 255 else {
            throw fail("the repository name is longer than 255 bytes")
        }
    }

    static func isValidDigest(_ s: String) -> Bool {
        let parts = s.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return false }
        let hex = parts[1].utf8
        let hexOK = hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        switch parts[0] {
        case "sha256": return hex.count == 64 && hexOK
        case "sha512": return hex.count == 128 && hexOK
        default: return false
        }
    }

    static func isValidTag(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard (1...128).contains(b.count), isWord(b[0]) else { return false }
        return b.allSatisfy { isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    static func isValidDomain(_ s: String) -> Bool {
        var host = Substring(s)
        if let colon = s.lastIndex(of: ":") {
            let port = s[s.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber),
                let number = Int(port), (1...65535).contains(number)
            else { return false }
            host = s[..<colon]
        }
        return !host.isEmpty
            && host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                let b = Array(label.utf8)
                return !b.isEmpty && isAlnum(b.first!) && isAlnum(b.last!)
                    && b.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
            }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    static func isValidPathComponent(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let first = b.first, let last = b.last, isLowerAlnum(first), isLowerAlnum(last)
        else { return false }
        var k = 0
        while k < b.count {
            if isLowerAlnum(b[k]) {
                k += 1
                continue
            }
            var sep = k
            while sep < b.count, !isLowerAlnum(b[sep]) { sep += 1 }
            let separator = String(decoding: b[k..<sep], as: UTF8.self)
            let ok =
                separator == "." || separator == "_" || separator == "__"
                || separator.allSatisfy { $0 == "-" }
            guard ok else { return false }
            k = sep
        }
        return true
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (0x61...0x7A).contains(b) || (0x30...0x39).contains(b)
    }
    private static func isAlnum(_ b: UInt8) -> Bool {
        isLowerAlnum(b) || (0x41...0x5A).contains(b)
    }
    private static func isWord(_ b: UInt8) -> Bool { isAlnum(b) || b == UInt8(ascii: "_") }
}
