/// Users and groups from the container's own /etc/passwd and /etc/group, never the host's NSS:
/// "postgres" means the image's postgres.
public struct ResolvedUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public var home: String
}

public struct UserResolutionError: Error, CustomStringConvertible {
    public var description: String
}

public enum UserDatabase {
    /// Resolves `user` ("name", "uid", "name:group", "uid:gid"; nil is root) plus `groupAdd`
    /// against the passwd and group files' contents (nil when the image has none).
    public static func resolve(
        user: String?, groupAdd: [String], passwd: String?, group: String?
    ) throws(UserResolutionError) -> ResolvedUser {
        let users = parse(passwd)
        let groups = parse(group)
        let parts = (user ?? "0").split(separator: ":", maxSplits: 1).map(String.init)
        let userPart = parts[0]
        var resolved: ResolvedUser
        var name: String?
        if let entry = users.first(where: { $0[0] == userPart })
            ?? UInt32(userPart).flatMap({ uid in
                users.first { $0.count > 2 && UInt32($0[2]) == uid }
            }), entry.count >= 6, let uid = UInt32(entry[2]), let gid = UInt32(entry[3])
        {
            resolved = ResolvedUser(uid: uid, gid: gid, groups: [], home: entry[5].isEmpty ? "/" : entry[5])
            name = entry[0]
        } else if let uid = UInt32(userPart) {
            // A numeric id need not exist in the image, as in Docker.
            resolved = ResolvedUser(uid: uid, gid: uid == 0 ? 0 : uid, groups: [], home: "/")
        } else {
            throw UserResolutionError(
                description: "unable to find user \(userPart): no matching entries in passwd file")
        }
        if parts.count == 2 {
            resolved.gid = try groupID(parts[1], groups)
        }
        if let name {
            // Supplementary groups: every group that lists the user, as login(1) would.
            resolved.groups = groups.filter { $0.count >= 4 && $0[3].split(separator: ",").contains(Substring(name)) }
                .compactMap { UInt32($0[2]) }
        }
        for extra in groupAdd { resolved.groups.append(try groupID(extra, groups)) }
        var seen = Set<UInt32>()
        resolved.groups = resolved.groups.filter { seen.insert($0).inserted }
        return resolved
    }

    private static func groupID(_ text: String, _ groups: [[String]]) throws(UserResolutionError) -> UInt32 {
        if let entry = groups.first(where: { $0[0] == text }), entry.count >= 3, let gid = UInt32(entry[2]) {
            return gid
        }
        if let gid = UInt32(text) { return gid }
        throw UserResolutionError(description: "unable to find group \(text): no matching entries in group file")
    }

    /// Colon-separated records; comments and blank lines skipped.
    private static func parse(_ text: String?) -> [[String]] {
        (text ?? "").split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
            .map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
    }
}
