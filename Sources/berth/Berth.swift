import ArgumentParser

@main
struct Berth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "A declarative container runner: JSON specs in, containers under systemd out.",
        discussion: """
            Specs are read from drop-in directories, highest precedence first: \
            \(defaultSpecPath). Set BERTH_SPEC_PATH (colon-separated) or pass --spec-dir to \
            look elsewhere. State lives under /var/lib/berth, or BERTH_ROOT / --root.
            """,
        subcommands: [
            Run.self, Create.self, Start.self, Restart.self, Attach.self, Exec.self, Ps.self, Logs.self,
            Inspect.self, Stop.self, Kill.self, Rm.self, Pull.self, Push.self, Images.self, Tag.self, Rmi.self,
            ImageCommand.self, Load.self,
            Save.self, Prune.self, Build.self, CommitCommand.self, BuilderCommand.self,
            Volume.self, Port.self, Validate.self, Diff.self, Apply.self, Status.self, AutoUpdate.self,
        ]
    )

    @OptionGroup var global: GlobalOptions

    static let defaultSpecPath = "/etc/berth/containers.d, /run/berth/containers.d, /usr/lib/berth/containers.d"
}
