import Foundation

/// Which containers use which named volumes, running or not: each container's record
/// (container.json) says so, and so does the claim a container being created writes into its
/// directory before its volumes are prepared (its record comes only after them). Without the
/// claim, `berth volume rm` could remove a volume between its preparation and the record.
enum VolumeUsers {
    /// ROOT/containers/ID/volumes.json
    struct Claim: Codable {
        var container: String
        var volumes: [String]
    }

    static let claimName = "volumes.json"

    /// Records that the container named `container`, whose name Runtime.run has claimed, is
    /// about to mount `volumes`. Nothing to do for a name that is not claimed.
    static func claim(root: String, container: String, volumes: [String]) throws(RuntimeError) {
        let link = ContainerLayout.nameLink(root: root, name: container)
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
            let id = target.split(separator: "/").last, id.count == 64
        else { return }
        let file = ContainerLayout(root: root, id: String(id)).directory + "/" + claimName
        let bytes: Data
        do {
            bytes = try JSONEncoder().encode(Claim(container: container, volumes: volumes))
        } catch {
            throw RuntimeError(125, "cannot record the volumes of \(container): \(error)")
        }
        try Files.write(file, Array(bytes))
    }

    /// Volume name → the names of the containers that use it, sorted.
    static func scan(root: String) -> [String: [String]] {
        var users: [String: Set<String>] = [:]
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root + "/containers")) ?? []
        for id in ids where id.count == 64 {
            let layout = ContainerLayout(root: root, id: id)
            if let info = ContainerStore.load(root: root, id: id) {
                for volume in info.record.volumes ?? [] { users[volume, default: []].insert(info.record.name) }
            }
            if let data = FileManager.default.contents(atPath: layout.directory + "/" + claimName),
                let claim = try? JSONDecoder().decode(Claim.self, from: data)
            {
                for volume in claim.volumes { users[volume, default: []].insert(claim.container) }
            }
        }
        return users.mapValues { $0.sorted() }
    }
}
