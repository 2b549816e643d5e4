import Foundation
import Testing

@Suite struct ServeCLITests {
    @Test func needsDemoOrConfig() throws {
        let r = try CLI.run(["serve"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("give either --demo or --config FILE"))
    }

    /// An option the chosen mode would ignore is refused, not silently dropped.
    @Test func optionsOfTheOtherModeAreRefused() throws {
        let demoWithPassphrase = try CLI.run(["serve", "--demo", "--passphrase-file", "/dev/null"])
        #expect(demoWithPassphrase.status != 0 && demoWithPassphrase.stderr.contains("--passphrase-file and --master-key-file are for --config"))
        let demoWithKeyFile = try CLI.run(["serve", "--demo", "--master-key-file", "/dev/null"])
        #expect(demoWithKeyFile.status != 0 && demoWithKeyFile.stderr.contains("are for --config"))
        let configWithDataDir = try CLI.run(["serve", "--config", "relay.yaml", "--data-dir", "elsewhere"])
        #expect(configWithDataDir.status != 0 && configWithDataDir.stderr.contains("--data-dir is for --demo"))
        let both = try CLI.run(["serve", "--config", "relay.yaml", "--passphrase-file", "a", "--master-key-file", "b"])
        #expect(both.status != 0 && both.stderr.contains("not both"))
        let help = try CLI.run(["serve", "--help"])
        #expect(help.stdout.contains("--master-key-file"))
    }

    @Test func brokenConfigurationNamesFileLineAndField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kamirelay-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("relay.yaml")
        try "version: 1\nlisten:\n  host: 127.0.0.1\n  prot: 8443\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try CLI.run(["serve", "--config", file.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("relay.yaml:4: field 'listen.prot': unknown field"))
    }
}
