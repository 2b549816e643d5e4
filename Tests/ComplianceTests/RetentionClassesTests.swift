@testable import Compliance
import Foundation
import GRDB
import Logging
import Redaction
import Sealing
import ServiceLifecycle
import SupportBot
import SupportBotDemoStore
import Testing
@testable import TranscriptStore

/// The demo shop's re-send queue as the outbox class (the same one-line adapter `serve` uses).
struct DemoOutbox: DeliveryOutbox {
    let store: DemoOrderStore
    func removeRecords(queuedBefore cutoff: Date, dryRun: Bool) async throws -> Int {
        try store.removeOutboxRecords(queuedBefore: cutoff, dryRun: dryRun)
    }
}

let day: TimeInterval = 86_400

@Suite struct RetentionClassTests {
    @Test func eachClassExpiresAtItsOwnExactBoundary() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        let t0 = ComplianceFixture.t0
        let policy = RetentionPolicy(transcripts: .seconds(30 * 86_400), sessionMetadata: .seconds(60 * 86_400))
        // Three subjects, last active 1 s before, exactly at and 1 s after t0.
        try await f.seed(subject: [.email("old@example.com")], prefix: "old", sessions: 1, marker: "OLDMARK", at: t0.addingTimeInterval(-1))
        try await f.seed(subject: [.email("edge@example.com")], prefix: "edge", sessions: 1, marker: "EDGEMARK", at: t0)
        try await f.seed(subject: [.email("new@example.com")], prefix: "new", sessions: 1, marker: "NEWMARK", at: t0.addingTimeInterval(1))
        for (i, at) in [t0.addingTimeInterval(-1), t0].enumerated() {
            try await f.store.accessLog.record(AccessEvent(at: at, actor: "ops", tenant: "shop1", action: "transcripts.show", target: "session:x\(i)", messageCount: 1))
        }
        let oldKey = try await f.raw().read { db in try Data.fetchOne(db, sql: "SELECT wrapped_key FROM subjects WHERE id = (SELECT subject_id FROM sessions WHERE id = 'old-0')")! }
        // Another process (a relay) with the old subject key in its cache while the CLI sweeps.
        let relay = try SQLiteTranscriptStore(path: f.dir + "/transcripts.sqlite", masterKeys: MasterKeyring(currentID: f.masterID, key: f.masterKey))
        #expect(try await relay.transcript(tenant: "shop1", session: "old-0").count == 3)

        // Transcript boundary: t0 + 30 d. Only the session last active before t0 loses its messages.
        f.clock.set(t0.addingTimeInterval(30 * day))
        let dry = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: true)
        #expect(dry.transcripts.messages == 3 && dry.transcripts.sessions == 1 && dry.transcripts.keyIDs.count == 1)
        #expect(dry.sessionMetadata.sessions == 0 && dry.accessLogEntries == 0)
        #expect(try await f.store.transcript(tenant: "shop1", session: "old-0").count == 3, "a dry run changes nothing")
        let r1 = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false, batchSize: 1)
        #expect(r1.transcripts.messages == 3 && r1.transcripts.keyIDs.count == 1 && r1.sessionMetadata.sessions == 0)
        #expect(try await f.store.transcript(tenant: "shop1", session: "old-0").isEmpty)
        #expect(try await f.store.transcript(tenant: "shop1", session: "edge-0").count == 3)
        // The metadata stays: the session is still found through her identifier …
        #expect(try await f.store.sessions(tenant: "shop1", subject: .email("old@example.com")).map(\.id) == ["old-0"])
        // … her old key is gone from the file (replaced), and she can chat again under the new one.
        try await f.store.checkpoint()
        #expect(!(try f.storeFileBytes()).contains(bytes: [UInt8](oldKey)))
        #expect(!(try f.storeFileBytes()).contains("OLDMARK"))
        // The relay with the stale cache writes under the new key, and the store reads it.
        try await relay.openSession(tenant: "shop1", session: "old-again", channel: "web", identifiers: [.email("old@example.com")], at: f.clock.get())
        _ = try await relay.append([PendingMessage(tenant: "shop1", session: "old-again", role: .customer, text: "back again", sentAt: f.clock.get())])
        #expect(try await f.store.transcript(tenant: "shop1", session: "old-again").map(\.text) == ["back again"])
        #expect(try await f.store.sessions(tenant: "shop1", subject: .email("old@example.com")).map(\.id).sorted() == ["old-0", "old-again"])

        // One second later the boundary session's messages go too.
        f.clock.advance(1)
        #expect(try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false).transcripts.messages == 3)
        #expect(try await f.store.transcript(tenant: "shop1", session: "new-0").count == 3)

        // Metadata boundary: t0 + 60 d. The old session row, its link and … not the subject (it chatted again).
        f.clock.set(t0.addingTimeInterval(60 * day))
        let r2 = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false)
        #expect(r2.sessionMetadata.sessions == 1 && r2.sessionMetadata.subjects == 0 && r2.accessLogEntries == 1)
        #expect(try await f.store.sessions(tenant: "shop1", subject: .email("old@example.com")).map(\.id) == ["old-again"])
        #expect(try await f.store.accessLog.events(tenant: "shop1").count == 1, "the entry exactly at the boundary stays")
        f.clock.advance(1)
        let r3 = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false)
        #expect(r3.sessionMetadata.sessions == 1 && r3.sessionMetadata.subjects == 1 && r3.sessionMetadata.identifierLinks == 1)
        #expect(r3.accessLogEntries == 1)
        #expect(try await f.store.sessions(tenant: "shop1", subject: .email("edge@example.com")).isEmpty)
        #expect(try await f.store.accessLog.events(tenant: "shop1").isEmpty)
        // The access log still refuses deletes of anything newer than the recorded prune point.
        try await f.store.accessLog.record(AccessEvent(at: f.clock.get(), actor: "ops", tenant: "shop1", action: "transcripts.show", target: "session:y", messageCount: 1))
        #expect(throws: DatabaseError.self) { try f.raw().write { try $0.execute(sql: "DELETE FROM access_log") } }

        let sweeps = try f.ledger.entries(tenant: "shop1", action: "retention.sweep")
        #expect(sweeps.count == 4 && sweeps.last?.detail["identifierLinks"] == "1" && sweeps.last?.detail["policy.sessionMetadataHours"] == "1440")
    }

    @Test func aSubjectLeftWithoutSessionsByAnotherSubjectsErasureIsRemoved() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        let t0 = ComplianceFixture.t0
        let a: SubjectIdentifier = .email("a@example.com"), b: SubjectIdentifier = .phone("13900001111")
        try await f.seed(subject: [b], prefix: "b", sessions: 1, marker: "BMARK", at: t0.addingTimeInterval(-200 * day))
        try await f.seed(subject: [a], prefix: "a", sessions: 1, marker: "AMARK", at: t0)
        // A chat where both identify themselves: sealed under A, linked to B too.
        try await f.seed(subject: [a, b], prefix: "x", sessions: 1, marker: "XMARK", at: t0)
        // B's own session expires; B stays (still linked to the shared chat).
        #expect(try await f.compliance.sweep(tenant: "shop1", policy: .default, actor: "cron", dryRun: false).sessionMetadata.subjects == 0)
        // Erasing A removes the shared chat: B is left with an identifier link and no session.
        guard case .erased = try await f.compliance.erase(tenant: "shop1", subject: a, requestID: "R-1", actor: "dpo", dryRun: false)
        else { Issue.record("expected an erasure"); return }
        let count = { try await f.raw().read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subjects")! } }
        #expect(try await count() == 1)
        let dry = try await f.compliance.sweep(tenant: "shop1", policy: .default, actor: "cron", dryRun: true)
        #expect(dry.sessionMetadata.subjects == 1 && dry.sessionMetadata.identifierLinks == 1)
        let r = try await f.compliance.sweep(tenant: "shop1", policy: .default, actor: "cron", dryRun: false)
        #expect(r.sessionMetadata.subjects == 1 && r.sessionMetadata.identifierLinks == 1)
        #expect(try await count() == 0)
        #expect(try await f.raw().read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM subject_identifiers")! } == 0)
    }

    @Test func heldSubjectsKeepEveryClassAndAHoldPlacedMidSweepIsHonoured() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        for i in 0..<4 { try await f.seed(subject: [.email("u\(i)@example.com")], prefix: "u\(i)", sessions: 1, marker: "M\(i)") }
        let late = try await f.store.blindIndex(tenant: "shop1", .email("u3@example.com"))
        _ = try await f.compliance.addHold(tenant: "shop1", subject: .email("u0@example.com"), reason: "tax", actor: "legal")
        let u0 = "subject:" + (try await f.compliance.pseudonym(tenant: "shop1", .email("u0@example.com")))
        for target in ["session:u0-0", u0, "session:u1-0"] {
            try await f.store.accessLog.record(AccessEvent(at: f.clock.get(), actor: "ops", tenant: "shop1", action: "transcripts.show", target: target, messageCount: 3))
        }
        f.clock.advance(365 * day)
        let ledger = f.ledger
        // After the first batch, a hold on u3 commits (as another process would).
        let placed = Mutex(false)
        let report = try await f.compliance.sweep(tenant: "shop1", policy: .default, actor: "cron", dryRun: false, batchSize: 1) { _ in
            placed.withLock {
                if !$0 {
                    _ = try? ledger.addHold(tenant: "shop1", blindIndex: late, kind: "email", reason: "dispute", actor: "legal")
                    $0 = true
                }
            }
        }
        #expect(report.sessionMetadata.sessions == 2)
        #expect(try await f.store.transcript(tenant: "shop1", session: "u0-0").count == 3)
        #expect(try await f.store.transcript(tenant: "shop1", session: "u3-0").count == 3)
        #expect(try await f.store.sessions(tenant: "shop1", subject: .email("u1@example.com")).isEmpty)
        // Reads of the held subject's data stay in the access log with the hold; others expire.
        #expect(report.accessLogEntries == 1)
        #expect(try await f.store.accessLog.events(tenant: "shop1").map(\.target).sorted() == ["session:u0-0", u0].sorted())
    }

    @Test func theErasureReChecksHoldsUnderTheLedgersWriteLock() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        let b = try await f.store.blindIndex(tenant: "shop1", alice[1])
        // A hold that committed after the pre-check (simulated: placed straight in the ledger and
        // checked only by the guard) stops the erasure inside its transaction; nothing changes.
        _ = try f.ledger.addHold(tenant: "shop1", blindIndex: b, kind: "phone", reason: "dispute", actor: "legal")
        await #expect(throws: ComplianceError.self) {
            _ = try await f.store.eraseSubject(tenant: "shop1", subject: alice[0], guardedBy: f.compliance.holdGuard(
                tenant: "shop1", blindIndex: try await f.store.blindIndex(tenant: "shop1", alice[0])))
        }
        #expect(try await f.store.transcript(tenant: "shop1", session: "a-0").count == 3)
        // While the guarded transaction runs, the ledger cannot be written by anyone else.
        let path = f.ledger.path
        let blocked = Mutex<Bool?>(nil)
        _ = try await f.store.eraseSubject(tenant: "shop1", subject: .email("nobody@example.com"), guardedBy: AttachedCheck(path: path) { _, _ in
            var config = Configuration()
            config.busyMode = .immediateError
            let other = try DatabaseQueue(path: path, configuration: config)
            let failed = (try? other.write { try $0.execute(sql: "INSERT INTO legal_holds(tenant_id, blind_index, kind, reason, created_at, created_by) VALUES ('shop1', x'00', 'email', 'x', 0, 'x')") }) == nil
            blocked.withLock { $0 = failed }
        })
        #expect(blocked.withLock { $0 } == true, "a hold cannot commit between the check and the key destruction")
        #expect(try f.ledger.holds(tenant: "shop1", includeReleased: true).count == 1)
    }

    @Test func outboxRecordsExpireAfterTheirPeriod() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        let hasher = BLAKE2bKeyedHasher(key: Array(repeating: 7, count: 32))
        let orders = DemoOrders.generate(now: Date())
        let shop = try DemoOrderStore.seeded(orders: orders, tokenizer: KeyedContactTokenizer(hasher: hasher), keyHasher: hasher)
        let completed = orders.filter { $0.status == .completed }.prefix(2)
        for o in completed { _ = try await shop.resendCardKeys(number: o.number) }
        #expect(try shop.outbox().count == 2)
        // The fixture's clock is fixed in 2026; queued now means within the last minute of real time.
        f.clock.set(Date())
        let policy = RetentionPolicy.default
        #expect(try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false, outboxes: [DemoOutbox(store: shop)]).outboxRecords == 0)
        f.clock.set(Date().addingTimeInterval(7 * day + 60))
        #expect(try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: true, outboxes: [DemoOutbox(store: shop)]).outboxRecords == 2)
        #expect(try shop.outbox().count == 2)
        let r = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false, outboxes: [DemoOutbox(store: shop)])
        #expect(r.outboxRecords == 2)
        #expect(try shop.outbox().isEmpty)
        #expect(try f.ledger.entries(tenant: "shop1", action: "retention.sweep").last?.detail["outboxRecords"] == "2")
    }

    @Test func policyFilesForEveryClassValidateWithFileLineAndField() throws {
        let p = try RetentionPolicyFile.parse(yaml: "version: 1\ntranscripts: 30d\nsession_metadata: 60d\naudit_entries: 730d\noutbox: 48h\n", file: "x")
        #expect(p == RetentionPolicy(transcripts: .seconds(30 * 86_400), sessionMetadata: .seconds(60 * 86_400),
                                     auditEntries: .seconds(730 * 86_400), outbox: .seconds(48 * 3_600)))
        // The built-in default's rendering (its digest goes in the audit log) reads back as the default.
        #expect(try RetentionPolicyFile.parse(yaml: RetentionPolicy.default.yaml, file: "x") == .default)
        #expect(try RetentionPolicyFile.parse(yaml: p.yaml, file: "x") == p)
        // Omitted metadata follows a longer transcript period.
        #expect(try RetentionPolicyFile.parse(yaml: "version: 1\ntranscripts: 400d\n", file: "x").sessionMetadata == .seconds(400 * 86_400))
        let cases: [(String, Int, String)] = [
            ("version: 1\ntranscripts: 90d\nsession_metadata: 30d\n", 3, "session_metadata"),
            ("version: 1\naudit_entries: 30d\n", 2, "audit_entries"),
            ("version: 1\noutbox: soon\n", 2, "outbox"),
            ("version: 1\noutboxes: 7d\n", 2, "outboxes"),
        ]
        for (yaml, line, field) in cases {
            do {
                _ = try RetentionPolicyFile.parse(yaml: yaml, file: "policies/retention/shop1.yaml")
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.line == line && error.field == field, "\(yaml)")
                #expect(error.description.hasPrefix("policies/retention/shop1.yaml:\(line)"))
            }
        }
    }
}

@Suite struct AuditRetentionTests {
    /// Ten entries a day apart, starting at t0.
    func tenDays() async throws -> (ComplianceFixture, Ed25519SigningKey) {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        for _ in 0..<10 {
            _ = try await f.compliance.addHold(tenant: "shop1", subject: .email("x@example.com"), reason: "r", actor: "legal")
            f.clock.advance(day)
        }
        return (f, try await f.compliance.signingKey(tenant: "shop1"))
    }

    @Test func pruningKeepsTheChainVerifiableFromASignedAnchorAndIsRecorded() async throws {
        let (f, key) = try await tenDays()
        let t0 = ComplianceFixture.t0
        // Entries 1…4 are strictly older than t0 + 3.5 d.
        let dry = try f.ledger.prune(tenant: "shop1", before: t0.addingTimeInterval(3.5 * day), signer: key, actor: "cron", at: f.clock.get(), dryRun: true)
        #expect(dry.entries == 4 && dry.through == 4 && dry.position == nil)
        #expect(try f.ledger.entries(tenant: "shop1").count == 10)
        let r = try f.ledger.prune(tenant: "shop1", before: t0.addingTimeInterval(3.5 * day), signer: key, actor: "cron", at: f.clock.get(), dryRun: false)
        #expect(r.entries == 4 && r.through == 4 && r.position?.sequence == 11)
        let entries = try f.ledger.entries(tenant: "shop1")
        #expect(entries.first?.sequence == 5 && entries.last?.action == "audit.prune" && entries.last?.detail["through"] == "4")
        let v = try f.ledger.verify(tenant: "shop1", publicKey: key.publicKey)
        #expect(v.intact && v.prunedThrough == 4 && v.entries == 7, "\(v.problems)")
        // A second prune moves the anchor forward and is recorded again.
        let r2 = try f.ledger.prune(tenant: "shop1", before: t0.addingTimeInterval(6.5 * day), signer: key, actor: "cron", at: f.clock.get(), dryRun: false)
        #expect(r2.entries == 3 && r2.through == 7)
        #expect(try f.ledger.verify(tenant: "shop1", publicKey: key.publicKey).intact)
        // Still append-only after the anchor.
        #expect(throws: (any Error).self) { try f.raw("compliance.sqlite").write { try $0.execute(sql: "DELETE FROM audit_entries WHERE seq = 9") } }
    }

    @Test func tamperingAroundTheAnchorIsDetected() async throws {
        let (f, key) = try await tenDays()
        _ = try f.ledger.prune(tenant: "shop1", before: ComplianceFixture.t0.addingTimeInterval(3.5 * day), signer: key, actor: "cron", at: f.clock.get(), dryRun: false)
        // Moving the anchor forward (silently dropping entries 5…6) is caught: no prune entry names it.
        let hash = try await f.raw("compliance.sqlite").read { db in try Data.fetchOne(db, sql: "SELECT hash FROM audit_entries WHERE seq = 6")! }
        try await f.raw("compliance.sqlite").write { db in
            try db.execute(sql: "DROP TRIGGER audit_entries_no_delete")
            try db.execute(sql: "UPDATE audit_anchors SET seq = 6, hash = ?", arguments: [hash])
            try db.execute(sql: "DELETE FROM audit_entries WHERE seq <= 6")
        }
        let v = try f.ledger.verify(tenant: "shop1", publicKey: key.publicKey)
        #expect(v.problems.contains { $0.contains("without a recorded prune") })
        // A tampered log is never pruned (the evidence would go).
        #expect(throws: AuditPruneError.self) {
            _ = try f.ledger.prune(tenant: "shop1", before: f.clock.get(), signer: key, actor: "cron", at: f.clock.get(), dryRun: false)
        }
    }

    @Test func theSweepPrunesAuditEntriesOnlyPastTheirPeriod() async throws {
        let (f, key) = try await tenDays()
        // At t0 + 365 d + 2.5 d the first three entries are past the 365-day minimum.
        f.clock.set(ComplianceFixture.t0.addingTimeInterval(367.5 * day))
        let policy = RetentionPolicy(transcripts: .seconds(90 * 86_400), auditEntries: RetentionPolicy.minimumAuditEntries)
        let r = try await f.compliance.sweep(tenant: "shop1", policy: policy, actor: "cron", dryRun: false)
        #expect(r.auditEntries.entries == 3 && r.auditEntries.through == 3)
        let v = try f.ledger.verify(tenant: "shop1", publicKey: key.publicKey)
        #expect(v.intact && v.prunedThrough == 3)
        #expect(try f.ledger.entries(tenant: "shop1").suffix(2).map(\.action) == ["audit.prune", "retention.sweep"])
    }
}

@Suite struct PolicyChangeAndExportRenderingTests {
    @Test func aPolicyIsRecordedWhenItsDigestChangesAndOnlyThen() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        let v1 = Data("version: 1\ntranscripts: 90d\n".utf8), v2 = Data("version: 1\ntranscripts: 30d\n".utf8)
        let dir = "/etc/kamirelay/policies/retention/shop1.yaml"
        #expect(try await f.compliance.recordPolicy(tenant: "shop1", kind: "retention", contents: nil, file: nil, actor: "serve") != nil)
        #expect(try await f.compliance.recordPolicy(tenant: "shop1", kind: "retention", contents: v1, file: dir, actor: "serve") != nil)
        #expect(try await f.compliance.recordPolicy(tenant: "shop1", kind: "retention", contents: v1, file: dir, actor: "serve") == nil)
        #expect(try await f.compliance.recordPolicy(tenant: "shop1", kind: "redaction", contents: v1, file: "p.yaml", actor: "serve") != nil)
        #expect(try await f.compliance.recordPolicy(tenant: "shop1", kind: "retention", contents: v2, file: dir, actor: "serve") != nil)
        let log = try f.ledger.entries(tenant: "shop1", action: "policy.change")
        #expect(log.map { $0.detail["kind"]! } == ["retention", "retention", "redaction", "retention"])
        #expect(log[0].detail["sha256"] == "built-in")
        // sha256("version: 1\ntranscripts: 90d\n"), computed independently.
        #expect(log[1].detail["sha256"] == SHA256.hex(Array(v1)) && SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(log[1].detail["file"] == "shop1.yaml" && log.allSatisfy { $0.detail.keys.sorted() == ["file", "kind", "sha256"] })
    }

    @Test func theHTMLExportIsSelfContainedEscapedAndNamesStaffByRoleOnly() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.store.openSession(tenant: "shop1", session: "s<1>", channel: "web", identifiers: [alice[0]], at: ComplianceFixture.t0)
        _ = try await f.store.append([
            PendingMessage(tenant: "shop1", session: "s<1>", role: .customer, text: "<script>alert('x')</script> & \"卡密\"", sentAt: ComplianceFixture.t0),
            PendingMessage(tenant: "shop1", session: "s<1>", role: .agent, text: "您好 <img src=x onerror=alert(1)>", sentAt: ComplianceFixture.t0),
        ])
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK")
        let html = try await f.compliance.export(tenant: "shop1", subject: alice[0], actor: "dpo").html()
        #expect(!html.lowercased().contains("<script") && !html.contains("<img") && !html.contains("onerror=alert(1)>"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;卡密&quot;"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;") && html.contains("s&lt;1&gt;"))
        #expect(html.contains("default-src 'none'") && !html.contains("http://") && !html.contains("https://"))
        #expect(html.contains("客服 / agent") && html.contains("客户 / customer") && !html.contains("BOBMARK"))
    }
}

@Suite struct RetentionSchedulerTests {
    @Test func theSchedulerSweepsEveryIntervalAndRunsTheEpochWithin24Hours() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK", at: ComplianceFixture.t0.addingTimeInterval(-200 * day))
        guard case .erased = try await f.compliance.erase(tenant: "shop1", subject: alice[0], requestID: "R-1", actor: "dpo", dryRun: false)
        else { Issue.record("expected an erasure"); return }
        let erasedAt = f.clock.get()
        let newMaster = GuardedKey(randomCount: 32), newID = MasterKeyFile.newKeyID()
        let store = f.store, clock = f.clock
        let (rounds, sink) = AsyncStream.makeStream(of: RetentionRound.self)
        // Each "sleep" moves the injected clock one interval (1 h) on.
        let scheduler = RetentionScheduler(
            compliance: f.compliance, tenants: [ScheduledTenant(id: "shop1") { (.default, nil, nil) }],
            schedule: RetentionSchedule(interval: .seconds(3_600), batchSize: 1),
            rotateMaster: { _ = try await store.rotateMasterKey(to: newMaster, id: newID); return newID },
            logger: Logger(label: "test"),
            sleep: { d in clock.advance(TimeInterval(d.components.seconds)); await Task.yield() },
            onRound: { sink.yield($0) })
        let task = Task { try await scheduler.run() }
        var seen: [RetentionRound] = []
        for await round in rounds {
            seen.append(round)
            if round.epoch != nil || seen.count > 30 { break }
        }
        task.cancel()
        _ = try? await task.value
        // The first round removed Bob's 200-day-old data; no round failed.
        #expect(seen[0].sweeps.first?.sessionMetadata.sessions == 2 && seen.allSatisfy { $0.failures.isEmpty })
        #expect(try await f.store.sessions(tenant: "shop1", subject: bob[0]).isEmpty)
        // The epoch ran once 12 h had passed (batched), well inside 24 h of the erasure.
        let epochRound = try #require(seen.last)
        #expect(epochRound.epoch?.tenants.map(\.requestIDs) == [["R-1"]])
        let delay = epochRound.startedAt.timeIntervalSince(erasedAt)
        #expect(delay >= Compliance.epochBatchWindow && delay <= Compliance.epochDeadline)
        #expect(try f.ledger.pendingErasures().isEmpty)
        #expect(try f.ledger.entries(tenant: "shop1", action: "retention.sweep").count == seen.count)
    }

    @Test func aBrokenPolicyFailsItsTenantOnlyAndShutdownStopsTheLoop() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.store.addTenant("shop2")
        let dir = f.dir + "/policies"
        try FileManager.default.createDirectory(atPath: dir + "/retention", withIntermediateDirectories: true)
        try "version: 1\ntranscripts: soon\n".write(toFile: dir + "/retention/shop1.yaml", atomically: true, encoding: .utf8)
        try "version: 1\ntranscripts: 30d\n".write(toFile: dir + "/retention/shop2.yaml", atomically: true, encoding: .utf8)
        let (rounds, sink) = AsyncStream.makeStream(of: RetentionRound.self)
        let scheduler = RetentionScheduler(
            compliance: f.compliance,
            tenants: ["shop1", "shop2"].map { ScheduledTenant.fromPolicyFiles(id: $0, policiesDir: dir) },
            schedule: RetentionSchedule(interval: .seconds(3_600)), rotateMaster: nil, logger: Logger(label: "test"),
            onRound: { sink.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [.init(service: scheduler)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        var iterator = rounds.makeAsyncIterator()
        let round = try #require(await iterator.next())
        #expect(round.failures["shop1"]?.contains("shop1.yaml:2") == true)
        #expect(round.sweeps.map(\.tenant) == ["shop2"])
        // The changed policy was recorded for shop2 (not for the broken one).
        #expect(try f.ledger.entries(tenant: "shop2", action: "policy.change").count == 1)
        #expect(try f.ledger.entries(tenant: "shop1", action: "policy.change").isEmpty)
        // Graceful shutdown ends the hour-long sleep at once.
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test func aRoundCancelledByShutdownIsNotAFailure() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK", at: ComplianceFixture.t0.addingTimeInterval(-200 * day))
        let scheduler = RetentionScheduler(
            compliance: f.compliance, tenants: [ScheduledTenant(id: "shop1") { (.default, nil, nil) }],
            schedule: RetentionSchedule(interval: .seconds(3_600)), rotateMaster: nil, logger: Logger(label: "test"))
        let round = await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await scheduler.runOnce()
        }.value
        #expect(round.failures.isEmpty, "\(round.failures)")
        // The next round (not cancelled) sweeps what is due.
        let next = await scheduler.runOnce()
        #expect(next.failures.isEmpty && next.sweeps.first?.sessionMetadata.sessions == 2)
    }
}

/// A tiny lock for test state shared with `@Sendable` closures.
final class Mutex<Value>: @unchecked Sendable {
    // Sound: `value` is only touched inside `withLock`, under `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
