import Foundation
import Testing

/// Once a shop has compliance officers, its erasures, exports and holds need one of them to sign
/// in, and the audit log names the account instead of a typed-in name.
@Suite(.serialized) struct OfficerSignInCLITests {
    @Test func complianceCommandsNeedASignedInOfficerOnceTheTenantHasOne() async throws {
        let cli = try StoreCLI()
        _ = try await cli.ok(["keys", "init", "--kdf", "interactive"])
        _ = try await cli.ok(["tenants", "add", "shop1"])
        _ = try await cli.ok(["tenants", "add", "shop2"])
        let log = cli.root + "/chat.jsonl"
        let recent = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3_600))
        try """
        {"session":"s-1","time":"\(recent)","role":"customer","text":"ALICEMARK","email":"alice@example.com"}
        {"session":"s-2","time":"\(recent)","role":"customer","text":"BOBMARK","email":"bob@example.com"}
        """.write(toFile: log, atomically: true, encoding: .utf8)
        _ = try await cli.ok(["import", "--tenant", "shop1", log])
        _ = try await cli.ok(["import", "--tenant", "shop2", log])
        let data = ["--data-dir", cli.root + "/data"]

        // No officers yet: the typed name goes into the audit log, as before.
        _ = try await cli.ok(["export", "--tenant", "shop1", "--subject", "email:bob@example.com", "--out", cli.root + "/b1.json", "--operator", "typed-name"])

        let password = cli.root + "/officer.pw", wrong = cli.root + "/wrong.pw"
        try "officer password 2026\n".write(toFile: password, atomically: true, encoding: .utf8)
        try "not the password at all\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        _ = try await cli.ok(["agents", "add", "--tenant", "shop1", "--username", "dpo", "--role", "compliance", "--password-file", password] + data)
        _ = try await cli.ok(["agents", "add", "--tenant", "shop1", "--username", "ann", "--role", "agent", "--password-file", password] + data)

        let unsigned = try await cli.run(["export", "--tenant", "shop1", "--subject", "email:bob@example.com", "--out", cli.root + "/b2.json"])
        #expect(unsigned.status != 0 && unsigned.stderr.contains("tenant shop1 has compliance accounts: sign in with --officer"))
        #expect(!FileManager.default.fileExists(atPath: cli.root + "/b2.json"))
        let agent = try await cli.run(["export", "--tenant", "shop1", "--subject", "email:bob@example.com", "--out", cli.root + "/b2.json",
                                   "--officer", "ann", "--officer-password-file", password])
        #expect(agent.status != 0 && agent.stderr.contains("ann holds the agent role; this command needs the compliance role"))
        let wrongPassword = try await cli.run(["erase", "--tenant", "shop1", "--subject", "email:alice@example.com", "--request-id", "DSR-9",
                                           "--officer", "dpo", "--officer-password-file", wrong])
        #expect(wrongPassword.status != 0 && wrongPassword.stderr.contains("wrong username or password"))
        let noTerminal = try await cli.run(["hold", "add", "--tenant", "shop1", "--subject", "email:alice@example.com", "--reason", "x", "--officer", "dpo"])
        #expect(noTerminal.status != 0 && noTerminal.stderr.contains("--officer-password-file"))
        // Nothing was erased by the refused attempts.
        let dry = try await cli.ok(["erase", "--tenant", "shop1", "--subject", "email:alice@example.com", "--request-id", "DSR-9", "--dry-run",
                                "--officer", "dpo", "--officer-password-file", password])
        #expect(dry.stdout.contains("would erase 1 session(s)"))

        // Signed in: the erasure runs and the audit log names the account, not a typed name.
        let receipt = cli.root + "/r.json"
        _ = try await cli.ok(["erase", "--tenant", "shop1", "--subject", "email:alice@example.com", "--request-id", "DSR-9", "--receipt", receipt,
                          "--officer", "dpo", "--officer-password-file", password, "--operator", "someone-else"])
        let audit = try await cli.ok(["audit", "show", "--tenant", "shop1"]).stdout
        let erasure = try #require(audit.split(separator: "\n").first { $0.contains("erase") && !$0.contains("refused") })
        #expect(erasure.contains("\tagent#1 (password set 20") && !erasure.contains("someone-else"), "\(erasure)")
        #expect(audit.contains("\ttyped-name\t"), "before officers existed, the typed name")

        // Operator accounts sign the shop's key, API-key and transcript commands the same way;
        // a compliance officer cannot stand in for one.
        _ = try await cli.ok(["keys", "rotate", "--tenant", "shop1"])
        _ = try await cli.ok(["agents", "add", "--tenant", "shop1", "--username", "ops", "--role", "operator", "--password-file", password] + data)
        let unsignedRotate = try await cli.run(["keys", "rotate", "--tenant", "shop1"])
        #expect(unsignedRotate.status != 0 && unsignedRotate.stderr.contains("tenant shop1 has operator accounts"))
        let wrongRole = try await cli.run(["tenants", "api-key", "create", "--tenant", "shop1", "--officer", "dpo", "--officer-password-file", password])
        #expect(wrongRole.status != 0 && wrongRole.stderr.contains("dpo holds the compliance role; this command needs the operator role"))
        _ = try await cli.ok(["keys", "rotate", "--tenant", "shop1", "--officer", "ops", "--officer-password-file", password])
        _ = try await cli.ok(["tenants", "api-key", "create", "--tenant", "shop1", "--officer", "ops", "--officer-password-file", password])
        let opsAudit = try await cli.ok(["audit", "show", "--tenant", "shop1"]).stdout.split(separator: "\n")
        #expect(opsAudit.filter { $0.contains("keys.rotate") }.map { $0.contains("\tagent#3 (password set ") } == [false, true], "\(opsAudit)")
        #expect(opsAudit.contains { $0.contains("api-key.create") && $0.contains("\tagent#3 (password set ") })

        // A password reset (no master key needed) shows in the next signed entry's actor.
        let before = try #require(audit.split(separator: "\n").last { $0.contains("\tagent#1 (") }).split(separator: "\t")[2]
        _ = try await cli.ok(["agents", "reset-password", "--tenant", "shop1", "--username", "dpo", "--password-file", password] + data)
        _ = try await cli.ok(["hold", "add", "--tenant", "shop1", "--subject", "email:bob@example.com", "--reason", "tax record",
                              "--officer", "dpo", "--officer-password-file", password])
        let after = try #require(try await cli.ok(["audit", "show", "--tenant", "shop1"]).stdout.split(separator: "\n")
            .last { $0.contains("\tagent#1 (") }).split(separator: "\t")[2]
        #expect(before != after && after.hasPrefix("agent#1 (password set "), "\(before) vs \(after)")

        // Disabling every officer does not turn the rule off.
        _ = try await cli.ok(["agents", "disable", "--tenant", "shop1", "--username", "dpo"] + data)
        let allDisabled = try await cli.run(["hold", "add", "--tenant", "shop1", "--subject", "email:bob@example.com", "--reason", "x"])
        #expect(allDisabled.status != 0 && allDisabled.stderr.contains("tenant shop1 has compliance accounts"))
        let disabled = try await cli.run(["hold", "add", "--tenant", "shop1", "--subject", "email:bob@example.com", "--reason", "x",
                                          "--officer", "dpo", "--officer-password-file", password])
        #expect(disabled.status != 0 && disabled.stderr.contains("the account dpo is disabled"))
        _ = try await cli.ok(["agents", "disable", "--tenant", "shop1", "--username", "dpo", "--enable"] + data)

        // Another shop without officers is unaffected.
        _ = try await cli.ok(["export", "--tenant", "shop2", "--subject", "email:bob@example.com", "--out", cli.root + "/shop2.json"])

        // Failed sign-ins count towards the account's lock-out, like console logins.
        for _ in 0..<5 {
            _ = try await cli.run(["export", "--tenant", "shop1", "--subject", "email:bob@example.com", "--out", cli.root + "/b3.json",
                               "--officer", "dpo", "--officer-password-file", wrong])
        }
        let locked = try await cli.run(["export", "--tenant", "shop1", "--subject", "email:bob@example.com", "--out", cli.root + "/b3.json",
                                    "--officer", "dpo", "--officer-password-file", password])
        #expect(locked.status != 0 && locked.stderr.contains("locked"), "\(locked.stderr)")
    }
}
