import BerthSpec
import Foundation

/// A user name and password (or token) for a registry.
public struct Credential: Sendable, Hashable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `Basic base64(user:password)`.
    public var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }
}

/// Credentials from the files Podman, Skopeo and Docker keep them in, in their order:
/// `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
/// `~/.config/containers/auth.json`, then `$DOCKER_CONFIG/config.json` or
/// `~/.docker/config.json`. Each is a JSON object whose `auths` map has one entry per registry
/// (optionally per repository: `quay.io/org/repo`), with `auth` = base64(`user:password`). The
/// first file with an entry for the registry wins; in it, the longest key that matches. Keys may
/// carry a scheme and a path as Docker writes them: `https://index.docker.io/v1/` is Docker Hub.
/// Credential helpers (`credsStore`, `credHelpers`) would mean running a program, and identity
/// tokens (`identitytoken`) an OAuth2 exchange: neither is supported.
public struct CredentialStore: Sendable {
    /// The files looked at, in order; missing ones are skipped.
    public var files: [String]
    /// Extra credentials by registry host, looked at before the files (tests, a `--creds` flag).
    public var overrides: [String: Credential]

    public init(files: [String], overrides: [String: Credential] = [:]) {
        self.files = files
        self.overrides = overrides
    }

    /// The standard files, from this process's environment.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> CredentialStore
    {
        CredentialStore(files: standardFiles(environment: environment))
    }

    public static func standardFiles(environment: [String: String]) -> [String] {
        var files: [String] = []
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty { files.append(file) }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            files.append(runtime + "/containers/auth.json")
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
        if let home { files.append(home + "/.config/containers/auth.json") }
        if let dockerConfig = environment["DOCKER_CONFIG"], !dockerConfig.isEmpty {
            files.append(dockerConfig + "/config.json")
        } else if let home {
            files.append(home + "/.docker/config.json")
        }
        return files
    }

    /// The credential for `registry` (as references name it: `docker.io`, `host:port`) and,
    /// when given, `repository`; nil when no file has one.
    public func credential(registry: String, repository: String? = nil) -> Credential? {
        if let override = overrides[registry] { return override }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            if let found = Self.lookup(in: data, registry: registry, repository: repository) { return found }
        }
        return nil
    }

    /// The entry for `registry` in one file's contents (an `auths` map).
    static func lookup(in data: Data, registry: String, repository: String?) -> Credential? {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let auths = root["auths"] as? [String: Any]
        else { return nil }
        let wanted = normalizedRegistry(registry)
        let full = repository.map { wanted + "/" + $0 }
        var best: (length: Int, credential: Credential)?
        for (key, value) in auths {
            guard let entry = value as? [String: Any], let credential = decode(entry) else { continue }
            let normalized = normalizedKey(key)
            let matches =
                normalized == wanted
                || (full.map { $0 == normalized || $0.hasPrefix(normalized + "/") } ?? false)
                    && normalized.hasPrefix(wanted + "/")
            if matches, normalized.count > (best?.length ?? -1) {
                best = (normalized.count, credential)
            }
        }
        return best?.credential
    }

    private static func decode(_ entry: [String: Any]) -> Credential? {
        if let auth = entry["auth"] as? String, !auth.isEmpty {
            guard let data = Data(base64Encoded: auth, options: .ignoreUnknownCharacters),
                let text = String(data: data, encoding: .utf8),
                let colon = text.firstIndex(of: ":")
            else { return nil }
            return Credential(
                username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        if let user = entry["username"] as? String, let password = entry["password"] as? String {
            return Credential(username: user, password: password)
        }
        return nil
    }

    /// A key as Docker and Podman write it → `host[:port][/path]`: the scheme and a trailing
    /// `/v1/` or `/v2/` dropped, and Docker Hub's names (`index.docker.io`,
    /// `registry-1.docker.io`) made `docker.io`.
    static func normalizedKey(_ key: String) -> String {
        var rest = Substring(key)
        for scheme in ["https://", "http://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !components.isEmpty else { return "" }
        components[0] = normalizedRegistry(components[0])
        if components.count == 2, components[1] == "v1" || components[1] == "v2" { components.removeLast() }
        return components.joined(separator: "/")
    }

    static func normalizedRegistry(_ host: String) -> String {
        switch host {
        case "index.docker.io", "registry-1.docker.io", "docker.io": return ImageReference.defaultRegistry
        default: return host
        }
    }
}
