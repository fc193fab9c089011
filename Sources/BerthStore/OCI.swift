/// The OCI image spec's types (and Docker's v2 schema 2 equivalents, which share their shape),
/// as plain Codable values. Unknown fields are ignored on decode; optional ones are omitted on
/// encode, so a manifest written back has the form the spec gives.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    public static func isIndex(_ type: String?) -> Bool { type == ociIndex || type == dockerManifestList }
    public static func isManifest(_ type: String?) -> Bool { type == ociManifest || type == dockerManifest }
}

public struct Platform: Codable, Sendable, Hashable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
    }

    public init(architecture: String, os: String = "linux", variant: String? = nil) {
        self.architecture = architecture
        self.os = os
        self.variant = variant
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// This machine's, in Go's names (as Docker and the OCI spec use them).
    public static var current: Platform {
        #if arch(x86_64)
            Platform(architecture: "amd64")
        #elseif arch(arm64)
            Platform(architecture: "arm64", variant: "v8")
        #else
            Platform(architecture: "unknown")
        #endif
    }

    /// "linux/amd64", "linux/arm64/v8", "amd64".
    public init?(parsing text: String) {
        let parts = text.split(separator: "/").map(String.init)
        switch parts.count {
        case 1: self.init(architecture: parts[0])
        case 2: self.init(architecture: parts[1], os: parts[0])
        case 3: self.init(architecture: parts[1], os: parts[0], variant: parts[2])
        default: return nil
        }
    }
}

public struct Descriptor: Codable, Sendable, Hashable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?

    public init(mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
    }
}

public struct Manifest: Codable, Sendable, Hashable {
    public var schemaVersion: Int = 2
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociManifest, config: Descriptor, layers: [Descriptor]) {
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
    }
}

/// An OCI image index, or a Docker manifest list.
public struct Index: Codable, Sendable, Hashable {
    public var schemaVersion: Int = 2
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociIndex, manifests: [Descriptor]) {
        self.mediaType = mediaType
        self.manifests = manifests
    }

    /// The entry for `platform`, as Docker chooses: same os and architecture, and the variant
    /// when both name one.
    public func manifest(for platform: Platform) -> Descriptor? {
        manifests.first {
            guard let p = $0.platform, p.os == platform.os, p.architecture == platform.architecture else {
                return false
            }
            return p.variant == nil || platform.variant == nil || p.variant == platform.variant
        }
    }
}

/// An image's configuration (config.json): what a container of it runs by default.
public struct ImageConfig: Codable, Sendable, Hashable {
    public struct Config: Codable, Sendable, Hashable {
        public var user: String?
        public var exposedPorts: [String: Empty]?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var volumes: [String: Empty]?
        public var workingDir: String?
        public var labels: [String: String]?
        public var stopSignal: String?
        /// Docker's fields beyond the OCI spec's, which Docker, Podman and buildah read too.
        public var healthcheck: HealthConfig?
        public var shell: [String]?
        public var onBuild: [String]?

        enum CodingKeys: String, CodingKey {
            case user = "User"
            case exposedPorts = "ExposedPorts"
            case env = "Env"
            case entrypoint = "Entrypoint"
            case cmd = "Cmd"
            case volumes = "Volumes"
            case workingDir = "WorkingDir"
            case labels = "Labels"
            case stopSignal = "StopSignal"
            case healthcheck = "Healthcheck"
            case shell = "Shell"
            case onBuild = "OnBuild"
        }

        public init() {}
    }

    /// Docker's HEALTHCHECK as an image keeps it: durations in nanoseconds, 0 meaning the default.
    public struct HealthConfig: Codable, Sendable, Hashable {
        /// ["NONE"], ["CMD", arg...] or ["CMD-SHELL", command].
        public var test: [String]?
        public var interval: Int64?
        public var timeout: Int64?
        public var startPeriod: Int64?
        public var startInterval: Int64?
        public var retries: Int?

        enum CodingKeys: String, CodingKey {
            case test = "Test"
            case interval = "Interval"
            case timeout = "Timeout"
            case startPeriod = "StartPeriod"
            case startInterval = "StartInterval"
            case retries = "Retries"
        }

        public init(test: [String]?) { self.test = test }
    }

    /// `{}` in the JSON (a set written as an object's keys).
    public struct Empty: Codable, Sendable, Hashable {
        public init() {}
    }

    public struct RootFS: Codable, Sendable, Hashable {
        public var type: String = "layers"
        public var diffIDs: [Digest]

        enum CodingKeys: String, CodingKey {
            case type
            case diffIDs = "diff_ids"
        }

        public init(diffIDs: [Digest]) { self.diffIDs = diffIDs }
    }

    public struct History: Codable, Sendable, Hashable {
        public var created: String?
        public var createdBy: String?
        public var comment: String?
        public var emptyLayer: Bool?

        enum CodingKeys: String, CodingKey {
            case created, comment
            case createdBy = "created_by"
            case emptyLayer = "empty_layer"
        }

        public init(createdBy: String?, emptyLayer: Bool? = nil) {
            self.createdBy = createdBy
            self.emptyLayer = emptyLayer
        }
    }

    public var created: String?
    public var author: String?
    public var architecture: String
    public var os: String
    public var variant: String?
    public var config: Config?
    public var rootfs: RootFS
    public var history: [History]?

    public init(architecture: String, os: String = "linux", config: Config?, rootfs: RootFS) {
        self.architecture = architecture
        self.os = os
        self.config = config
        self.rootfs = rootfs
    }
}

/// containerd's chain IDs: a layer's identity together with everything under it, so an unpacked
/// layer is shared exactly by the images whose stacks agree up to it.
public enum ChainID {
    /// chain(0) = diffID(0); chain(n) = sha256(chain(n-1) + " " + diffID(n)), over the digests' text.
    public static func chain(_ diffIDs: [Digest]) -> [Digest] {
        var out: [Digest] = []
        for diffID in diffIDs {
            if let parent = out.last {
                out.append(Digest(of: Array("\(parent) \(diffID)".utf8)))
            } else {
                out.append(diffID)
            }
        }
        return out
    }
}
