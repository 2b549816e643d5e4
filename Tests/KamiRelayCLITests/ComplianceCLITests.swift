import Foundation
import Relay
import Testing

/// The compliance officer's commands, run as the built binary.
@Suite(.serialized) struct ComplianceCLITests {
    @Test func holdEraseReceiptEpochExportAndAuditFromTheCommandLine() async throws {
        let cli = try StoreCLI()
        _ = try await cli.ok(["keys", "init", "--kdf", "interactive"])
        _ = try await cli.ok(["tenants", "add", "shop1"])
        let log = cli.root + "/chat.jsonl"
        let recent = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3_600))
        try """
        {"session":"s-1","time":"\(recent)","role":"customer","text":"卡密无效 ALICEMARK","email":"alice@example.com","order":"K7Q2M9X4B1C8D3F5"}
        {"session":"s-1","time":"\(recent)","role":"agent","text":"ALICEMARK resent"}
        {"session":"s-2","time":"\(recent)","role":"customer","text":"BOBMARK hello","email":"bob@example.com"}
        {"session":"s-3","time":"2020-01-01T00:00:00Z","role":"customer","text":"OLDMARK","email":"old@example.com"}
        """.write(toFile: log, atomically: true, encoding: .utf8)
        _ = try await cli.ok(["import", "--tenant", "shop1", log])

        // Export: only Alice's session.
        let out = cli.root + "/alice.json"
        _ = try await cli.ok(["export", "--tenant", "shop1", "--subject", "order:K7Q2M9X4B1C8D3F5", "--out", out, "--operator", "dpo"])
        let exported = try String(contentsOfFile: out, encoding: .utf8)
        #expect(exported.contains("ALICEMARK resent") && !exported.contains("BOBMARK"))
        let html = try String(contentsOfFile: cli.root + "/alice.html", encoding: .utf8)
        #expect(html.contains("ALICEMARK resent") && html.contains("客服 / agent") && !html.contains("<script") && !html.contains("BOBMARK"))
        _ = try await cli.ok(["export", "--tenant", "shop1", "--subject", "order:K7Q2M9X4B1C8D3F5", "--out", cli.root + "/alice2.json", "--readable", "text"])
        #expect(try String(contentsOfFile: cli.root + "/alice2.txt", encoding: .utf8).contains("agent: ALICEMARK resent"))

        // A hold on her order number refuses erasure by her e-mail, and says why.
        _ = try await cli.ok(["hold", "add", "--tenant", "shop1", "--subject", "order:K7Q2M9X4B1C8D3F5", "--reason", "tax record"])
        let refused = try await cli.run(["erase", "--tenant", "shop1", "--subject", "email:alice@example.com", "--request-id", "DSR-1"])
        #expect(refused.status != 0 && refused.stderr.contains("legal hold #1") && refused.stderr.contains("tax record"))
        #expect(try await cli.ok(["hold", "list"]).stdout.contains("active\ttax record"))
        _ = try await cli.ok(["hold", "release", "--tenant", "shop1", "--id", "1"])

        // The relay's sealed resume state of her chat goes with it; Bob's stays.
        do {
            let state = try RelayStateStore.open(dataDirectory: cli.root + "/data", keys: try cli.openStore())
            for session in ["s-1", "s-2"] {
                try await state.saveChat(PersistedChat(session: session, channel: "web", language: "zh"), tenant: "shop1", kind: .resume,
                                         handle: "token-" + session, expires: Date().addingTimeInterval(600))
            }
            #expect(try await state.chatStateCount() == 2)
        }
        let dry = try await cli.ok(["erase", "--tenant", "shop1", "--subject", "email:alice@example.com", "--request-id", "DSR-1", "--dry-run"])
        #expect(dry.stdout.contains("would erase 1 session(s), 2 message(s)"))
        let receipt = cli.root + "/r1.json"
        let erased = try await cli.ok(["erase", "--tenant", "shop1", "--subject", "email:alice@example.com", "--request-id", "DSR-1",
                             "--receipt", receipt, "--epoch-now"])
        #expect(erased.stdout.contains("erased 1 session(s), 2 message(s)") && erased.stdout.contains("erasure epoch done"))
        #expect(erased.stdout.contains("removed the relay's resume state of 1 erased chat(s)"))
        #expect(try await RelayStateStore.open(dataDirectory: cli.root + "/data", keys: try cli.openStore()).chatStateCount() == 1)
        let pub = try await cli.ok(["receipt", "public-key", "--tenant", "shop1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pub.count == 64)
        // Offline: no data dir, no passphrase.
        let verified = try await cli.run(["receipt", "verify", receipt, "--public-key", pub], env: ["KAMIRELAY_PASSPHRASE": "", "KAMIRELAY_DATA": "/nonexistent"])
        #expect(verified.status == 0 && verified.stdout.contains("valid: request DSR-1") && verified.stdout.contains("backups undecryptable since"))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: receipt))
        bytes[bytes.count / 2] ^= 0x04
        try bytes.write(to: URL(fileURLWithPath: cli.root + "/r1-bad.json"))
        let bad = try await cli.run(["receipt", "verify", cli.root + "/r1-bad.json", "--public-key", pub])
        #expect(bad.status != 0 && bad.stderr.contains("INVALID"))
        // Her data is gone from every database file; Bob's is still readable.
        for name in try FileManager.default.contentsOfDirectory(atPath: cli.root + "/data") where name.hasPrefix("transcripts.sqlite") {
            let data = try Data(contentsOf: URL(fileURLWithPath: cli.root + "/data/" + name))
            #expect(data.range(of: Data("alice@example.com".utf8)) == nil)
        }
        #expect(try await cli.ok(["transcripts", "show", "--tenant", "shop1", "--session", "s-2"]).stdout.contains("BOBMARK hello"))
        let again = try await cli.ok(["erase", "--tenant", "shop1", "--subject", "email:alice@example.com", "--request-id", "DSR-2",
                            "--receipt", cli.root + "/r2.json"])
        #expect(again.stdout.contains("nothing found"))

        // Retention: the 2020 session goes (past the session-metadata period, with its message), the recent one stays.
        let wouldSweep = try await cli.ok(["retention", "sweep", "--dry-run"]).stdout
        #expect(wouldSweep.contains("session metadata") && wouldSweep.contains("would remove 1 session(s) (1 message(s) left in them), 1 identifier link(s), 1 subject(s)"))
        #expect(wouldSweep.contains("outbox records: would remove 0") && wouldSweep.contains("audit entries: would remove 0"))
        let swept = try await cli.ok(["retention", "sweep"]).stdout
        #expect(swept.contains("removed 1 session(s) (1 message(s) left in them)"))
        #expect(swept.contains("transcripts 90d, session metadata 180d, audit entries 1095d, outbox 7d (built-in default)"))
        let policy = cli.root + "/bad.yaml"
        try "version: 1\ntranscripts: 90w\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let checked = try await cli.run(["retention", "check", policy])
        #expect(checked.status != 0 && checked.stderr.contains("bad.yaml:2: field 'transcripts': unknown unit 'w'"))
        try "version: 1\ntranscripts: 30d\nsession_metadata: 10d\n".write(toFile: policy, atomically: true, encoding: .utf8)
        #expect(try await cli.run(["retention", "check", policy]).stderr.contains("bad.yaml:3: field 'session_metadata': must be at least transcripts"))

        // The audit log: everything above, verified with the public key alone and against the receipt.
        let shown = try await cli.ok(["audit", "show", "--tenant", "shop1"]).stdout
        for action in ["export", "hold.add", "erase.refused", "hold.release", "erase", "epoch", "policy.change", "retention.sweep", "transcripts.show"] {
            #expect(shown.contains("\t\(action)\t"), "\(action) missing from the audit log")
        }
        #expect(!shown.contains("alice") && !shown.contains("K7Q2M9X4B1C8D3F5") && !shown.contains("tax record"))
        let verify = try await cli.ok(["audit", "verify", "--tenant", "shop1", "--public-key", pub, "--receipt", receipt])
        #expect(verify.stdout.contains("intact"))

        // The scheduled path: a receipt issued with backups pending is completed after the epoch.
        let bobReceipt = cli.root + "/bob.json"
        _ = try await cli.ok(["erase", "--tenant", "shop1", "--subject", "email:bob@example.com", "--request-id", "DSR-3", "--receipt", bobReceipt])
        let early = try await cli.run(["receipt", "complete", bobReceipt, "--out", cli.root + "/bob-final.json"])
        #expect(early.status != 0 && early.stderr.contains("has not run yet"))
        #expect(try await cli.ok(["epoch", "run"]).stdout.contains("not due yet"))
        #expect(try await cli.ok(["epoch", "run", "--now"]).stdout.contains("covers DSR-3"))
        _ = try await cli.ok(["receipt", "complete", bobReceipt, "--out", cli.root + "/bob-final.json"])
        let final = try await cli.ok(["receipt", "verify", cli.root + "/bob-final.json", "--public-key", pub])
        #expect(final.stdout.contains("request DSR-3") && final.stdout.contains("backups undecryptable since"))
    }
}
