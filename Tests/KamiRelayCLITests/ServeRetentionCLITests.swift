import Foundation
import Testing

/// `serve --config` runs the retention scheduler and records policies, as an operator starts it.
@Suite(.serialized) struct ServeRetentionCLITests {
    @Test func serveChecksRecordsAndAppliesRetentionPolicies() async throws {
        let cli = try StoreCLI()
        _ = try await cli.ok(["keys", "init", "--kdf", "interactive"])
        _ = try await cli.ok(["tenants", "add", "shop1"])
        _ = try await cli.ok(["certs", "dev", "--host", "localhost", "--out", cli.root + "/tls"])
        let config = cli.root + "/relay.yaml"
        try """
        version: 1
        listen: { host: 127.0.0.1, port: 0 }
        data_dir: data
        keys_dir: keys
        retention: { interval_minutes: 60, batch_size: 100 }
        tenants:
          - id: shop1
            hostnames: [localhost]
            certificate: tls/cert.pem
            private_key: tls/key.pem
            knowledge_base: demo
            orders: demo

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let policies = cli.root + "/data/policies/retention"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)

        // A broken tenant policy stops the start with file, line and field.
        try "version: 1\ntranscripts: 30d\noutbox: later\n".write(toFile: policies + "/shop1.yaml", atomically: true, encoding: .utf8)
        let broken = try await cli.run(["serve", "--config", config])
        #expect(broken.status != 0 && broken.stderr.contains("shop1.yaml:3: field 'outbox'"), "\(broken.stderr)")

        // A valid one: serve records it (and the redaction policy), sweeps once at start, stops on SIGTERM.
        try "version: 1\ntranscripts: 30d\noutbox: 2d\n".write(toFile: policies + "/shop1.yaml", atomically: true, encoding: .utf8)
        let portFile = cli.root + "/port"
        let (swept, status) = try await offPool { () -> (Bool, Int32) in
            let (swept, output) = try cli.serving(["serve", "--config", config, "--port-file", portFile]) { _ in
                // Polled with a deadline that only bounds a hang (a loaded machine can take long to start).
                try waitUntil(seconds: 180, every: 0.1) {
                    try cli.runBlocking(["audit", "show", "--tenant", "shop1"]).stdout.contains("retention-scheduler\tretention.sweep")
                }
            }
            return (swept, output.status)
        }
        #expect(swept, "the scheduler's first round ran")
        #expect(status == 0)
        let entries = try await cli.ok(["audit", "show", "--tenant", "shop1", "--action", "policy"]).stdout
        #expect(entries.contains("kind=retention") && entries.contains("file=shop1.yaml") && entries.contains("file=built-in kind=redaction"))
        let sweep = try await cli.ok(["audit", "show", "--tenant", "shop1", "--action", "retention"]).stdout
        #expect(sweep.contains("policy.transcriptsHours=720") && sweep.contains("policy.outboxHours=48"))
        // Restarting with the same policies records nothing new.
        let before = entries.split(separator: "\n").count
        let (listened, status2) = try await offPool { () -> (Bool, Int32) in
            // Started (and so done recording policies) once it listens.
            let (listened, output) = try cli.serving(["serve", "--config", config, "--port-file", portFile + "2"]) { p in
                cli.waitForPortFile(portFile + "2", of: p)
            }
            return (listened, output.status)
        }
        #expect(listened, "the restart listens")
        #expect(status2 == 0)
        #expect(try await cli.ok(["audit", "show", "--tenant", "shop1", "--action", "policy"]).stdout.split(separator: "\n").count == before)
        #expect(try await cli.ok(["audit", "verify", "--tenant", "shop1"]).stdout.contains("intact"))
    }
}

