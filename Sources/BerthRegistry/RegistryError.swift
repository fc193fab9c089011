import BerthStore
import Foundation

/// Why a registry operation failed, with everything needed to tell which request it was: the
/// registry, the repository, the object (a tag, a manifest or blob digest), the HTTP status and
/// the registry's own error (`errors[0]` of its JSON body).
public struct RegistryError: Error, CustomStringConvertible, Sendable {
    /// The registry's host (and port), as the reference names it (`docker.io`, `127.0.0.1:5001`).
    public var registry: String
    public var repository: String?
    /// What the request was about: `manifest TAG`, `manifest sha256:…`, `blob sha256:…`, `token`.
    public var object: String?
    /// The HTTP status, when the registry answered.
    public var status: Int?
    /// The registry's error code (`MANIFEST_UNKNOWN`, `DENIED`, …), when it sent one.
    public var code: String?
    /// What went wrong: the registry's `errors[0].message`, or our own words.
    public var message: String

    public init(
        registry: String, repository: String? = nil, object: String? = nil, status: Int? = nil,
        code: String? = nil, message: String
    ) {
        self.registry = registry
        self.repository = repository
        self.object = object
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String {
        var place = registry
        if let repository { place += "/" + repository }
        var s = place
        if let object { s += ", " + object }
        s += ": "
        if let status { s += "HTTP \(status): " }
        s += message
        if let code { s += " (\(code))" }
        return s
    }

    /// Whether trying again may help: a server error, a rate limit, a timeout.
    var isTransient: Bool {
        guard let status else { return false }
        return status >= 500 || status == 429 || status == 408
    }
}

/// The registry's error body: `{"errors": [{"code": "...", "message": "...", "detail": ...}]}`.
struct RegistryErrorBody: Decodable {
    struct Entry: Decodable {
        var code: String?
        var message: String?
    }
    var errors: [Entry]?

    /// The first error's code and message, when `bytes` is such a body.
    static func first(in bytes: [UInt8]) -> (code: String?, message: String?)? {
        guard let body = try? JSONDecoder().decode(RegistryErrorBody.self, from: Data(bytes)),
            let entry = body.errors?.first
        else { return nil }
        return (entry.code, entry.message)
    }
}
