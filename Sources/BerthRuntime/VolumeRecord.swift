import Foundation

/// Where a named volume lives under berth's root:
///
///     ROOT/volumes/NAME/
///         _data          what containers mount (ContainerLayout.volumePath)
///         volume.json    its record (VolumeRecord), written once by temp file and rename
///         lock           flock: held while the volume is created, filled or removed
///         .fill-XXXX     a copy of the image's content in progress; .fill-XXXX.ready once complete
public struct VolumeLayout: Sendable {
    public let root: String
    public let name: String

    public init(root: String, name: String) {
        self.root = root
        self.name = name
    }

    public static func volumes(root: String) -> String { root + "/volumes" }
    public var directory: String { Self.volumes(root: root) + "/" + name }
    public var data: String { ContainerLayout(root: root, id: "").volumePath(name) }
    public var recordFile: String { directory + "/" + Self.recordName }

    static let dataName = Array("_data".utf8)
    static let recordName = "volume.json"
    static let lockName = "lock"
    static let fillPrefix = ".fill-"
    static let readySuffix = ".ready"
}

/// What `docker volume inspect` shows of a volume and berth keeps in volume.json.
public struct VolumeRecord: Codable, Sendable, Equatable {
    public var name: String
    public var driver: String
    public var mountpoint: String
    /// RFC 3339, as Docker writes it.
    public var createdAt: String
    public var labels: [String: String]

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case driver = "Driver"
        case mountpoint = "Mountpoint"
        case createdAt = "CreatedAt"
        case labels = "Labels"
    }

    public init(layout: VolumeLayout, created: Date = Date(), labels: [String: String] = [:]) {
        name = layout.name
        driver = "local"
        mountpoint = layout.data
        createdAt = ISO8601DateFormatter().string(from: created)
        self.labels = labels
    }

    var bytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding strings and a string map cannot fail.
        return Array((try? encoder.encode(self)) ?? Data()) + [UInt8(ascii: "\n")]
    }
}
