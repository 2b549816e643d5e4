import Foundation
import Testing

@Suite struct ServeCLITests {
    @Test func needsDemoOrConfig() async throws {
        let r = try await CLI.run(["serve"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("give either --demo or --config FILE"))
    }

    @Test func brokenConfigurationNamesFileLineAndField() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kamirelay-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("relay.yaml")
        try "version: 1\nlisten:\n  host: 127.0.0.1\n  prot: 8443\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try await CLI.run(["serve", "--config", file.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("relay.yaml:4: field 'listen.prot': unknown field"))
    }
}

/// `serve --config` with several listen addresses binds and prints each; `--port` replaces them.
@Suite(.serialized) struct ServeListenCLITests {
    @Test func servePrintsEveryListenAddressAndPortReplacesThem() async throws {
        let cli = try StoreCLI()
        for args in [["keys", "init", "--kdf", "interactive"], ["tenants", "add", "shop1"],
                     ["certs", "dev", "--host", "localhost", "--out", cli.root + "/tls"]] {
            let r = try await cli.run(args)
            #expect(r.status == 0, "\(args.joined(separator: " ")) failed: \(r.stderr)")
        }
        let config = cli.root + "/relay.yaml"
        try """
        version: 1
        listen: { addresses: [127.0.0.1:0, 127.0.0.1:0] }
        retention: { enabled: false }
        tenants:
          - id: shop1
            hostnames: [localhost]
            certificate: tls/cert.pem
            private_key: tls/key.pem
            knowledge_base: demo

        """.write(toFile: config, atomically: true, encoding: .utf8)
        /// Starts serve, waits for its port file, stops it with SIGTERM; its exit status and output.
        @Sendable func serve(_ extra: [String], portFile: String) throws -> (Int32, String, String) {
            let (started, output) = try cli.serving(["serve", "--config", config, "--port-file", portFile] + extra) { p in
                waitUntil(seconds: 180, every: 0.1) { FileManager.default.fileExists(atPath: portFile) || !p.isRunning }
            }
            return (started ? output.status : -1, output.stdout, output.stderr)
        }
        let (status, stdout, stderr) = try await offPool { try serve([], portFile: cli.root + "/port") }
        #expect(status == 0, "\(stderr)")
        let line = try #require(stdout.split(separator: "\n").first { $0.hasPrefix("KamiRelay is listening on ") })
        let urls = line.dropFirst("KamiRelay is listening on ".count).split(separator: ", ")
        #expect(urls.count == 2 && urls.allSatisfy { $0.hasPrefix("https://127.0.0.1:") && !$0.hasSuffix(":0") }, "\(line)")
        let firstPort = try String(contentsOfFile: cli.root + "/port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(urls.first == "https://127.0.0.1:\(firstPort)"[...], "the port file has the first address's port")
        // --host/--port replace the file's addresses with one.
        let (status2, stdout2, stderr2) = try await offPool { try serve(["--port", "0"], portFile: cli.root + "/port2") }
        #expect(status2 == 0, "\(stderr2)")
        let line2 = stdout2.split(separator: "\n").first { $0.hasPrefix("KamiRelay is listening on ") }
        #expect(line2.map { !$0.contains(", ") && $0.contains("https://127.0.0.1:") } == true, "\(String(describing: line2))")
    }
}
