import BerthRuntime
import Dispatch
import Foundation

/// Ctrl-C (SIGINT) or SIGTERM during a build stops the RUN step that is running, through its
/// scope, and the build then ends with "interrupted", as Docker's does; without this the step
/// would run on by itself in its scope after berth had gone.
public enum BuildInterruption {
    static let active = ActiveStep()
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []

    /// Installs the handlers (once, in the CLI).
    public static func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard let layout = active.interrupt() else { exit(130) }
                Runtime.removeBuildStep(layout)
            }
            source.resume()
            sources.append(source)
        }
    }

    final class ActiveStep: @unchecked Sendable {
        private let lock = NSLock()
        private var layout: ContainerLayout?
        private var interrupted = false

        func set(_ layout: ContainerLayout?) { lock.withLock { self.layout = layout } }

        /// Marks the build interrupted; returns the step to stop, if one runs.
        func interrupt() -> ContainerLayout? {
            lock.withLock {
                interrupted = true
                return layout
            }
        }

        var wasInterrupted: Bool { lock.withLock { interrupted } }
    }
}
