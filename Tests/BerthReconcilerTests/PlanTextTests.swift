import Testing

@testable import BerthReconciler
@testable import BerthSpec

/// `berth diff`'s text: one line per change, a summary, nothing for unchanged containers.
@Suite struct PlanTextTests {
    @Test func everyKindOfActionHasItsLineAndTheSummaryCountsThem() throws {
        var moved = spec("api")
        moved.ports = [try PortMapping.parse("8081:80").get()]
        let actions: [Action] = [
            .create(spec("web")),
            .updateInPlace(
                name: "api", ports: PortChange(from: [try PortMapping.parse("8080:80").get()], to: moved.ports),
                volumes: nil, resources: nil),
            .recreate(spec("db"), reasons: ["image changed", "command changed"]),
            .remove(name: "old", id: hexID("c")),
            .conflict(name: "cache", detail: "the name is taken by container x"),
            .keep(name: "broken", reason: "the spec is invalid"),
            .noAction(name: "same"),
        ]
        let text = PlanText.render(actions)
        #expect(
            text == """
                + web (docker.io/library/busybox:1.36)
                ~ api: ports 8080:80/tcp -> 8081:80/tcp (no restart)
                -/+ db: image changed, command changed
                - old (cccccccccccc): its spec is gone
                ! cache: the name is taken by container x
                = broken: the spec is invalid
                Plan: 1 to create, 1 to update, 1 to recreate, 1 to remove, 1 to conflict, 1 to keep, 1 unchanged.

                """)
    }

    /// Every line printed is counted in the summary, a stop too.
    @Test func aStopIsCounted() {
        #expect(
            PlanText.render([.stop(name: "a"), .noAction(name: "b")]) == "- a: stop\nPlan: 1 to stop, 1 unchanged.\n")
    }

    @Test func nothingToDoSaysSo() {
        #expect(
            PlanText.render([.noAction(name: "a"), .noAction(name: "b")])
                == "No changes: 2 containers as their specs say.\n")
        #expect(PlanText.render([]) == "No changes: 0 containers as their specs say.\n")
    }
}
