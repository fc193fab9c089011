// swift-tools-version: 6.2
import PackageDescription

// CI sets BERTH_WERROR=1 so a warning in berth's own targets fails the build.
let strict: [SwiftSetting] =
    Context.environment["BERTH_WERROR"] == "1" ? [.treatAllWarnings(as: .error)] : []

let package = Package(
    name: "berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
        .executable(name: "berthd", targets: ["berthd"]),
        .executable(name: "berth-supervisor", targets: ["berth-supervisor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Thin system-library targets for the C libraries the design names.
        .systemLibrary(
            name: "CJSONC", pkgConfig: "json-c",
            providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(
            name: "CSeccomp", pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(
            name: "CArchive", pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(
            name: "CNftables", pkgConfig: "libnftables",
            providers: [.apt(["libnftables-dev"])]),
        .systemLibrary(
            name: "CConntrack", pkgConfig: "libnetfilter_conntrack",
            providers: [.apt(["libnetfilter-conntrack-dev"])]),

        // The container spec: model, strict JSON parsing, drop-in loading, validation. No side effects
        // beyond reading the spec files it is pointed at.
        .target(name: "BerthSpec", dependencies: ["CJSONC"], swiftSettings: strict),
        // systemd bindings: sd-bus (transient units), sd-journal (read and write), sd-daemon.
        .target(name: "BerthSystemd", dependencies: ["CSystemd"], swiftSettings: strict),

        // The image store: content-addressed blobs (sha256, verified on every write), OCI types,
        // named images, layers unpacked once (libarchive) into overlay-form snapshots keyed by
        // chain ID, garbage collection.
        .target(
            name: "BerthStore",
            dependencies: ["BerthSpec", "CArchive", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),

        // The OCI distribution client: manifests and indexes, blobs streamed into the store
        // (verified as they arrive, in parallel, resumed after a dropped connection), push, auth.
        .target(
            name: "BerthRegistry",
            dependencies: [
                "BerthStore", "BerthSpec", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),

        // The runtime: a spec becomes a supervisor configuration (Docker's defaults), the
        // supervisor is spawned and placed in the container's scope, state is read back.
        .target(
            name: "BerthRuntime",
            dependencies: ["BerthSpec", "BerthSystemd", "BerthStore", "BerthNetwork", "CSeccomp"],
            swiftSettings: strict),
        // The per-container supervisor and everything between clone and exec: single-threaded C,
        // because no Swift may run in a forked child and Swift's runtime would cost megabytes
        // of memory per container.
        .executableTarget(
            name: "berth-supervisor",
            cSettings: [.define("_GNU_SOURCE"), .unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
            // SwiftPM links every executable with the Swift driver, which adds the Swift
            // runtime and libstdc++; the supervisor uses neither, and loading them would cost
            // each container megabytes.
            linkerSettings: [.unsafeFlags(["-nostartfiles", "-static-stdlib", "-Xclang-linker", "-Wl,--as-needed"])]),

        // Builds: Containerfile/Dockerfile parsing, each step run through the runtime or written
        // as a layer directly, a layer cache keyed by the parent, the instruction and the files.
        .target(
            name: "BerthBuild",
            dependencies: ["BerthSpec", "BerthStore", "BerthRuntime", "BerthSystemd", "CArchive"],
            swiftSettings: strict),

        // Networking: links and addresses over rtnetlink, berth's nftables table through
        // libnftables (published ports, masquerade), conntrack entries deleted through
        // libnetfilter_conntrack. No ip or nft subprocesses.
        .target(
            name: "BerthNetwork", dependencies: ["BerthSpec", "CNftables", "CConntrack"], swiftSettings: strict),

        // The reconciler's planning core: specs compared with the containers found, one action
        // per name. Pure values, no side effects.
        .target(name: "BerthReconciler", dependencies: ["BerthSpec"], swiftSettings: strict),

        // berthd's machinery: observing containers, carrying out the plan with the runtime, the
        // poll(2) loop over spec and container events, signals and the control socket.
        .target(name: "CLinux", cSettings: [.define("_GNU_SOURCE")]),
        .target(
            name: "BerthDaemon",
            dependencies: [
                "CLinux", "BerthReconciler", "BerthBuild", "BerthRuntime", "BerthRegistry", "BerthStore", "BerthSpec",
                "BerthSystemd",
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "berth",
            dependencies: [
                "BerthSpec", "BerthRuntime", "BerthSystemd", "BerthStore", "BerthRegistry", "BerthBuild",
                "BerthReconciler", "BerthDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "berthd",
            dependencies: [
                "BerthDaemon", "BerthRegistry", "BerthSpec",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // Shared by the test targets: the integration-test gate (sandbox detection,
        // BERTH_REQUIRE_INTEGRATION).
        .target(name: "BerthTestSupport", path: "Tests/BerthTestSupport", swiftSettings: strict),
        .testTarget(
            name: "BerthSpecTests", dependencies: ["BerthSpec", "BerthTestSupport"],
            resources: [.copy("Corpus")], swiftSettings: strict),
        .testTarget(
            name: "BerthRuntimeTests",
            dependencies: [
                "BerthRuntime", "BerthSpec", "BerthSystemd", "BerthDaemon", "BerthReconciler", "BerthTestSupport",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "BerthBuildTests",
            dependencies: ["BerthBuild", "BerthStore", "BerthRuntime", "BerthSystemd", "BerthTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "BerthNetworkTests", dependencies: ["BerthNetwork", "BerthSpec", "BerthTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "BerthReconcilerTests", dependencies: ["BerthReconciler", "BerthSpec"], swiftSettings: strict),
        .testTarget(
            name: "BerthSystemdTests", dependencies: ["BerthSystemd", "BerthTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "BerthRegistryTests",
            dependencies: [
                "BerthRegistry", "BerthStore", "BerthSpec", "BerthTestSupport", "BerthSystemd",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
    ]
)
