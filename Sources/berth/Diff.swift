import ArgumentParser
import BerthDaemon
import BerthReconciler
import BerthRuntime
import BerthSpec

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what applying the spec directories would do, without doing it.",
        discussion: """
            Compares the valid specs with berth's containers, as `terraform plan` does: + create, \
            ~ update in place (ports, volumes, resources: no restart), -/+ recreate (with why), \
            - remove (its spec is gone), ! conflict (the name is taken by a container no spec \
            made), = keep (an invalid spec keeps its container's last good spec). Containers made \
            with berth run are never changed. Exits 0; invalid specs are reported by berth validate.
            """)

    @ParentCommand var berth: Berth

    @Flag(help: "Plan to recreate even containers whose spec did not change.") var forceRecreate = false
    @Flag(help: "Never plan a recreate: such changes are kept back and reported.") var noRecreate = false

    func run() throws {
        let root = berth.global.root
        let set = SpecLoader.load(directories: berth.global.specPath)
        let actions = Observation.plan(
            root: root, specs: set,
            options: PlanOptions(forceRecreate: forceRecreate ? .all : nil, noRecreate: noRecreate))
        print(PlanText.render(actions), terminator: "")
    }
}
