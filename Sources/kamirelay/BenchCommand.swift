import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures and how they were measured (use a release build).",
        subcommands: [BenchRedactCommand.self, BenchBotCommand.self, BenchStoreCommand.self, BenchTLSCommand.self, BenchRelayCommand.self,
                      BenchComplianceCommand.self]
    )
}
