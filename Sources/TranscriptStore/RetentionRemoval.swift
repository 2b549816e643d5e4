import Foundation
import GRDB
import Sealing

/// A database another component keeps beside the store, attached (as schema `ledger`) to the
/// store's write transaction so a check against it and the store's change are one unit: the
/// transaction is `BEGIN IMMEDIATE`, which takes the write lock of the attached file too, so
/// nobody can commit to it between the check and the change.
public struct AttachedCheck: Sendable {
    /// The SQLite file to attach as `ledger`.
    public var path: String
    /// Runs first inside the transaction; throwing aborts it (nothing changes). Arguments: the
    /// database connection and the session ids the change is about to remove.
    public var check: @Sendable (Database, _ sessions: [String]) throws -> Void
    public init(path: String, check: @escaping @Sendable (Database, _ sessions: [String]) throws -> Void) {
        self.path = path
        self.check = check
    }
}

/// Retention primitives beyond whole-session removal (``SubjectRemoval/sweepExpiredSessions``):
/// expiring message content while the session row stays, and pruning the access log.
public protocol RetentionRemoval: Sendable {
    /// Deletes the messages of sessions whose last activity is before `cutoff` (the session rows,
    /// their identifier links and subjects stay: they are session metadata with their own
    /// retention). A subject key left sealing no message at all is destroyed and its links move to
    /// a new subject with a fresh key, so the old ciphertext is gone for good while the customer
    /// can still chat.
    /// Sessions in `excludedSessions` or returned by `excluding` inside each batch (legal holds)
    /// are skipped. `counts.sessions` counts sessions whose messages went; `keyIDs` the keys replaced.
    /// `notBefore`: sessions last active before it are left alone (a dry run's session-metadata
    /// pass already counts them, since it removes nothing).
    func expireMessages(tenant: String, lastActivityBefore cutoff: Date, notBefore: Date?, excludedSessions: Set<String>,
                        excluding: AttachedExclusion?, batchSize: Int, dryRun: Bool,
                        progress: (@Sendable (SweepProgress) -> Void)?) async throws -> RemovalCounts
    /// Removes subjects left with no session at all (e.g. their last linked session was erased
    /// through another subject) created before `cutoff`, except those with an identifier in
    /// `heldBlindIndexes`: keys destroyed, identifier links and rows deleted. Returns (subjects, links).
    func removeSubjectsWithoutSessions(tenant: String, createdBefore cutoff: Date, heldBlindIndexes: [[UInt8]],
                                       dryRun: Bool) async throws -> (subjects: Int, links: Int)
    /// Deletes the tenant's access-log entries older than `cutoff`, `batchSize` per transaction,
    /// except entries whose target is in `keeping` (held sessions and subjects).
    func pruneAccessLog(tenant: String, before cutoff: Date, keeping: Set<String>, batchSize: Int, dryRun: Bool) async throws -> Int
}

extension SQLiteTranscriptStore: RetentionRemoval {
    public func expireMessages(tenant: String, lastActivityBefore cutoff: Date, notBefore: Date? = nil, excludedSessions: Set<String>,
                               excluding: AttachedExclusion? = nil, batchSize: Int = 200, dryRun: Bool,
                               progress: (@Sendable (SweepProgress) -> Void)? = nil) async throws -> RemovalCounts {
        let limit = max(1, batchSize)
        let before = cutoff.timeIntervalSince1970
        // Expired sessions that still hold messages (session ids are stable; new sessions are never expired).
        let expired = try await pool.read { db -> [String] in
            _ = try self.currentVersion(db, tenant: tenant)
            return try db.values(String.self, sql: """
                SELECT s.id FROM sessions s WHERE s.tenant_id = ? AND s.last_activity_at < ? AND s.last_activity_at >= ?
                AND EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id) ORDER BY s.id
                """, arguments: [tenant, before, notBefore?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude]).filter { !excludedSessions.contains($0) }
        }
        let expiredSet = Set(expired)
        var counts = RemovalCounts()
        var start = 0
        while start < expired.count {
            let batch = Array(expired[start..<min(start + limit, expired.count)])
            start += batch.count
            let step = try await writeWithAttached(excluding?.attached) { db -> (sessions: Int, messages: Int, keys: [Int64]) in
                var sessions = 0, messages = 0
                var keySubjects = Set<Int64>()
                // Holds placed since the sweep started are read under the ledger's write lock.
                let heldNow = try excluding.map { try $0.sessions(db) } ?? []
                for id in batch where !heldNow.contains(id) {
                    // Re-checked inside the write: a chat that came back to life keeps its messages.
                    guard let row = try db.row(sql: "SELECT subject_id, last_activity_at FROM sessions WHERE tenant_id = ? AND id = ?",
                                               arguments: [tenant, id]),
                          (row["last_activity_at"] as Double) < before else { continue }
                    let n = try db.value(Int.self, sql: "SELECT COUNT(*) FROM messages WHERE tenant_id = ? AND session_id = ?",
                                         arguments: [tenant, id]) ?? 0
                    guard n > 0 else { continue }
                    sessions += 1
                    messages += n
                    keySubjects.insert(row["subject_id"])
                    if !dryRun { try db.run(sql: "DELETE FROM messages WHERE tenant_id = ? AND session_id = ?", arguments: [tenant, id]) }
                }
                var replaced: [Int64] = []
                for k in keySubjects.sorted() {
                    let sealed = try db.values(String.self, sql: "SELECT id FROM sessions WHERE tenant_id = ? AND subject_id = ?",
                                               arguments: [tenant, k])
                    var left = 0
                    for s in sealed where !(dryRun && expiredSet.contains(s)) {
                        left += try db.value(Int.self, sql: "SELECT COUNT(*) FROM messages WHERE tenant_id = ? AND session_id = ?",
                                             arguments: [tenant, s]) ?? 0
                    }
                    guard left == 0 else { continue }
                    replaced.append(k)
                    if !dryRun { try self.rekeySubject(db, tenant: tenant, subject: k) }
                }
                return (sessions, messages, replaced)
            }
            if !dryRun { keys.dropSubjects(step.keys) }
            counts.sessions += step.sessions
            counts.messages += step.messages
            counts.keyIDs += step.keys.map { "subject:\($0)" }
            progress?(SweepProgress(sessions: counts.sessions, total: expired.count, messages: counts.messages))
        }
        if !dryRun && counts.messages > 0 { try await checkpoint() }
        return counts
    }

    /// Destroys the subject's key and gives its identifier links and (now empty) sessions a new
    /// subject with a fresh key. A new row id rather than new bytes under the old id: cached
    /// subject keys (this process's or another's, e.g. a relay running while the CLI sweeps) are
    /// keyed by id and assumed never to change, so a stale cache can never seal with a dead key.
    func rekeySubject(_ db: Database, tenant: String, subject: Int64) throws {
        let fresh = try createSubject(db, tenant: tenant, version: try currentVersion(db, tenant: tenant), at: Date())
        for table in ["subject_identifiers", "session_subjects", "sessions"] {
            try db.run(sql: "UPDATE \(table) SET subject_id = ? WHERE tenant_id = ? AND subject_id = ?", arguments: [fresh, tenant, subject])
        }
        try destroySubjectKeys(db, [subject])
        try db.run(sql: "DELETE FROM subjects WHERE id = ?", arguments: [subject])
    }

    public func removeSubjectsWithoutSessions(tenant: String, createdBefore cutoff: Date, heldBlindIndexes: [[UInt8]],
                                              dryRun: Bool) async throws -> (subjects: Int, links: Int) {
        let held = Set(heldBlindIndexes.map { Data($0) })
        let body: @Sendable (Database) throws -> (ids: [Int64], links: Int) = { db in
            let orphans = try db.values(Int64.self, sql: """
                SELECT s.id FROM subjects s WHERE s.tenant_id = ? AND s.created_at < ?
                AND NOT EXISTS (SELECT 1 FROM session_subjects ss WHERE ss.subject_id = s.id)
                AND NOT EXISTS (SELECT 1 FROM sessions x WHERE x.subject_id = s.id) ORDER BY s.id
                """, arguments: [tenant, cutoff.timeIntervalSince1970])
            var ids: [Int64] = []
            var links = 0
            for id in orphans {
                let indexes = try db.values(Data.self, sql: "SELECT blind_index FROM subject_identifiers WHERE tenant_id = ? AND subject_id = ?",
                                            arguments: [tenant, id])
                if indexes.contains(where: held.contains) { continue }
                ids.append(id)
                links += indexes.count
            }
            if !dryRun {
                try self.destroySubjectKeys(db, ids)
                try self.deleteSubjects(db, tenant: tenant, ids)
            }
            return (ids, links)
        }
        let result = dryRun ? try await pool.read(body) : try await pool.write(body)
        if !dryRun { keys.dropSubjects(result.ids) }
        return (result.ids.count, result.links)
    }

    public func pruneAccessLog(tenant: String, before cutoff: Date, keeping: Set<String> = [], batchSize: Int = 1_000,
                               dryRun: Bool) async throws -> Int {
        let at = cutoff.timeIntervalSince1970
        let kept = String(decoding: try JSONEncoder().encode(keeping.sorted()), as: UTF8.self)
        if dryRun {
            return try await pool.read { db in
                try db.value(Int.self, sql: """
                    SELECT COUNT(*) FROM access_log WHERE tenant_id = ? AND at < ? AND target NOT IN (SELECT value FROM json_each(?))
                    """, arguments: [tenant, at, kept]) ?? 0
            }
        }
        var removed = 0
        while true {
            let n = try await pool.write { db -> Int in
                // The delete trigger refuses rows at or after this tenant's recorded prune point.
                try db.run(sql: "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: ["access_log_prune_before:" + tenant, String(at)])
                try db.run(sql: """
                    DELETE FROM access_log WHERE id IN (SELECT id FROM access_log WHERE tenant_id = ? AND at < ?
                    AND target NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?)
                    """, arguments: [tenant, at, kept, max(1, batchSize)])
                return db.changesCount
            }
            removed += n
            if n == 0 { break }
        }
        return removed
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` write transaction with `attached` attached as `ledger`.
    func writeWithAttached<T: Sendable>(_ attached: AttachedCheck?, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        guard let attached else { return try await pool.write(body) }
        return try await pool.writeWithoutTransaction { db in
            // A detach that failed earlier must not leave every later guarded write failing.
            if try String.fetchAll(db, sql: "SELECT name FROM pragma_database_list").contains("ledger") {
                try db.execute(sql: "DETACH DATABASE ledger")
            }
            try db.execute(sql: "ATTACH DATABASE ? AS ledger", arguments: [attached.path])
            defer { try? db.execute(sql: "DETACH DATABASE ledger") }
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }
}

/// Sessions a sweep must leave alone, read inside each batch's transaction from an attached
/// database (legal holds), so nothing placed after the sweep started is missed.
public struct AttachedExclusion: Sendable {
    public var attached: AttachedCheck
    /// The excluded session ids, read through the connection (the file is attached as `ledger`).
    public var sessions: @Sendable (Database) throws -> Set<String>
    public init(path: String, sessions: @escaping @Sendable (Database) throws -> Set<String>) {
        attached = AttachedCheck(path: path) { _, _ in }
        self.sessions = sessions
    }
}
