import Compliance
import Foundation
import GRDB
import PolicyFiles
import Sealing
import Testing
import TranscriptStore

@Suite struct RetentionTests {
    @Test func sweepRemovesExactlyWhatIsPastTheBoundary() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        // Messages and session rows on the same day: the whole session goes at the boundary.
        let policy = RetentionPolicy(transcripts: .seconds(90 * 86_400), sessionMetadata: .seconds(90 * 86_400))
        let t0 = ComplianceFixture.t0
        // Last activity: 1 s past the boundary, exactly on it, 1 s inside it.
        try await f.seed(subject: [.email("old@example.com")], prefix: "old", sessions: 1, marker: "OLD", at: t0.addingTimeInterval(-1))
        try await f.seed(subject: [.email("edge@example.com")], prefix: "edge", sessions: 1, marker: "EDGE", at: t0)
        try await f.seed(subject: [.email("new@example.com")], prefix: "new", sessions: 1, marker: "NEW", at: t0.addingTimeInterval(1))
        f.clock.set(t0.addingTimeInterval(90 * 86_400))

        let dry = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: true)
        #expect(dry.removed.sessions == 1 && dry.removed.messages == 3)
        #expect(try await f.store.transcript(tenant: "shop1", session: "old-0").count == 3, "dry run removes nothing")
        #expect(try f.ledger.entries(tenant: "shop1").isEmpty, "dry runs are not recorded")

        let real = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false, batchSize: 1)
        #expect(real.removed.sessions == 1 && real.removed.messages == 3 && real.removed.keyIDs.count == 1)
        #expect(try await f.store.sessions(tenant: "shop1", subject: .email("old@example.com")).isEmpty)
        #expect(try await f.store.transcript(tenant: "shop1", session: "edge-0").count == 3)
        #expect(try await f.store.transcript(tenant: "shop1", session: "new-0").count == 3)
        #expect(try f.ledger.entries(tenant: "shop1", action: "retention.sweep").first?.detail["sessions"] == "1")

        // One second later the boundary session goes too; a second sweep of nothing is harmless.
        f.clock.advance(1)
        #expect(try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false).removed.sessions == 1)
        #expect(try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false).removed.sessions == 0)
        #expect(try await f.store.transcript(tenant: "shop1", session: "new-0").count == 3)
    }

    @Test func everyShippedRetentionPolicyLoads() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("policies/retention")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        for file in files { _ = try RetentionPolicyFile.load(path: dir.appendingPathComponent(file).path) }
        #expect(try RetentionPolicyFile.load(path: dir.appendingPathComponent("example.yaml").path) == .default)
    }

    @Test func policyFilesParseAndReportFileLineAndField() throws {
        let p = try RetentionPolicyFile.parse(yaml: "version: 1\ntranscripts: 30d\n", file: "shop1.yaml")
        #expect(p.transcripts == .seconds(30 * 86_400))
        #expect(try RetentionPolicyFile.parse(yaml: "version: 1\ntranscripts: 48h\n", file: "x").transcripts == .seconds(48 * 3_600))
        #expect(try RetentionPolicyFile.parse(yaml: "version: 1\n", file: "x") == .default)
        let cases: [(String, Int?, String?)] = [
            ("version: 1\ntranscripts: 90 days\n", 2, "transcripts"),
            ("version: 1\ntranscripts: 90w\n", 2, "transcripts"),
            ("version: 1\ntranscripts: 0d\n", 2, "transcripts"),
            ("version: 1\n\ntranscript: 90d\n", 3, "transcript"),
            ("version: 2\ntranscripts: 90d\n", 1, "version"),
            ("transcripts: 90d\n", nil, "version"),
            ("version: 1\ntranscripts: [90d\n", nil, nil),
        ]
        for (yaml, line, field) in cases {
            do {
                _ = try RetentionPolicyFile.parse(yaml: yaml, file: "policies/retention/shop1.yaml")
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.file == "policies/retention/shop1.yaml")
                #expect(error.field == field, "\(yaml)")
                if let line { #expect(error.line == line, "\(yaml)") }
                #expect(error.description.hasPrefix("policies/retention/shop1.yaml"))
            }
        }
        // A missing tenant file means the documented default; a broken one is an error.
        let dir = NSTemporaryDirectory() + "kr-ret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/retention", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try RetentionPolicyFile.load(policiesDir: dir, tenant: "shop1") == .default)
        try "version: 1\ntranscripts: soon\n".write(toFile: dir + "/retention/shop1.yaml", atomically: true, encoding: .utf8)
        #expect(throws: PolicyFileError.self) { try RetentionPolicyFile.load(policiesDir: dir, tenant: "shop1") }
    }
}

@Suite struct AuditChainTests {
    /// A ledger with five entries for shop1 and its public key.
    func chain() async throws -> (ComplianceFixture, [UInt8]) {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        for i in 0..<3 {
            _ = try await f.compliance.export(tenant: "shop1", subject: alice[0], actor: "dpo-\(i)")
            f.clock.advance(60)
        }
        let hold = try await f.compliance.addHold(tenant: "shop1", subject: alice[0], reason: "tax", actor: "legal")
        try await f.compliance.releaseHold(tenant: "shop1", id: hold.id, actor: "legal")
        return (f, try await f.compliance.signingKey(tenant: "shop1").publicKey)
    }

    /// Tampering needs the triggers out of the way, as an attacker with the file would do.
    func tamper(_ f: ComplianceFixture, _ sql: String) throws {
        try f.raw("compliance.sqlite").write { db in
            try db.execute(sql: "DROP TRIGGER IF EXISTS audit_entries_no_update; DROP TRIGGER IF EXISTS audit_entries_no_delete")
            try db.execute(sql: sql)
        }
    }

    @Test func anIntactChainVerifiesAndTheLogIsAppendOnly() async throws {
        let (f, pk) = try await chain()
        let v = try f.ledger.verify(tenant: "shop1", publicKey: pk)
        #expect(v.intact && v.entries == 5 && v.checkpoints == 5)
        #expect(try f.ledger.entries(tenant: "shop1").map(\.action) == ["export", "export", "export", "hold.add", "hold.release"])
        #expect(throws: (any Error).self) { try f.raw("compliance.sqlite").write { try $0.execute(sql: "DELETE FROM audit_entries") } }
        #expect(throws: (any Error).self) { try f.raw("compliance.sqlite").write { try $0.execute(sql: "UPDATE audit_entries SET actor = 'x'") } }
        let other = Ed25519SigningKey().publicKey
        #expect(!(try f.ledger.verify(tenant: "shop1", publicKey: other).intact))
    }

    @Test func anEditedEntryIsNamed() async throws {
        let (f, pk) = try await chain()
        try tamper(f, "UPDATE audit_entries SET detail = replace(detail, '\"6\"', '\"0\"') WHERE seq = 2")
        #expect(try f.ledger.entries(tenant: "shop1")[1].detail["messages"] == "0")
        let v = try f.ledger.verify(tenant: "shop1", publicKey: pk)
        #expect(v.problems.contains { $0.contains("entry 2 was edited") })
    }

    @Test func anEditWithTheChainRecomputedIsCaughtByTheSignedCheckpoints() async throws {
        let (f, pk) = try await chain()
        // Rewrite entry 2 and recompute every later hash with the public algorithm (no key needed).
        let entries = try f.ledger.entries(tenant: "shop1")
        try tamper(f, "DELETE FROM audit_entries")
        let forger = try ComplianceLedger(path: f.dir + "/forged.sqlite")
        let attackerKey = Ed25519SigningKey()
        for e in entries {
            var d = e.detail
            if e.sequence == 2 { d["messages"] = "0" }
            try forger.append(tenant: "shop1", actor: e.actor, action: e.action, detail: d, at: e.at, signer: attackerKey)
        }
        try await f.raw("compliance.sqlite").write { db in
            try db.execute(sql: "ATTACH DATABASE ? AS forged", arguments: [f.dir + "/forged.sqlite"])
            try db.execute(sql: "INSERT INTO audit_entries SELECT * FROM forged.audit_entries")
        }
        let v = try f.ledger.verify(tenant: "shop1", publicKey: pk)
        #expect(!v.intact)
        #expect(v.problems.contains { $0.contains("entry 2 differs from its signed checkpoint") })
    }

    @Test func aRemovedEntryIsNamed() async throws {
        let (f, pk) = try await chain()
        try tamper(f, "DELETE FROM audit_entries WHERE seq = 3")
        let v = try f.ledger.verify(tenant: "shop1", publicKey: pk)
        #expect(v.problems.contains { $0.contains("entries 3…3 are missing") })
    }

    @Test func reorderedEntriesAreNamed() async throws {
        let (f, pk) = try await chain()
        try tamper(f, """
            UPDATE audit_entries SET seq = -1 WHERE seq = 2; UPDATE audit_entries SET seq = 2 WHERE seq = 3;
            UPDATE audit_entries SET seq = 3 WHERE seq = -1
            """)
        let v = try f.ledger.verify(tenant: "shop1", publicKey: pk)
        #expect(v.problems.contains { $0.contains("entry 2 does not link") || $0.contains("entry 3 does not link") })
        #expect(v.problems.contains { $0.contains("entry 2 was edited") })
    }

    @Test func aTruncatedLogIsDetected() async throws {
        let (f, pk) = try await chain()
        let last = try f.ledger.entries(tenant: "shop1").last!
        try tamper(f, "DELETE FROM audit_entries WHERE seq >= 4")
        #expect(try f.ledger.verify(tenant: "shop1", publicKey: pk).problems.contains { $0.contains("past the last entry 3") })
        // Even with the checkpoints cut too, a receipt's quoted position still exposes it.
        let quoted = AuditPosition(sequence: last.sequence, hash: last.hash.map { String(format: "%02x", $0) }.joined())
        try tamper(f, "DELETE FROM audit_checkpoints WHERE seq >= 4")
        let v = try f.ledger.verify(tenant: "shop1", publicKey: pk)
        // The documented limit: with entries and checkpoints cut together, the log alone looks whole …
        #expect(v.intact && v.entries == 3)
        // … so receipts quote their audit position, and verifying against them exposes the cut.
        let anchored = try f.ledger.verify(tenant: "shop1", publicKey: pk, expected: [quoted])
        #expect(anchored.problems.contains { $0.contains("entry 5 quoted by a receipt is missing") })
    }
}
