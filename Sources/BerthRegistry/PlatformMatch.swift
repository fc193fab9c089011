import BerthStore

/// How an index's entry is chosen for a platform, as Docker (containerd's `platforms.Only`)
/// does: os and architecture compared after normalizing their spellings (`x86_64` is `amd64`,
/// `aarch64` is `arm64`, whose `v8` is its default variant), the variant compared when both name
/// one; an exact match first, then what the platform can also run: `arm/v8` runs `v7`, `v6`,
/// `v5`, `arm/v7` runs `v6` and `v5`, `amd64` runs `386`. Among equals, the index's order.
/// Entries without a platform, or with `unknown/unknown` (build attestations), never match.
public enum PlatformMatch {
    public static func choose(from manifests: [Descriptor], for platform: Platform) -> Descriptor? {
        let wanted = normalize(platform)
        let candidates = acceptable(wanted)
        var best: (rank: Int, descriptor: Descriptor)?
        for descriptor in manifests {
            guard let p = descriptor.platform,
                MediaType.isManifest(descriptor.mediaType) || descriptor.mediaType.isEmpty
            else { continue }
            let have = normalize(p)
            if have.os == "unknown" || have.architecture == "unknown" { continue }
            guard
                let rank = candidates.firstIndex(where: {
                    $0.os == have.os && $0.architecture == have.architecture
                        && ($0.variant == nil || have.variant == nil || $0.variant == have.variant)
                })
            else { continue }
            // An exact variant match ranks above a match where one side names none.
            let exact = candidates[rank].variant == have.variant
            let score = rank * 2 + (exact ? 0 : 1)
            if best == nil || score < best!.rank { best = (score, descriptor) }
        }
        return best?.descriptor
    }

    /// Go's spellings, as the OCI spec and Docker use them.
    public static func normalize(_ platform: Platform) -> Platform {
        var os = platform.os.lowercased()
        if os == "macos" { os = "darwin" }
        var arch = platform.architecture.lowercased()
        var variant = platform.variant?.lowercased()
        if variant == "" { variant = nil }
        switch arch {
        case "i386", "i486", "i586", "i686": arch = "386"
        case "x86_64", "x86-64", "amd64":
            arch = "amd64"
            if variant == "v1" { variant = nil }
        case "aarch64", "arm64":
            arch = "arm64"
            if variant == "8" || variant == "v8" || variant == "v8.0" { variant = nil }
        case "armhf":
            arch = "arm"
            variant = "v7"
        case "armel":
            arch = "arm"
            variant = "v6"
        case "arm":
            if let v = variant, !v.hasPrefix("v") { variant = "v" + v }
        default: break
        }
        var out = Platform(architecture: arch, os: os, variant: variant)
        out.osVersion = platform.osVersion
        return out
    }

    /// The platforms `wanted` runs, best first.
    static func acceptable(_ wanted: Platform) -> [Platform] {
        var out = [wanted]
        func also(_ arch: String, _ variant: String?) {
            out.append(Platform(architecture: arch, os: wanted.os, variant: variant))
        }
        switch (wanted.architecture, wanted.variant) {
        case ("arm", "v8"):
            for v in ["v7", "v6", "v5"] { also("arm", v) }
        case ("arm", "v7"):
            for v in ["v6", "v5"] { also("arm", v) }
        case ("arm", "v6"):
            also("arm", "v5")
        case ("amd64", _):
            also("386", nil)
        default: break
        }
        return out
    }
}
