import BerthSpec
import BerthStore

/// Where a repository's API lives: `SCHEME://HOST/v2/REPOSITORY/…`, as the OCI distribution spec
/// lays it out. Docker Hub's API is at `registry-1.docker.io`; plain http is used only for a
/// registry on loopback (`localhost`, 127.0.0.0/8, `::1`) or one listed as insecure, https
/// otherwise.
public struct Endpoint: Sendable, Hashable {
    /// The registry as references name it (`docker.io`, `ghcr.io`, `127.0.0.1:5001`).
    public let registry: String
    /// The host (and port) that serves its API.
    public let apiHost: String
    public let repository: String
    /// `http` or `https`.
    public let scheme: String

    /// `insecure` lists registries (`host` or `host:port`) that may be spoken to over plain http.
    public init(_ reference: ImageReference, insecure: Set<String> = []) {
        self.init(registry: reference.registryHost, repository: reference.repository, insecure: insecure)
    }

    public init(registry: String, repository: String, insecure: Set<String> = []) {
        self.registry = registry
        self.repository = repository
        apiHost = registry == ImageReference.defaultRegistry ? "registry-1.docker.io" : registry
        scheme = Self.allowsPlainHTTP(registry, insecure: insecure) ? "http" : "https"
    }

    public var base: String { "\(scheme)://\(apiHost)/v2/\(repository)" }

    /// `…/manifests/TAG` or `…/manifests/sha256:…`.
    public func manifestURL(_ reference: String) -> String { base + "/manifests/" + reference }
    public func blobURL(_ digest: Digest) -> String { base + "/blobs/" + digest.description }
    public var uploadURL: String { base + "/blobs/uploads/" }

    /// The mount request: the blob is linked from `from` (a repository on the same registry).
    public func mountURL(_ digest: Digest, from: String) -> String {
        uploadURL + "?mount=" + digest.description + "&from=" + Self.queryEscaped(from)
    }

    /// The tag or digest a reference pulls by: its digest when it has one (a tag beside it is
    /// ignored, as Docker does), else its tag, else `latest`.
    public static func manifestReference(_ reference: ImageReference) -> String {
        reference.digest ?? reference.tag ?? "latest"
    }

    /// Whether `registry` (`host[:port]`) may be spoken to over http: on loopback, or insecure.
    public static func allowsPlainHTTP(_ registry: String, insecure: Set<String>) -> Bool {
        if insecure.contains(registry) { return true }
        let host = hostOnly(registry)
        if insecure.contains(host) { return true }
        return isLoopback(host)
    }

    /// `host:port` → `host`; `[::1]:5000` → `::1`.
    static func hostOnly(_ authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        if let colon = authority.lastIndex(of: ":"), authority.firstIndex(of: ":") == colon {
            return String(authority[..<colon])
        }
        return authority
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Percent-escapes everything but RFC 3986's unreserved characters and `/` (for a query value).
    static func queryEscaped(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF")
                out += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
            }
        }
        return out
    }
}
