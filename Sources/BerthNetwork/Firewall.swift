import CNftables
import Synchronization

/// Applies nft scripts to `inet berth` through libnftables, in the caller's network namespace.
/// One library context per Firewall; a context is not safe for two threads at once, so every call
/// holds the lock. Scripts that name any other table are refused before they reach the kernel.
public final class Firewall: @unchecked Sendable {
    private let context: OpaquePointer
    private let lock = Mutex(())

    public init() throws(NetworkError) {
        guard let context = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else {
            throw NetworkError("nftables: cannot create a library context")
        }
        // Buffered, so output and errors come back to us instead of going to stdout and stderr.
        guard nft_ctx_buffer_output(context) == 0, nft_ctx_buffer_error(context) == 0 else {
            nft_ctx_free(context)
            throw NetworkError("nftables: cannot buffer the library's output")
        }
        self.context = context
    }

    deinit { nft_ctx_free(context) }

    /// Runs a script as one transaction (see FirewallRules).
    public func apply(_ script: String) throws(NetworkError) {
        try Self.checkOwnTableOnly(script)
        _ = try run(script)
    }

    /// `list table inet berth`, as nft prints it.
    public func listTable() throws(NetworkError) -> String {
        try run("list table \(FirewallRules.table)")
    }

    /// Deletes berth's table; a no-op when it is absent.
    public func deleteTable() throws(NetworkError) {
        _ = try run("add table \(FirewallRules.table)\ndelete table \(FirewallRules.table)\n")
    }

    /// Base chains of other tables on the forward hook whose policy is drop, as "family table
    /// chain". Read only: berth reports them and never changes them. A drop there is final for a
    /// packet whatever berth's own forward chain accepts. (iptables-legacy rules are not seen
    /// through nftables.)
    public func foreignForwardDrops() throws(NetworkError) -> [String] {
        Self.forwardDrops(inListing: try run("list chains"))
    }

    /// Parses `list chains` output: `table FAMILY NAME {`, `chain NAME {`, and the chain's
    /// `type filter hook forward priority …; policy drop;` line.
    static func forwardDrops(inListing text: String) -> [String] {
        var table = ""
        var chain = ""
        var found: [String] = []
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" })
            guard let first = words.first else { continue }
            if first == "table", words.count >= 3 {
                table = "\(words[1]) \(words[2])"
            } else if first == "chain", words.count >= 2 {
                chain = String(words[1])
            } else if first == "type", words.contains("hook"), words.contains("forward"),
                let policy = words.firstIndex(of: "policy"), policy + 1 < words.count, words[policy + 1] == "drop",
                table != "\(FirewallRules.table)"
            {
                found.append("\(table) \(chain)")
            }
        }
        return found
    }

    private func run(_ script: String) throws(NetworkError) -> String {
        try lock.withLock { _ throws(NetworkError) -> String in
            let status = nft_run_cmd_from_buffer(context, script)
            // Reading a buffer also empties it for the next command.
            let output = nft_ctx_get_output_buffer(context).map { String(cString: $0) } ?? ""
            let error = nft_ctx_get_error_buffer(context).map { String(cString: $0) } ?? ""
            guard status == 0 else {
                let text = error.split(separator: "\n").joined(separator: "; ")
                throw NetworkError("nftables: \(text.isEmpty ? "command failed" : text)")
            }
            return output
        }
    }

    private static let verbs: Set<Substring> = [
        "add", "create", "delete", "destroy", "flush", "insert", "replace", "reset", "list", "rename",
    ]

    /// A guard, not a parser: every command and every `table` block must name `inet berth`, and
    /// nothing may address the whole ruleset. It catches a wrong script before the kernel sees it.
    static func checkOwnTableOnly(_ script: String) throws(NetworkError) {
        for line in script.split(whereSeparator: { $0 == "\n" || $0 == ";" }) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = words.first else { continue }
            if words.contains("ruleset") {
                throw NetworkError("nftables: refused, berth never touches the whole ruleset: \(line)")
            }
            let named: ArraySlice<Substring>
            if first == "table" {
                named = words.dropFirst()
            } else if verbs.contains(first) {
                named = words.dropFirst(2)
            } else {
                continue  // a line inside a block: a rule or a chain's type
            }
            guard named.count >= 2, named[named.startIndex] == "inet", named[named.startIndex + 1] == "berth" else {
                throw NetworkError("nftables: refused, berth only touches table inet berth: \(line)")
            }
        }
    }
}
