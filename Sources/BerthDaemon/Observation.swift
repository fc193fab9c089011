import BerthReconciler
import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

/// berth's containers as the planner sees them, read from their records, state files and (for
/// berthd's) the spec each was made from. Build steps are not containers to plan.
public enum Observation {
    public static func containers(root: String) -> [ContainerInfo] {
        ContainerStore.list(root: root).filter { $0.record.owner != "build" }
    }

    public static func observed(_ infos: [ContainerInfo], applied: (ContainerInfo) -> ContainerSpec? = applied)
        -> [ObservedContainer]
    {
        infos.map { info in
            ObservedContainer(
                name: info.record.name, id: info.record.id, owner: info.record.owner,
                applied: info.record.owner == ObservedContainer.berthdOwner ? applied(info) : nil,
                imageDigest: info.record.imageManifest, running: info.isRunning,
                stoppedByUser: (info.state?.stopSignal ?? 0) != 0,
                exitCode: info.state?.status == "exited" ? info.state?.exitCode : nil)
        }
    }

    /// The spec in the container's spec.json, decoded as its file was (same parser, same rules,
    /// relative paths against the file's path); nil when there is none or it no longer decodes.
    public static func applied(_ info: ContainerInfo) -> ContainerSpec? {
        guard let origin = info.record.specOrigin,
            let bytes = FileManager.default.contents(atPath: info.layout.appliedSpecFile)
        else { return nil }
        return try? SpecLoader.decode(Array(bytes), origin: origin, defaultName: info.record.name).get()
    }

    /// The plan for these specs against the containers in `root` as they are on disk: what
    /// `berth diff` prints and what `berth apply` and `auto-update` carry out without berthd.
    public static func plan(root: String, specs: SpecSet, options: PlanOptions = PlanOptions()) -> [Action] {
        Planner.plan(
            desired: specs.specs.map(\.spec), invalid: specs.invalidNames, observed: observed(containers(root: root)),
            imageDigests: imageDigests(root: root, specs: specs.specs.map(\.spec)), options: options)
    }

    /// What each spec's image names in the store now, as the manifest digest its container's
    /// record keeps: a new digest under the same tag (after a pull or build) means a recreate.
    public static func imageDigests(root: String, specs: [ContainerSpec]) -> [String: String] {
        let store = ImageStore(root: root)
        var digests: [String: String] = [:]
        for spec in specs {
            guard let image = spec.image?.description, digests[image] == nil,
                let entry = try? store.lookup(image)
            else { continue }
            digests[image] = entry.manifest.digest.description
        }
        return digests
    }
}
