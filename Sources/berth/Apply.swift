import ArgumentParser
import BerthDaemon
import BerthReconciler
import BerthRegistry
import BerthRuntime
import BerthSpec
import Dispatch
import Foundation

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the containers match the specs now (all of them, or the NAMEs given).",
        discussion: """
            Goes through berthd when it runs (it does the work, so the two never act on one \
            container at once); without berthd, berth does the same itself, once. Prints what \
            was done for each name; exits 1 when something failed.
            """)

    @ParentCommand var berth: Berth
    @Flag(help: "Recreate the containers even when their spec did not change.") var forceRecreate = false
    @Flag(help: "Never recreate: changes that need it are kept back and reported.") var noRecreate = false
    @Flag(help: "Print only the count of actions and berthd's time for the pass (for benchmarks).") var timing = false
    @Argument(help: "Only these specs (default: every spec).") var names: [String] = []

    func run() throws {
        let request = ControlRequest(
            command: .apply, names: names, forceRecreate: forceRecreate, noRecreate: noRecreate)
        let reply: ControlReply
        do {
            reply = try ControlSocket.send(request, socket: berth.global.controlSocket) ?? applyHere()
        } catch {
            die(125, "\(error)")
        }
        for line in reply.diagnostics { warn(line) }
        if let error = reply.error { die(125, error) }
        if timing {
            let acted = reply.outcomes.filter { $0.done != "unchanged" }.count
            let pass = reply.passMicroseconds.map(String.init) ?? "-"
            print("\(reply.outcomes.count) specs, \(acted) acted on, pass \(pass) us")
            return
        }
        for outcome in reply.outcomes.sorted(by: { $0.name < $1.name }) {
            for warning in outcome.warnings { warn("\(outcome.name): \(warning)") }
            if let error = outcome.error {
                print("\(outcome.name): \(outcome.done): \(error)")
            } else {
                print("\(outcome.name): \(outcome.done)")
            }
        }
        if reply.outcomes.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }

    /// No berthd: one plan, its actions run here in parallel (one per name), no restarts after.
    private func applyHere() -> ControlReply {
        let root = berth.global.root
        let set = SpecLoader.load(directories: berth.global.specPath)
        let only = names.isEmpty ? nil : Set(names)
        var options = PlanOptions(noRecreate: noRecreate)
        if forceRecreate { options.forceRecreate = only.map { .only($0) } ?? .all }
        let actions = Observation.plan(root: root, specs: set, options: options).filter {
            only?.contains($0.name) ?? true
        }
        let executor = localExecutor(root: root)
        let outcomes = Outcomes(count: actions.count)
        DispatchQueue.concurrentPerform(iterations: actions.count) { index in
            let action = actions[index]
            switch action {
            case .noAction: outcomes.set(index, Outcome(name: action.name, done: "unchanged"))
            case .keep(_, let reason): outcomes.set(index, Outcome(name: action.name, done: "kept: \(reason)"))
            case .conflict(_, let detail):
                outcomes.set(index, Outcome(name: action.name, done: "conflict", error: detail))
            default:
                let loaded = set.specs.first { $0.spec.name == action.name }
                outcomes.set(index, executor.perform(action, loaded: loaded))
            }
        }
        var reply = ControlReply(outcomes: outcomes.all, diagnostics: set.diagnostics.map(\.description))
        for name in names where !set.declaredNames.contains(name) {
            reply.outcomes.append(Outcome(name: name, done: "failed", error: "no spec declares \(name)"))
        }
        return reply
    }
}

/// The results of actions run at once, each in its own slot.
private final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Outcome?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ outcome: Outcome) {
        lock.lock()
        slots[index] = outcome
        lock.unlock()
    }
    var all: [Outcome] { slots.compactMap { $0 } }
}

/// berthd's executor, run by the CLI itself when no berthd answers.
func localExecutor(root: String) -> Executor {
    Executor(
        root: root, supervisor: supervisorPath(),
        insecureRegistries: insecureRegistries(ProcessInfo.processInfo.environment))
}
