import Foundation
import Testing

@Suite struct ServeCLITests {
    @Test func needsDemoOrConfig() throws {
        let r = try CLI.run(["serve"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("give either --demo or --config FILE"))
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
