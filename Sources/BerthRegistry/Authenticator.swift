import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Registry authentication as Docker does it. A request goes out with what is known to work for
/// its registry and scopes; a 401 names the scheme in `WWW-Authenticate`:
/// - `Bearer realm=…,service=…,scope=…`: a token is fetched from the realm (GET with `service`
///   and each scope as query parameters, with basic credentials when there are some, anonymous
///   otherwise), cached per registry and set of scopes until it expires, and the request retried;
///   once a registry has answered so, tokens for new scopes are fetched before the first request.
/// - `Basic`: the credentials are sent, and sent first from then on.
/// Concurrent requests that need the same token wait for one fetch of it.
actor Authenticator {
    let credentials: CredentialStore
    private let http: HTTPClient

    private struct Token {
        var value: String
        var expires: ContinuousClock.Instant
    }
    private var tokens: [String: Token] = [:]
    private var pending: [String: Task<Token, any Error>] = [:]
    /// The last challenge each registry answered with: `bearer` (with its realm and service) or `basic`.
    private var challenges: [String: Challenge] = [:]

    init(credentials: CredentialStore, http: HTTPClient) {
        self.credentials = credentials
        self.http = http
    }

    private static func key(_ registry: String, _ scopes: [String]) -> String {
        registry + " " + scopes.sorted().joined(separator: " ")
    }

    /// The Authorization header to send first, if any is known (fetching a token when the
    /// registry is known to want one).
    func authorization(registry: String, repository: String, scopes: [String]) async throws -> String? {
        guard let challenge = challenges[registry] else { return nil }
        switch challenge.scheme {
        case "bearer":
            let key = Self.key(registry, scopes)
            if let token = tokens[key], token.expires > .now { return "Bearer " + token.value }
            return "Bearer "
                + (try await token(for: challenge, registry: registry, repository: repository, scopes: scopes))
        case "basic":
            return credentials.credential(registry: registry, repository: repository)?.basicAuthorization
        default:
            return nil
        }
    }

    /// The Authorization header that answers a 401's challenges; throws when none can be answered.
    /// `rejected` is the header the 401 answered (a cached token is then dropped and fetched anew).
    func respond(
        to offered: [Challenge], rejected: String?, registry: String, repository: String, scopes: [String]
    ) async throws -> String {
        if let bearer = offered.first(where: { $0.scheme == "bearer" && $0.realm != nil }) {
            var remembered = bearer
            remembered.parameters["scope"] = nil  // that request's own scope
            challenges[registry] = remembered
            let key = Self.key(registry, scopes)
            if let rejected, let token = tokens[key], rejected == "Bearer " + token.value { tokens[key] = nil }
            let token = try await token(for: bearer, registry: registry, repository: repository, scopes: scopes)
            return "Bearer " + token
        }
        if let basic = offered.first(where: { $0.scheme == "basic" }) {
            challenges[registry] = basic
            guard let credential = credentials.credential(registry: registry, repository: repository) else {
                throw RegistryError(
                    registry: registry, repository: repository, status: 401,
                    message: "the registry asks for a user name and password, and none is configured for it"
                        + " (REGISTRY_AUTH_FILE, ~/.config/containers/auth.json, ~/.docker/config.json)")
            }
            return credential.basicAuthorization
        }
        let schemes = offered.map(\.scheme).joined(separator: ", ")
        throw RegistryError(
            registry: registry, repository: repository, status: 401,
            message: offered.isEmpty
                ? "authentication required, and the registry sent no WWW-Authenticate challenge"
                : "authentication required by an unsupported scheme: \(schemes)")
    }

    private func token(
        for challenge: Challenge, registry: String, repository: String, scopes: [String]
    ) async throws -> String {
        let key = Self.key(registry, scopes)
        if let token = tokens[key], token.expires > .now { return token.value }
        if let task = pending[key] { return try await task.value.value }
        let credential = credentials.credential(registry: registry, repository: repository)
        let http = self.http
        let task = Task<Token, any Error> {
            try await Self.fetchToken(
                http: http, challenge: challenge, scopes: scopes, credential: credential, registry: registry,
                repository: repository)
        }
        pending[key] = task
        defer { pending[key] = nil }
        let token = try await task.value
        tokens[key] = token
        return token.value
    }

    private struct TokenResponse: Decodable {
        var token: String?
        var accessToken: String?
        var expiresIn: Int?

        enum CodingKeys: String, CodingKey {
            case token
            case accessToken = "access_token"
            case expiresIn = "expires_in"
        }
    }

    /// GET REALM?service=…&scope=…: `{"token": …, "expires_in": …}` (or `access_token`).
    private static func fetchToken(
        http: HTTPClient, challenge: Challenge, scopes: [String], credential: Credential?, registry: String,
        repository: String
    ) async throws -> Token {
        let realm = challenge.realm ?? ""
        var query: [String] = []
        if let service = challenge.service { query.append("service=" + Endpoint.queryEscaped(service)) }
        // Ours and the challenge's scopes (a mount's challenge may add the source repository).
        var all = scopes
        for scope in challenge.scopes where !all.contains(scope) { all.append(scope) }
        for scope in all { query.append("scope=" + Endpoint.queryEscaped(scope)) }
        if let credential { query.append("account=" + Endpoint.queryEscaped(credential.username)) }
        let url = realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&")
        guard realm.hasPrefix("https://") || realm.hasPrefix("http://") else {
            throw RegistryError(
                registry: registry, repository: repository, object: "token",
                message: "the registry's token realm '\(realm)' is not an http(s) URL")
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: RegistryClient.userAgent)
        if let credential { request.headers.add(name: "Authorization", value: credential.basicAuthorization) }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(60))
        } catch {
            throw RegistryError(
                registry: registry, repository: repository, object: "token from \(realm)",
                message: "cannot reach the token service: \(error)")
        }
        let body = Array((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
        guard response.status == .ok else {
            let detail = RegistryErrorBody.first(in: body)
            let message =
                detail?.message
                ?? (response.status == .unauthorized
                    ? (credential == nil ? "anonymous access denied" : "the credentials were refused")
                    : "token refused")
            throw RegistryError(
                registry: registry, repository: repository, object: "token from \(realm)",
                status: Int(response.status.code), code: detail?.code, message: message)
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body)),
            let value = decoded.token ?? decoded.accessToken, !value.isEmpty
        else {
            throw RegistryError(
                registry: registry, repository: repository, object: "token from \(realm)",
                message: "the token service's answer has no token")
        }
        // Docker's rule: at least 60 s; renew 10 s early.
        let lifetime = max(decoded.expiresIn ?? 60, 60) - 10
        return Token(value: value, expires: .now + .seconds(lifetime))
    }
}
