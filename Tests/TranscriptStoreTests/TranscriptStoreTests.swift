import Foundation
import GRDB
import PolicyFiles
import Redaction
import Sealing
import Testing
@testable import TranscriptStore

@Suite struct TranscriptStoreTests {
    @Test func appendAndReadBack() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        let t0 = Date(timeIntervalSince1970: 1_714_557_600)
        try await f.store.openSession(tenant: "shop1", session: "s-1", channel: "web", identifiers: [.email("a@example.com")], at: t0)
        let result = try await f.store.append([
            PendingMessage(tenant: "shop1", session: "s-1", role: .customer, text: "你好，我的卡密无效", sentAt: t0),
            PendingMessage(tenant: "shop1", session: "s-1", role: .bot, text: "请提供订单号", sentAt: t0.addingTimeInterval(2)),
        ])
        #expect(result.stored.map(\.sequence) == [0, 1])
        let messages = try await f.reopen().transcript(tenant: "shop1", session: "s-1")
        #expect(messages.map(\.text) == ["你好，我的卡密无效", "请提供订单号"])
        #expect(messages.map(\.role) == [.customer, .bot])
        #expect(messages[1].sentAt == t0.addingTimeInterval(2))
        let info = try await f.store.session(tenant: "shop1", session: "s-1")
        #expect(info.messageCount == 2 && info.channel == "web" && info.lastActivityAt == t0.addingTimeInterval(2))
    }

    @Test func tenantsAndErrors() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        #expect(await storeError { try await f.store.addTenant("shop1") } == .tenantExists("shop1"))
        #expect(await storeError { try await f.store.addTenant("Shop One") } == .invalidTenantID("Shop One"))
        #expect(await storeError { _ = try await f.store.rotateTenantKey(tenant: "nope") } == .unknownTenant("nope"))
        #expect(await storeError { _ = try await f.store.append([PendingMessage(tenant: "shop1", session: "x", role: .bot, text: "hi")]) }
                == .unknownSession(tenant: "shop1", session: "x"))
        #expect(await storeError { try await f.store.openSession(tenant: "shop1", session: "x", channel: "web", identifiers: [.email("nope")], at: Date()) }
                == .invalidIdentifier(.email))
        #expect(try await f.store.tenants() == ["shop1"])
    }

    @Test func subjectsAreFoundByBlindIndexAcrossSessions() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await f.store.addTenant("shop2")
        let now = Date()
        try await f.store.openSession(tenant: "shop1", session: "s-1", channel: "web", identifiers: [.email("Alice@Example.com")], at: now)
        try await f.store.openSession(tenant: "shop1", session: "s-2", channel: "web",
                                      identifiers: [.phone("13812345678"), .email("alice@example.com")], at: now.addingTimeInterval(1))
        try await f.store.openSession(tenant: "shop1", session: "s-3", channel: "web", identifiers: [.phone("+86 138 1234 5678")], at: now.addingTimeInterval(2))
        try await f.store.openSession(tenant: "shop1", session: "s-4", channel: "web", identifiers: [], at: now)
        try await f.store.openSession(tenant: "shop2", session: "s-1", channel: "web", identifiers: [.email("alice@example.com")], at: now)
        #expect(try await f.store.sessions(tenant: "shop1", subject: .email("ALICE@example.com")).map(\.id) == ["s-1", "s-2", "s-3"])
        #expect(try await f.store.sessions(tenant: "shop1", subject: .phone("13812345678")).map(\.id) == ["s-1", "s-2", "s-3"])
        #expect(try await f.store.sessions(tenant: "shop1", subject: .orderNumber("ABC")).isEmpty)
        #expect(try await f.store.sessions(tenant: "shop2", subject: .email("alice@example.com")).map(\.id) == ["s-1"])
        // A later identifier links to the session's subject.
        try await f.store.openSession(tenant: "shop1", session: "s-4", channel: "web", identifiers: [.orderNumber("K7Q2M9X4B1C8D3F5")], at: now)
        #expect(try await f.store.sessions(tenant: "shop1", subject: .orderNumber("k7q2m9x4b1c8d3f5")).map(\.id) == ["s-4"])
    }

    @Test func recordsMovedInTheDatabaseFailLoudly() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await f.store.addTenant("shop2")
        for t in ["shop1", "shop2"] {
            for s in ["s-1", "s-2"] {
                try await f.store.openSession(tenant: t, session: s, channel: "web", identifiers: [], at: Date())
                _ = try await f.store.append((0..<3).map { PendingMessage(tenant: t, session: s, role: .customer, text: "\(t) \(s) \($0)") })
            }
        }
        let db = try f.raw()
        // Another position in the same session.
        try await db.write { db in
            let r0 = try Data.fetchOne(db, sql: "SELECT record FROM messages WHERE tenant_id='shop1' AND session_id='s-1' AND seq=0")!
            let r1 = try Data.fetchOne(db, sql: "SELECT record FROM messages WHERE tenant_id='shop1' AND session_id='s-1' AND seq=1")!
            try db.execute(sql: "UPDATE messages SET record=? WHERE tenant_id='shop1' AND session_id='s-1' AND seq=0", arguments: [r1])
            try db.execute(sql: "UPDATE messages SET record=? WHERE tenant_id='shop1' AND session_id='s-1' AND seq=1", arguments: [r0])
            // Sender role changed.
            try db.execute(sql: "UPDATE messages SET role=3 WHERE tenant_id='shop1' AND session_id='s-2' AND seq=2")
            // A record copied from another session (another subject key).
            let foreign = try Data.fetchOne(db, sql: "SELECT record FROM messages WHERE tenant_id='shop2' AND session_id='s-1' AND seq=0")!
            try db.execute(sql: "UPDATE messages SET record=? WHERE tenant_id='shop2' AND session_id='s-2' AND seq=0", arguments: [foreign])
        }
        let store = try f.reopen()
        let e1 = await storeError { _ = try await store.transcript(tenant: "shop1", session: "s-1") }
        #expect(e1 == .corruptRecord(tenant: "shop1", session: "s-1", sequence: 0, .contextMismatch))
        let e2 = await storeError { _ = try await store.transcript(tenant: "shop1", session: "s-2") }
        #expect(e2 == .corruptRecord(tenant: "shop1", session: "s-2", sequence: 2, .contextMismatch))
        // The copied record names another subject key: rejected before any decryption.
        guard case .corruptRecord(_, _, 0, .keyIDMismatch) = await storeError({ _ = try await store.transcript(tenant: "shop2", session: "s-2") }) else {
            Issue.record("a record from another session was not rejected")
            return
        }
        // Flipped ciphertext bit.
        try await db.write { db in
            var r = [UInt8](try Data.fetchOne(db, sql: "SELECT record FROM messages WHERE tenant_id='shop2' AND session_id='s-1' AND seq=1")!)
            r[r.count - 3] ^= 4
            try db.execute(sql: "UPDATE messages SET record=? WHERE tenant_id='shop2' AND session_id='s-1' AND seq=1", arguments: [Data(r)])
        }
        #expect(await storeError { _ = try await store.transcript(tenant: "shop2", session: "s-1") }
                == .corruptRecord(tenant: "shop2", session: "s-1", sequence: 1, .authenticationFailed))
    }

    @Test func wrongMasterKeyIsAClearError() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        let other = MasterKeyring(currentID: "0123456789abcdef", key: GuardedKey(randomCount: 32))
        #expect(throws: TranscriptStoreError.masterKeyUnavailable(id: f.masterID)) {
            try SQLiteTranscriptStore(path: f.dir + "/transcripts.sqlite", masterKeys: other)
        }
        // Same id, wrong bytes: unwrapping fails with a sealing error, never garbage.
        let impostor = try SQLiteTranscriptStore(path: f.dir + "/transcripts.sqlite",
                                                 masterKeys: MasterKeyring(currentID: f.masterID, key: GuardedKey(randomCount: 32)))
        await #expect(throws: SealingError.keyUnwrapFailed) {
            try await impostor.openSession(tenant: "shop1", session: "s", channel: "web", identifiers: [], at: Date())
        }
    }

    @Test func accessLogIsAppendOnly() async throws {
        let f = try Fixture()
        try await f.store.accessLog.record(AccessEvent(actor: "ops", tenant: "shop1", action: "transcripts.show", target: "session:s-1", messageCount: 3))
        let events = try await f.store.accessLog.events(tenant: "shop1")
        #expect(events.count == 1 && events[0].actor == "ops" && events[0].messageCount == 3)
        let db = try f.raw()
        #expect(throws: DatabaseError.self) { try db.write { try $0.execute(sql: "DELETE FROM access_log") } }
        #expect(throws: DatabaseError.self) { try db.write { try $0.execute(sql: "UPDATE access_log SET actor='x'") } }
        #expect(try await f.store.accessLog.events(tenant: nil).count == 1)
    }

    @Test func databaseSettings() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        let (mode, secureDelete, sync) = try await f.store.pool.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode")!, try Int.fetchOne(db, sql: "PRAGMA secure_delete")!,
             try Int.fetchOne(db, sql: "PRAGMA synchronous")!)
        }
        #expect(mode == "wal")
        #expect(secureDelete == 1)
        #expect(sync == 2)  // FULL
        for file in ["transcripts.sqlite", "transcripts.sqlite-wal"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: f.dir + "/" + file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
    }
}
