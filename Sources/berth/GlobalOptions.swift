import ArgumentParser
import BerthSpec
import Foundation

/// Options every command takes, so tests and users can point berth anywhere.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .customLong("spec-dir"),
        help: ArgumentHelp(
            "A directory of container specs; repeat it, highest precedence first (default: BERTH_SPEC_PATH, else the system directories).",
            valueName: "dir"))
    var specDirectories: [String] = []

    @Option(
        name: .customLong("root"),
        help: ArgumentHelp("berth's state directory (default: BERTH_ROOT, else /var/lib/berth).", valueName: "dir"))
    var rootOption: String?

    @Option(
        name: .customLong("run-dir"),
        help: ArgumentHelp(
            "Where berthd's control socket is (default: BERTH_RUN_DIR, else /run/berth).", valueName: "dir"))
    var runDirectoryOption: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// berthd's socket.
    var controlSocket: String {
        let dir = runDirectoryOption ?? environment["BERTH_RUN_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/berth"
        return dir + "/berthd.sock"
    }

    /// The spec directories in force, highest precedence first.
    var specPath: [String] {
        SpecFiles.searchPath(cliDirectories: specDirectories, environment: environment)
    }

    /// berth's state directory.
    var root: String {
        if let rootOption { return rootOption }
        if let value = environment["BERTH_ROOT"], !value.isEmpty { return value }
        return "/var/lib/berth"
    }
}
