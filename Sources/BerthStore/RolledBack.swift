import Foundation

/// Digests an update was rolled back from, by the full image name they came under
/// (ROOT/images/rolled-back.json). A pull policy of `newer` or `always` does not pull such a
/// digest again for a create (the rollback would undo itself), and `berth auto-update` does
/// not try it again; a new digest under the tag is tried as usual.
extension ImageStore {
    var rolledBackFile: String { directory + "/rolled-back.json" }

    public func rolledBack(_ name: String) -> Set<String> {
        guard let data = FileManager.default.contents(atPath: rolledBackFile),
            let all = try? JSONDecoder().decode([String: [String]].self, from: data)
        else { return [] }
        return Set(all[ImageName.full(name) ?? name] ?? [])
    }

    /// Remembers `digest` as rolled back from under `name` (the last 20 per name).
    public func markRolledBack(_ name: String, digest: String) {
        let key = ImageName.full(name) ?? name
        var all: [String: [String]] = [:]
        if let data = FileManager.default.contents(atPath: rolledBackFile),
            let decoded = try? JSONDecoder().decode([String: [String]].self, from: data)
        {
            all = decoded
        }
        var digests = (all[key] ?? []).filter { $0 != digest }
        digests.append(digest)
        all[key] = Array(digests.suffix(20))
        guard let data = try? JSONEncoder().encode(all) else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? data.write(to: URL(fileURLWithPath: rolledBackFile), options: .atomic)
    }
}
