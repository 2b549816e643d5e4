import Foundation
import Testing

/// `serve` options that belong to the other mode, `serve --master-key-file`, and `agents add`
/// against a store that does not know the tenant.
@Suite(.serialized) struct AuditFollowUpCLITests {
    /// An option the chosen mode would ignore is refused, not silently dropped.
    @Test func serveRefusesOptionsOfTheOtherMode() async throws {
        let demoWithPassphrase = try await CLI.run(["serve", "--demo", "--passphrase-file", "/dev/null"])
        #expect(demoWithPassphrase.status != 0 && demoWithPassphrase.stderr.contains("--passphrase-file and --master-key-file are for --config"))
        let demoWithKeyFile = try await CLI.run(["serve", "--demo", "--master-key-file", "/dev/null"])
        #expect(demoWithKeyFile.status != 0 && demoWithKeyFile.stderr.contains("are for --config"))
        let configWithDataDir = try await CLI.run(["serve", "--config", "relay.yaml", "--data-dir", "elsewhere"])
        #expect(configWithDataDir.status != 0 && configWithDataDir.stderr.contains("--data-dir is for --demo"))
        let both = try await CLI.run(["serve", "--config", "relay.yaml", "--passphrase-file", "a", "--master-key-file", "b"])
        #expect(both.status != 0 && both.stderr.contains("not both"))
        #expect(try await CLI.run(["serve", "--help"]).stdout.contains("--master-key-file"))
    }

    /// Unattended: `serve --config` with the exported master key and no passphrase anywhere.
    @Test func serveStartsWithAnExportedMasterKey() async throws {
        let cli = try StoreCLI()
        for args in [["keys", "init", "--kdf", "interactive"], ["tenants", "add", "shop1"],
                     ["certs", "dev", "--host", "localhost", "--out", cli.root + "/tls"],
                     ["keys", "export-master", "--out", cli.root + "/master.export"]] {
            let r = try await cli.run(args)
            #expect(r.status == 0, "\(args.joined(separator: " ")) failed: \(r.stderr)")
        }
        let config = cli.root + "/relay.yaml"
        try """
        version: 1
        listen: { host: 127.0.0.1, port: 0 }
        data_dir: data
        keys_dir: keys
        tenants:
          - id: shop1
            hostnames: [localhost]
            certificate: tls/cert.pem
            private_key: tls/key.pem
            knowledge_base: demo

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let portFile = cli.root + "/port"
        let (listened, output) = try await offPool {
            try cli.serving(["serve", "--config", config, "--master-key-file", cli.root + "/master.export", "--port-file", portFile],
                            env: ["KAMIRELAY_PASSPHRASE": ""]) { p in cli.waitForPortFile(portFile, of: p) }
        }
        #expect(listened && output.status == 0, "serve --master-key-file: \(output.stderr)")
    }

    /// Beside a transcript store, a tenant the store does not know (a typo) is refused: the
    /// account could never log in. The check needs no passphrase.
    @Test func agentsAddRefusesATenantTheStoreDoesNotKnow() async throws {
        let cli = try StoreCLI()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "shop1"]).status == 0)
        let data = ["--data-dir", cli.root + "/data"]
        let password = Data("correct horse battery staple\n".utf8)
        let typo = try await CLI.run(["agents", "add", "--tenant", "shpo1", "--username", "ann", "--password-stdin"] + data,
                                     stdin: password, environment: ["PATH": "/usr/bin:/bin"])
        #expect(typo.status != 0 && typo.stderr.contains("tenant shpo1 is not in the store"), "\(typo.stderr)")
        let known = try await CLI.run(["agents", "add", "--tenant", "shop1", "--username", "ann", "--password-stdin"] + data,
                                      stdin: password, environment: ["PATH": "/usr/bin:/bin"])
        #expect(known.status == 0, "\(known.stderr)")
        #expect(!(try await CLI.run(["agents", "list"] + data).stdout.contains("shpo1")))
    }
}
