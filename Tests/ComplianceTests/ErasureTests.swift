import Compliance
import Foundation
import GRDB
import Sealing
import Testing
@testable import TranscriptStore

let alice: [SubjectIdentifier] = [.email("Alice.Planted@example.com"), .phone("13812345678")]
let bob: [SubjectIdentifier] = [.email("bob@example.com")]

@Suite struct ErasureTests {
    @Test func erasureRemovesTheSubjectFromEveryFileAndKeepsOthers() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK")
        // What erasure must remove, read raw before it: her sealed records, wrapped key, blind indexes.
        let (records, wrapped, indexes) = try await f.raw().read { db in
            (try Data.fetchAll(db, sql: "SELECT record FROM messages WHERE session_id LIKE 'a-%'"),
             try Data.fetchAll(db, sql: "SELECT wrapped_key FROM subjects WHERE id IN (SELECT subject_id FROM sessions WHERE id LIKE 'a-%')"),
             try Data.fetchAll(db, sql: "SELECT blind_index FROM subject_identifiers WHERE subject_id IN (SELECT subject_id FROM sessions WHERE id LIKE 'a-%')"))
        }
        #expect(records.count == 6 && wrapped.count == 1 && indexes.count == 2)
        try await f.store.checkpoint()
        #expect(try f.storeFileBytes().contains(bytes: [UInt8](records[0].prefix(64))))

        guard case .dryRun(let plan) = try await f.compliance.erase(tenant: "shop1", subject: alice[1], requestID: "R-1", actor: "dpo", dryRun: true)
        else { Issue.record("expected a dry run"); return }
        #expect(plan?.sessions.map(\.id) == ["a-0", "a-1"] && plan?.messageCount == 6)
        #expect(try await f.store.transcript(tenant: "shop1", session: "a-0").count == 3, "a dry run changes nothing")

        guard case .erased(let signed) = try await f.compliance.erase(tenant: "shop1", subject: alice[0], requestID: "R-1", actor: "dpo", dryRun: false)
        else { Issue.record("expected an erasure"); return }
        #expect(signed.receipt.outcome == "erased" && signed.receipt.sessionsErased == 2 && signed.receipt.messagesErased == 6)
        #expect(signed.receipt.keyIDsDestroyed.count == 1 && signed.receipt.backups.status == "pending")

        let bytes = try f.storeFileBytes()
        for r in records { #expect(!bytes.contains(bytes: [UInt8](r.suffix(48))), "a sealed record of hers survives") }
        #expect(!bytes.contains(bytes: [UInt8](wrapped[0])))
        for b in indexes { #expect(!bytes.contains(bytes: [UInt8](b))) }
        // The ledger (database and its WAL) never held them either.
        var ledgerBytes = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: f.dir) where name.hasPrefix("compliance.sqlite") {
            ledgerBytes.append(try Data(contentsOf: URL(fileURLWithPath: f.dir + "/" + name)))
        }
        #expect(!ledgerBytes.isEmpty)
        for needle in ["ALICEMARK", "alice.planted@example.com", "Alice.Planted", "13812345678"] {
            #expect(!bytes.contains(needle))
            #expect(!ledgerBytes.contains(needle))
        }
        let wal = FileManager.default.contents(atPath: f.dir + "/transcripts.sqlite-wal") ?? Data()
        #expect(wal.isEmpty, "WAL truncated")
        // Gone for the store, both identifiers; Bob intact.
        #expect(try await f.store.sessions(tenant: "shop1", subject: alice[1]).isEmpty)
        #expect(await storeError { _ = try await f.store.transcript(tenant: "shop1", session: "a-0") } == .unknownSession(tenant: "shop1", session: "a-0"))
        #expect(try await f.store.transcript(tenant: "shop1", session: "b-1").map(\.text).allSatisfy { $0.hasPrefix("BOBMARK") })
        #expect(try await f.store.sessions(tenant: "shop1", subject: bob[0]).count == 2)

        // Idempotent: a second request finds nothing and says so in a valid receipt.
        guard case .erased(let again) = try await f.compliance.erase(tenant: "shop1", subject: alice[0], requestID: "R-2", actor: "dpo", dryRun: false)
        else { Issue.record("expected a receipt"); return }
        #expect(again.receipt.outcome == "nothing-found" && again.receipt.sessionsErased == 0 && again.receipt.keyIDsDestroyed.isEmpty)
        let pk = try await f.compliance.signingKey(tenant: "shop1").publicKey
        #expect(try SignedReceipt.verify(file: again.fileBytes(), publicKey: pk).requestID == "R-2")
        let log = try f.ledger.entries(tenant: "shop1", action: "erase")
        #expect(log.map { $0.detail["outcome"] } == ["erased", "nothing-found"])
        #expect(log.allSatisfy { !$0.detail.values.joined().contains("13812345678") && !$0.detail.values.joined().contains("alice") })
    }

    @Test func anErasureInterruptedAfterItsKeysWereDestroyedLeavesNothingReadableAndFinishesOnRerun() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK")
        // Step 1 of the erasure only (as if the process died right after it committed).
        let keys = try await f.store.pool.write { db in
            let p = try f.store.plan(db, tenant: "shop1", subjects: try f.store.subjectIDs(db, tenant: "shop1", subject: alice[0]))
            try f.store.destroySubjectKeys(db, p.keys)
            return p.keys
        }
        f.store.keys.dropSubjects(keys)  // a restarted process has no cached keys
        await #expect(throws: (any Error).self) { _ = try await f.store.transcript(tenant: "shop1", session: "a-0") }
        #expect(try await f.store.transcript(tenant: "shop1", session: "b-0").count == 3)
        guard case .erased(let r) = try await f.compliance.erase(tenant: "shop1", subject: alice[1], requestID: "R-1", actor: "dpo", dryRun: false)
        else { Issue.record("expected an erasure"); return }
        #expect(r.receipt.outcome == "erased" && r.receipt.sessionsErased == 2 && r.receipt.messagesErased == 6)
        #expect(try await f.store.footprint(tenant: "shop1", subject: alice[0]) == nil)
    }

    @Test func receiptsVerifyOfflineAndFailOnAnyFlippedByteOrWrongKey() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.store.addTenant("shop2")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        guard case .erased(let signed) = try await f.compliance.erase(tenant: "shop1", subject: alice[0], requestID: "DSR-2026-17", actor: "dpo", dryRun: false)
        else { Issue.record("expected an erasure"); return }
        let file = signed.fileBytes()
        #expect(!file.contains("alice") && !file.contains("13812345678"), "no identifier in clear")
        let pk = try await f.compliance.signingKey(tenant: "shop1").publicKey
        let receipt = try SignedReceipt.verify(file: file, publicKey: pk)
        #expect(receipt.tenant == "shop1" && receipt.messagesErased == 6 && receipt.auditPosition.sequence == 1)
        // The same key on every derivation (nothing stored), another tenant's key differs.
        #expect(try await f.compliance.signingKey(tenant: "shop1").publicKey == pk)
        let otherKey = try await f.compliance.signingKey(tenant: "shop2").publicKey
        #expect(otherKey != pk)
        #expect(throws: ReceiptError.badSignature) { try SignedReceipt.verify(file: file, publicKey: otherKey) }
        // Every single flipped byte fails (sampled across the whole file, including whitespace).
        var failures = 0, tried = 0
        for i in stride(from: 0, to: file.count, by: 3) {
            var bad = file
            bad[bad.startIndex + i] ^= 0x01
            tried += 1
            do { _ = try SignedReceipt.verify(file: bad, publicKey: pk) } catch { failures += 1 }
        }
        #expect(failures == tried)
    }

    @Test func aDatabaseCopyDecryptsTheSubjectUntilTheEpochAndNotAfter() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK")
        try await f.store.checkpoint()
        let backup = f.dir + "/backup.sqlite"
        try FileManager.default.copyItem(atPath: f.dir + "/transcripts.sqlite", toPath: backup)

        guard case .erased(let signed) = try await f.compliance.erase(tenant: "shop1", subject: alice[0], requestID: "R-1", actor: "dpo", dryRun: false)
        else { Issue.record("expected an erasure"); return }

        // Before the epoch: the copy still opens her transcript with today's keys.
        func openCopy(_ ring: MasterKeyring) throws -> SQLiteTranscriptStore {
            let scratch = f.dir + "/scratch-\(UUID().uuidString).sqlite"
            try FileManager.default.copyItem(atPath: backup, toPath: scratch)
            return try SQLiteTranscriptStore(path: scratch, masterKeys: ring)
        }
        let before = try openCopy(MasterKeyring(currentID: f.masterID, key: f.masterKey))
        #expect(try await before.transcript(tenant: "shop1", session: "a-0").first?.text.hasPrefix("ALICEMARK") == true)

        // Not due yet without --now; forced, it rotates, rewraps, trims and replaces the master key.
        let newMaster = GuardedKey(randomCount: 32)
        let newID = MasterKeyFile.newKeyID()
        let rotate: @Sendable () async throws -> String = {
            _ = try await f.store.rotateMasterKey(to: newMaster, id: newID)
            return newID
        }
        #expect(try await f.compliance.runErasureEpoch(force: false, actor: "cron", rotateMaster: rotate).completedAt == nil)
        #expect(try await f.compliance.complete(receiptFile: signed.fileBytes()) == nil, "pending: nothing to complete yet")
        f.clock.advance(Compliance.epochBatchWindow)
        let report = try await f.compliance.runErasureEpoch(force: false, actor: "cron", rotateMaster: rotate)
        #expect(report.tenants.map(\.requestIDs) == [["R-1"]] && report.tenants[0].destroyedVersions == [1])
        #expect(try f.ledger.pendingErasures().isEmpty)

        // After: the copy needs master key f.masterID, which is retired …
        #expect(throws: TranscriptStoreError.masterKeyUnavailable(id: f.masterID)) {
            _ = try openCopy(MasterKeyring(currentID: newID, key: newMaster))
        }
        // … and no key that still exists opens her key in the copy: tenant v1 is gone from the live
        // store, the copy's v1 needs the retired master key, and the live v2 does not open it.
        let copy = try DatabaseQueue(path: backup)
        let (herKey, herSubject, copyV1) = try await copy.read { db in
            let r = try Row.fetchOne(db, sql: "SELECT id, wrapped_key FROM subjects WHERE id = (SELECT subject_id FROM sessions WHERE id = 'a-0')")!
            return ([UInt8](r["wrapped_key"] as Data), r["id"] as Int64,
                    [UInt8](try Data.fetchOne(db, sql: "SELECT wrapped_key FROM tenant_key_versions WHERE version = 1")!))
        }
        #expect(try await f.store.keyStatus(tenant: "shop1")[0].versions.map(\.version) == [2])
        #expect(throws: SealingError.self) {
            _ = try KeyWrap.unwrap(copyV1, with: newMaster, aad: AAD.tenantKey(tenant: "shop1", version: 1, masterID: newID))
        }
        let liveV2 = try await f.store.pool.read { db in try f.store.versionKey(db, tenant: "shop1", version: 2) }
        #expect(throws: SealingError.self) {
            _ = try KeyWrap.unwrap(herKey, with: liveV2, aad: AAD.subjectKey(tenant: "shop1", subject: herSubject, version: 1))
        }
        #expect(throws: SealingError.self) {
            _ = try KeyWrap.unwrap(herKey, with: liveV2, aad: AAD.subjectKey(tenant: "shop1", subject: herSubject, version: 2))
        }
        // Control: Bob's records in the same copy still open with his current (live) key.
        let (bobRecords, bobSubject) = try copy.read { db in
            (try Row.fetchAll(db, sql: "SELECT seq, role, record FROM messages WHERE session_id = 'b-0' ORDER BY seq"),
             try Int64.fetchOne(db, sql: "SELECT subject_id FROM sessions WHERE id = 'b-0'")!)
        }
        let bobKey = try await f.store.pool.read { db in try f.store.subjectKey(db, subject: bobSubject) }
        let opened = SealedRecord.open(batch: bobRecords.map {
            ([UInt8]($0["record"] as Data), RecordContext(tenant: "shop1", session: "b-0", sequence: UInt64($0["seq"] as Int64),
                                                          role: SenderRole(rawValue: UInt8($0["role"] as Int))!))
        }, keyID: UInt64(bobSubject), key: bobKey)
        #expect(opened.count == 3)
        #expect(try opened.map { String(decoding: try $0.get(), as: UTF8.self) }.allSatisfy { $0.hasPrefix("BOBMARK") })
        // The live store still reads Bob after the epoch, and the completed receipt says when.
        #expect(try await f.store.transcript(tenant: "shop1", session: "b-0").count == 3)
        let done = try #require(try await f.compliance.complete(receiptFile: signed.fileBytes()))
        let pk = try await f.compliance.signingKey(tenant: "shop1").publicKey
        let final = try SignedReceipt.verify(file: done.fileBytes(), publicKey: pk)
        #expect(final.backups.status == "undecryptable" && final.requestID == "R-1" && final.subject == signed.receipt.subject)
        #expect(final.backups.undecryptableSince != nil)
        // A forged receipt is not completed.
        var forged = signed.fileBytes()
        forged[forged.count / 2] ^= 1
        await #expect(throws: ReceiptError.self) { _ = try await f.compliance.complete(receiptFile: forged) }
    }

    @Test func legalHoldBlocksErasureRecordsTheRefusalAndBlocksRetention() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", marker: "ALICEMARK")
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK")
        let hold = try await f.compliance.addHold(tenant: "shop1", subject: .phone("+86 138-1234-5678"), reason: "fraud dispute #42", actor: "legal")
        do {
            _ = try await f.compliance.erase(tenant: "shop1", subject: alice[0], requestID: "R-9", actor: "dpo", dryRun: false)
            Issue.record("erasure of a held subject must be refused")
        } catch let e as ComplianceError {
            #expect(e == .subjectOnHold(holds: [hold.id], reasons: ["fraud dispute #42"]))
        }
        #expect(try await f.store.transcript(tenant: "shop1", session: "a-0").count == 3)
        let refusals = try f.ledger.entries(tenant: "shop1", action: "erase.refused")
        #expect(refusals.count == 1 && refusals[0].detail["request"] == "R-9" && refusals[0].detail["holds"] == String(hold.id))
        #expect(!refusals[0].detail.values.joined().contains("fraud"), "hold reasons stay out of the audit log")

        // Retention: everything is a year old; only the held subject survives.
        f.clock.advance(365 * 86_400)
        let report = try await f.compliance.sweep(tenant: "shop1", policy: .default, actor: "cron", dryRun: false)
        #expect(report.removed.sessions == 2 && report.removed.messages == 6)
        #expect(try await f.store.transcript(tenant: "shop1", session: "a-1").count == 3)
        #expect(try await f.store.sessions(tenant: "shop1", subject: bob[0]).isEmpty)

        try await f.compliance.releaseHold(tenant: "shop1", id: hold.id, actor: "legal")
        await #expect(throws: ComplianceError.unknownHold(hold.id)) { try await f.compliance.releaseHold(tenant: "shop1", id: hold.id, actor: "legal") }
        guard case .erased(let r) = try await f.compliance.erase(tenant: "shop1", subject: alice[0], requestID: "R-10", actor: "dpo", dryRun: false)
        else { Issue.record("expected an erasure"); return }
        #expect(r.receipt.sessionsErased == 2)
    }

    @Test func exportHoldsAllAndOnlyTheSubjectsSessions() async throws {
        let f = try ComplianceFixture()
        try await f.store.addTenant("shop1")
        try await f.seed(subject: alice, prefix: "a", sessions: 3, marker: "ALICEMARK")
        try await f.seed(subject: bob, prefix: "b", marker: "BOBMARK")
        // A later session linked by her phone only.
        try await f.seed(subject: [alice[1]], prefix: "a-phone", sessions: 1, marker: "ALICEMARK")
        let export = try await f.compliance.export(tenant: "shop1", subject: alice[0], actor: "dpo")
        #expect(export.sessions.map(\.id).sorted() == ["a-0", "a-1", "a-2", "a-phone-0"])
        #expect(export.sessions.flatMap(\.messages).count == 12)
        #expect(export.sessions.flatMap(\.messages).allSatisfy { $0.text.hasPrefix("ALICEMARK") })
        #expect(Set(export.sessions.flatMap(\.messages).map(\.role)) == ["customer", "agent"])
        let json = String(decoding: export.json(), as: UTF8.self)
        #expect(!json.contains("BOBMARK") && json.contains("kamirelay-subject-export/1"))
        #expect(export.text().contains("ALICEMARK message 0"))
        let logged = try f.ledger.entries(tenant: "shop1", action: "export")
        #expect(logged.count == 1 && logged[0].detail["messages"] == "12" && logged[0].detail["sessions"] == "4")
    }
}

func storeError(_ body: () async throws -> Void) async -> TranscriptStoreError? {
    do { try await body(); return nil } catch let e as TranscriptStoreError { return e } catch { return nil }
}
