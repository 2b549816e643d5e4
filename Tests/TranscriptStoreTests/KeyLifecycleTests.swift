import Foundation
import GRDB
import Sealing
import Testing
@testable import TranscriptStore

@Suite struct KeyLifecycleTests {
    /// `sessions` sessions of `perSession` messages each, under the tenant's current version.
    func populate(_ store: SQLiteTranscriptStore, tenant: String, prefix: String, sessions: Int, perSession: Int) async throws {
        try await store.openSessions((0..<sessions).map {
            SessionOpening(tenant: tenant, session: "\(prefix)\($0)", channel: "web", identifiers: [.email("\(prefix)\($0)@example.com")], at: Date())
        })
        var batch: [PendingMessage] = []
        for s in 0..<sessions { for m in 0..<perSession {
            batch.append(PendingMessage(tenant: tenant, session: "\(prefix)\(s)", role: m % 2 == 0 ? .customer : .bot, text: "\(prefix)\(s) message \(m)"))
        } }
        _ = try await store.append(batch)
    }

    func expectAllReadable(_ store: SQLiteTranscriptStore, tenant: String, prefixes: [String], sessions: Int, perSession: Int) async throws {
        for p in prefixes { for s in 0..<sessions {
            let texts = try await store.transcript(tenant: tenant, session: "\(p)\(s)").map(\.text)
            #expect(texts == (0..<perSession).map { "\(p)\(s) message \($0)" })
        } }
    }

    @Test func rotateRewrapTrimKeepsEverythingReadableAndDestroysTheOldVersion() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await populate(f.store, tenant: "shop1", prefix: "a", sessions: 30, perSession: 4)
        let oldWrapped = try await f.raw().read { db in try Data.fetchOne(db, sql: "SELECT wrapped_key FROM tenant_key_versions WHERE version = 1")! }

        #expect(try await f.store.rotateTenantKey(tenant: "shop1") == 2)
        try await populate(f.store, tenant: "shop1", prefix: "b", sessions: 10, perSession: 4)
        var status = try await f.store.keyStatus(tenant: "shop1")[0]
        #expect(status.currentVersion == 2)
        #expect(status.versions.map(\.subjectKeys) == [30, 10])
        #expect(status.lastRotatedAt != nil)
        // Old versions still decrypt before any rewrap.
        try await expectAllReadable(f.reopen(), tenant: "shop1", prefixes: ["a", "b"], sessions: 10, perSession: 4)

        // Trim refuses while subject keys depend on version 1.
        #expect(await storeError { _ = try await f.store.trimTenantKeys(tenant: "shop1", below: 2, force: false) }
                == .keyVersionsInUse(tenant: "shop1", subjectKeys: 30, below: 2))
        #expect(await storeError { _ = try await f.store.trimTenantKeys(tenant: "shop1", below: 3, force: false) }
                == .invalidTrimVersion(tenant: "shop1", below: 3, current: 2))

        let progress = ProgressLog()
        let result = try await f.store.rewrapSubjectKeys(tenant: "shop1", batchSize: 7) { progress.append($0) }
        #expect(result.rewrapped == 30 && result.total == 30 && result.currentVersion == 2)
        #expect(progress.values.map(\.rewrapped) == [7, 14, 21, 28, 30])
        // Nothing left: a second run is a no-op.
        #expect(try await f.store.rewrapSubjectKeys(tenant: "shop1", batchSize: 7, progress: nil).rewrapped == 0)

        let trim = try await f.store.trimTenantKeys(tenant: "shop1", below: 2, force: false)
        #expect(trim == TrimResult(destroyedVersions: [1], orphanedSubjectKeys: 0))
        status = try await f.store.keyStatus(tenant: "shop1")[0]
        #expect(status.versions.map(\.version) == [2])
        #expect(status.versions[0].subjectKeys == 40)
        #expect(status.minDecryptionVersion == 2)
        // Gone from the key store: no row, and its wrapped bytes are nowhere in the database files.
        #expect(try await f.raw().read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tenant_key_versions WHERE version = 1") } == 0)
        #expect(!(try f.allFileBytes()).contains(bytes: [UInt8](oldWrapped)))
        // Everything still reads, in this process and after a restart.
        try await expectAllReadable(f.store, tenant: "shop1", prefixes: ["a"], sessions: 30, perSession: 4)
        try await expectAllReadable(f.reopen(), tenant: "shop1", prefixes: ["a", "b"], sessions: 10, perSession: 4)
    }

    @Test func interruptedRewrapResumesFromWhereItStopped() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await populate(f.store, tenant: "shop1", prefix: "a", sessions: 20, perSession: 2)
        _ = try await f.store.rotateTenantKey(tenant: "shop1")
        // One committed batch, then the process "dies".
        let step = try await f.store.pool.write { db in try f.store.rewrapBatch(db, tenant: "shop1", after: 0, limit: 5) }
        #expect(step.rewrapped == 5)
        #expect(try await f.store.keyStatus(tenant: "shop1")[0].versions.map(\.subjectKeys) == [15, 5])
        let restarted = try f.reopen()
        #expect(try await restarted.rewrapSubjectKeys(tenant: "shop1", batchSize: 4, progress: nil).rewrapped == 15)
        _ = try await restarted.trimTenantKeys(tenant: "shop1", below: 2, force: false)
        try await expectAllReadable(restarted, tenant: "shop1", prefixes: ["a"], sessions: 20, perSession: 2)
    }

    @Test func forcedTrimOrphansSubjectsWithADistinctError() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await populate(f.store, tenant: "shop1", prefix: "a", sessions: 3, perSession: 2)
        _ = try await f.store.rotateTenantKey(tenant: "shop1")
        let trim = try await f.store.trimTenantKeys(tenant: "shop1", below: 2, force: true)
        #expect(trim == TrimResult(destroyedVersions: [1], orphanedSubjectKeys: 3))
        #expect(try await f.store.keyStatus(tenant: "shop1")[0].orphanedSubjectKeys == 3)
        for store in [f.store, try f.reopen()] {
            #expect(await storeError { _ = try await store.transcript(tenant: "shop1", session: "a0") }
                    == .unknownTenantKeyVersion(tenant: "shop1", version: 1))
        }
    }

    @Test func wrongTenantKeyIsRejected() async throws {
        // A subject key row moved to another tenant does not unwrap under that tenant's key.
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await f.store.addTenant("shop2")
        try await populate(f.store, tenant: "shop1", prefix: "a", sessions: 1, perSession: 2)
        try await f.raw().write { db in try db.execute(sql: "UPDATE subjects SET tenant_id = 'shop2'") }
        await #expect(throws: SealingError.keyUnwrapFailed) {
            _ = try await f.reopen().transcript(tenant: "shop1", session: "a0")
        }
    }

    @Test func rotateMasterKeyRewrapsTenantKeysOnly() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await populate(f.store, tenant: "shop1", prefix: "a", sessions: 5, perSession: 3)
        _ = try await f.store.rotateTenantKey(tenant: "shop1")
        let subjectsBefore = try await f.raw().read { db in try Data.fetchAll(db, sql: "SELECT wrapped_key FROM subjects ORDER BY id") }
        let newKey = GuardedKey(randomCount: 32)
        #expect(try await f.store.rotateMasterKey(to: newKey, id: "00000000000000aa") == 3)  // 2 versions + purpose root
        let subjectsAfter = try await f.raw().read { db in try Data.fetchAll(db, sql: "SELECT wrapped_key FROM subjects ORDER BY id") }
        #expect(subjectsBefore == subjectsAfter)
        #expect(try await f.store.masterKeyIDsInUse() == ["00000000000000aa"])
        // The old master key no longer opens the database; the new one does, and blind indexes survive.
        #expect(throws: TranscriptStoreError.masterKeyUnavailable(id: "00000000000000aa")) { try f.reopen() }
        // Crash between the database commit and the key-file rename: the keys directory still
        // names the old key as current, with the new one beside it. The store follows the database.
        var both = MasterKeyring(currentID: f.masterID, key: f.masterKey)
        both.add(id: "00000000000000aa", key: newKey)
        let halfway = try SQLiteTranscriptStore(path: f.dir + "/transcripts.sqlite", masterKeys: both)
        try await halfway.addTenant("shop2")
        #expect(try await halfway.masterKeyIDsInUse() == ["00000000000000aa"])
        let reopened = try SQLiteTranscriptStore(path: f.dir + "/transcripts.sqlite", masterKeys: MasterKeyring(currentID: "00000000000000aa", key: newKey))
        try await expectAllReadable(reopened, tenant: "shop1", prefixes: ["a"], sessions: 5, perSession: 3)
        #expect(try await reopened.sessions(tenant: "shop1", subject: .email("a3@example.com")).map(\.id) == ["a3"])
    }

    @Test func concurrentWritesDuringRotationAndRewrapLoseNothing() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        try await populate(f.store, tenant: "shop1", prefix: "old", sessions: 200, perSession: 1)
        let store = f.store
        let writers = 4, rounds = 40, sessionsPerWriter = 10
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    for r in 0..<rounds {
                        // New sessions keep appearing (new subject keys under whatever version is current).
                        let session = "w\(w)-\(r % sessionsPerWriter)"
                        try await store.openSession(tenant: "shop1", session: session, channel: "web", identifiers: [], at: Date())
                        _ = try await store.append([PendingMessage(tenant: "shop1", session: session, role: .customer, text: "w\(w) r\(r)"),
                                                    PendingMessage(tenant: "shop1", session: "old\((w * rounds + r) % 200)", role: .agent, text: "late w\(w) r\(r)")])
                    }
                }
            }
            group.addTask {
                for _ in 0..<3 {
                    _ = try await store.rotateTenantKey(tenant: "shop1")
                    _ = try await store.rewrapSubjectKeys(tenant: "shop1", batchSize: 16, progress: nil)
                }
            }
            try await group.waitForAll()
        }
        // Finish the job, then destroy every old version: all messages must still read.
        _ = try await store.rewrapSubjectKeys(tenant: "shop1", batchSize: 100, progress: nil)
        let current = try await store.keyStatus(tenant: "shop1")[0].currentVersion
        #expect(current == 4)
        _ = try await store.trimTenantKeys(tenant: "shop1", below: current, force: false)
        let reopened = try f.reopen()
        var written = Set<String>(), late = 0
        for w in 0..<writers { for s in 0..<sessionsPerWriter {
            for m in try await reopened.transcript(tenant: "shop1", session: "w\(w)-\(s)") { written.insert(m.text) }
        } }
        for s in 0..<200 {
            let texts = try await reopened.transcript(tenant: "shop1", session: "old\(s)").map(\.text)
            #expect(texts.first == "old\(s) message 0")
            late += texts.count - 1
        }
        #expect(written.count == writers * rounds)
        #expect(late == writers * rounds)
    }
}

final class ProgressLog: @unchecked Sendable {
    // @unchecked: `values` is only accessed under `lock`.
    private let lock = NSLock()
    private var stored: [RewrapProgress] = []
    func append(_ p: RewrapProgress) { lock.withLock { stored.append(p) } }
    var values: [RewrapProgress] { lock.withLock { stored } }
}

@Suite struct RollbackTests {
    @Test func keysFromARolledBackTransactionAreNeverUsed() async throws {
        // A batch that fails half-way rolls back the subjects it created; their ids are then
        // reused. No key cached during the failed transaction may seal the next session.
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        await #expect(throws: TranscriptStoreError.invalidIdentifier(.email)) {
            try await f.store.openSessions([
                SessionOpening(tenant: "shop1", session: "a", channel: "web", identifiers: [], at: Date()),
                SessionOpening(tenant: "shop1", session: "b", channel: "web", identifiers: [.email("broken")], at: Date()),
            ])
        }
        try await f.store.openSession(tenant: "shop1", session: "c", channel: "web", identifiers: [], at: Date())
        _ = try await f.store.append([PendingMessage(tenant: "shop1", session: "c", role: .customer, text: "after the rollback")])
        #expect(try await f.reopen().transcript(tenant: "shop1", session: "c").map(\.text) == ["after the rollback"])
        #expect(await storeError { _ = try await f.store.session(tenant: "shop1", session: "a") } == .unknownSession(tenant: "shop1", session: "a"))
    }

    @Test func aFailedRotationLeavesNoCachedVersionKey() async throws {
        let f = try Fixture()
        try await f.store.addTenant("shop1")
        // Make the rotation's second statement fail after the new version row was inserted.
        try await f.raw().write { db in
            try db.execute(sql: "CREATE TRIGGER fail_rotation BEFORE UPDATE OF current_version ON tenants BEGIN SELECT RAISE(ABORT, 'boom'); END")
        }
        await #expect(throws: (any Error).self) { _ = try await f.store.rotateTenantKey(tenant: "shop1") }
        try await f.raw().write { db in try db.execute(sql: "DROP TRIGGER fail_rotation") }
        #expect(try await f.store.rotateTenantKey(tenant: "shop1") == 2)
        try await f.store.openSession(tenant: "shop1", session: "s", channel: "web", identifiers: [], at: Date())
        _ = try await f.store.append([PendingMessage(tenant: "shop1", session: "s", role: .bot, text: "under v2")])
        #expect(try await f.reopen().transcript(tenant: "shop1", session: "s").map(\.text) == ["under v2"])
    }
}
