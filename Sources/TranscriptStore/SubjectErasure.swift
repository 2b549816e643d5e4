import Foundation
import GRDB
import Sealing

/// What the store holds for one data subject, found through the blind index.
public struct SubjectFootprint: Sendable, Hashable {
    /// Sessions linked to the subject (opened under its key or linked by an identifier).
    public var sessions: [SessionInfo]
    /// Messages in those sessions.
    public var messageCount: Int
    /// Subject keys that erasure destroys: the subject's own key and the key of every session
    /// it would delete whose key subject has no other session left. As `subject:<row id>`.
    public var keyIDs: [String]
}

/// What an erasure or a retention sweep removed (or, in a dry run, would remove).
public struct RemovalCounts: Sendable, Hashable {
    public var sessions: Int = 0
    public var messages: Int = 0
    /// Subject keys destroyed, as `subject:<row id>`.
    public var keyIDs: [String] = []
    /// Identifier links (blind-index rows) deleted with subjects left without sessions.
    public var identifierLinks: Int = 0
    /// Subject rows deleted (their keys destroyed first).
    public var subjects: Int = 0
    public init() {}
}

/// Progress of a retention sweep.
public struct SweepProgress: Sendable, Hashable {
    /// Sessions removed (or found, in a dry run) so far.
    public var sessions: Int
    /// Expired sessions counted when the sweep started (held ones excluded).
    public var total: Int
    public var messages: Int
}

/// The removal primitives compliance builds on (erasure, retention). Additive to
/// ``TranscriptStore``: a PostgreSQL backend would implement the same three calls.
public protocol SubjectRemoval: Sendable {
    /// The blind index of `identifier` under the tenant's blind-index key (for legal holds,
    /// which must name a subject without storing the identifier).
    func blindIndex(tenant: String, _ identifier: SubjectIdentifier) async throws -> [UInt8]
    /// Sessions linked to any subject with one of these blind indexes (what legal holds protect).
    func sessionIDs(tenant: String, blindIndexes: [[UInt8]]) async throws -> Set<String>
    /// Every session and key of the subject, or nil when no identifier of it is indexed.
    func footprint(tenant: String, subject: SubjectIdentifier) async throws -> SubjectFootprint?
    /// Crypto-shreds and deletes the subject: first destroys its subject keys (one committed
    /// transaction), then deletes messages, sessions and index rows, then checkpoints and
    /// truncates the WAL. Returns zero counts when nothing is indexed for it (idempotent).
    ///
    /// `guardedBy` runs inside the key-destruction transaction with its database attached and
    /// write-locked (legal holds): if it throws, nothing is erased.
    func eraseSubject(tenant: String, subject: SubjectIdentifier, guardedBy: AttachedCheck?) async throws -> RemovalCounts
    /// Removes sessions whose last activity is before `cutoff`, except those linked to a subject
    /// with one of `heldBlindIndexes`, in batches of `batchSize` sessions (one short write
    /// transaction each, so live chat writes interleave). A dry run only counts. `excluding`
    /// (legal holds) is called inside every batch's transaction with its database attached and
    /// write-locked and returns sessions that must stay, so a hold placed mid-sweep is honoured.
    func sweepExpiredSessions(tenant: String, lastActivityBefore cutoff: Date, heldBlindIndexes: [[UInt8]],
                              excluding: AttachedExclusion?, batchSize: Int, dryRun: Bool,
                              progress: (@Sendable (SweepProgress) -> Void)?) async throws -> RemovalCounts
}

extension SQLiteTranscriptStore: SubjectRemoval {
    public func blindIndex(tenant: String, _ identifier: SubjectIdentifier) async throws -> [UInt8] {
        try await pool.read { db in
            _ = try self.currentVersion(db, tenant: tenant)
            return try self.blindIndexes(db, tenant: tenant, [identifier])[0].1
        }
    }

    public func sessionIDs(tenant: String, blindIndexes: [[UInt8]]) async throws -> Set<String> {
        try await pool.read { db in try self.sessionIDs(db, tenant: tenant, blindIndexes: blindIndexes) }
    }

    func sessionIDs(_ db: Database, tenant: String, blindIndexes: [[UInt8]]) throws -> Set<String> {
        _ = try currentVersion(db, tenant: tenant)
        var sessions = Set<String>()
        for b in blindIndexes {
            for s in try db.values(Int64.self, sql: "SELECT subject_id FROM subject_identifiers WHERE tenant_id = ? AND blind_index = ?",
                                   arguments: [tenant, Data(b)]) {
                sessions.formUnion(try db.values(String.self, sql: "SELECT session_id FROM session_subjects WHERE tenant_id = ? AND subject_id = ?",
                                                 arguments: [tenant, s]))
            }
        }
        return sessions
    }

    /// The subject row ids indexed by the identifier (one, normally).
    func subjectIDs(_ db: Database, tenant: String, subject: SubjectIdentifier) throws -> [Int64] {
        _ = try currentVersion(db, tenant: tenant)
        let b = try blindIndexes(db, tenant: tenant, [subject])[0].1
        return try db.values(Int64.self, sql: "SELECT subject_id FROM subject_identifiers WHERE tenant_id = ? AND blind_index = ?",
                             arguments: [tenant, Data(b)])
    }

    /// Sessions to delete and subject keys to destroy for `subjects`.
    func plan(_ db: Database, tenant: String, subjects: [Int64]) throws -> (sessions: [String], keys: [Int64], messages: Int) {
        var sessions = Set<String>()
        for s in subjects {
            sessions.formUnion(try db.values(String.self, sql: "SELECT session_id FROM session_subjects WHERE tenant_id = ? AND subject_id = ?",
                                             arguments: [tenant, s]))
        }
        var keys = Set(subjects)
        var messages = 0
        for id in sessions {
            messages += try db.value(Int.self, sql: "SELECT COUNT(*) FROM messages WHERE tenant_id = ? AND session_id = ?",
                                     arguments: [tenant, id]) ?? 0
            // A session sealed under another subject's key: destroy that key too when every
            // session it seals is going (otherwise it still protects someone else's data).
            if let keySubject = try db.value(Int64.self, sql: "SELECT subject_id FROM sessions WHERE tenant_id = ? AND id = ?",
                                             arguments: [tenant, id]), !keys.contains(keySubject) {
                let sealed = try db.values(String.self, sql: "SELECT id FROM sessions WHERE tenant_id = ? AND subject_id = ?",
                                           arguments: [tenant, keySubject])
                if sealed.allSatisfy(sessions.contains) { keys.insert(keySubject) }
            }
        }
        return (sessions.sorted(), keys.sorted(), messages)
    }

    public func footprint(tenant: String, subject: SubjectIdentifier) async throws -> SubjectFootprint? {
        try await pool.read { db in
            let subjects = try self.subjectIDs(db, tenant: tenant, subject: subject)
            if subjects.isEmpty { return nil }
            let p = try self.plan(db, tenant: tenant, subjects: subjects)
            return SubjectFootprint(sessions: try p.sessions.map { try self.sessionInfo(db, tenant: tenant, session: $0) },
                                    messageCount: p.messages, keyIDs: p.keys.map { "subject:\($0)" })
        }
    }

    public func eraseSubject(tenant: String, subject: SubjectIdentifier, guardedBy: AttachedCheck? = nil) async throws -> RemovalCounts {
        // 1. Keys first, committed on their own: if anything later fails, the rows left behind
        //    are already unreadable. The guard (legal holds) is checked in the same transaction.
        let planned = try await writeWithAttached(guardedBy) { db -> (sessions: [String], keys: [Int64], messages: Int)? in
            let subjects = try self.subjectIDs(db, tenant: tenant, subject: subject)
            let p = try self.plan(db, tenant: tenant, subjects: subjects)
            try guardedBy?.check(db, p.sessions)
            if subjects.isEmpty { return nil }
            try self.destroySubjectKeys(db, p.keys)
            return p
        }
        guard let planned else { return RemovalCounts() }
        keys.dropSubjects(planned.keys)
        // 2. Rows.
        let links = try await pool.write { db in
            try self.deleteSessions(db, tenant: tenant, planned.sessions)
            return try self.deleteSubjects(db, tenant: tenant, planned.keys)
        }
        // 3. Deleted pages out of the WAL into the secure_delete main file; WAL truncated.
        try await checkpoint()
        var counts = RemovalCounts()
        counts.sessions = planned.sessions.count
        counts.messages = planned.messages
        counts.keyIDs = planned.keys.map { "subject:\($0)" }
        counts.identifierLinks = links
        counts.subjects = planned.keys.count
        return counts
    }

    /// Overwrites the wrapped keys (secure_delete also zeroes freed cells) so the rows that
    /// still name the subject hold no key material.
    func destroySubjectKeys(_ db: Database, _ ids: [Int64]) throws {
        for id in ids {
            try db.run(sql: "UPDATE subjects SET wrapped_key = zeroblob(length(wrapped_key)) WHERE id = ?", arguments: [id])
        }
    }

    /// Deletes the subjects with their links; returns the identifier links deleted.
    @discardableResult
    func deleteSubjects(_ db: Database, tenant: String, _ ids: [Int64]) throws -> Int {
        var links = 0
        for id in ids {
            try db.run(sql: "DELETE FROM subject_identifiers WHERE tenant_id = ? AND subject_id = ?", arguments: [tenant, id])
            links += db.changesCount
            try db.run(sql: "DELETE FROM session_subjects WHERE tenant_id = ? AND subject_id = ?", arguments: [tenant, id])
            try db.run(sql: "DELETE FROM subjects WHERE id = ?", arguments: [id])
        }
        return links
    }

    func deleteSessions(_ db: Database, tenant: String, _ sessions: [String]) throws {
        for id in sessions {
            try db.run(sql: "DELETE FROM messages WHERE tenant_id = ? AND session_id = ?", arguments: [tenant, id])
            try db.run(sql: "DELETE FROM session_subjects WHERE tenant_id = ? AND session_id = ?", arguments: [tenant, id])
            try db.run(sql: "DELETE FROM sessions WHERE tenant_id = ? AND id = ?", arguments: [tenant, id])
        }
    }

    public func sweepExpiredSessions(tenant: String, lastActivityBefore cutoff: Date, heldBlindIndexes: [[UInt8]],
                                     excluding: AttachedExclusion? = nil, batchSize: Int = 500, dryRun: Bool,
                                     progress: (@Sendable (SweepProgress) -> Void)? = nil) async throws -> RemovalCounts {
        let limit = max(1, batchSize)
        let before = cutoff.timeIntervalSince1970
        // Held subjects and every session linked to them are excluded for the whole sweep.
        let (held, total) = try await pool.read { db -> (Set<String>, Int) in
            let heldSessions = try self.sessionIDs(db, tenant: tenant, blindIndexes: heldBlindIndexes)
            let expired = try db.values(String.self, sql: "SELECT id FROM sessions WHERE tenant_id = ? AND last_activity_at < ?",
                                        arguments: [tenant, before])
            return (heldSessions, expired.filter { !heldSessions.contains($0) }.count)
        }
        var counts = RemovalCounts()
        var after = ""
        while true {
            let from = after
            let step = try await writeWithAttached(excluding?.attached) { db -> (last: String?, sessions: Int, messages: Int, keys: [Int64], links: Int) in
                let candidates = try db.values(String.self, sql: """
                    SELECT id FROM sessions WHERE tenant_id = ? AND id > ? AND last_activity_at < ? ORDER BY id LIMIT ?
                    """, arguments: [tenant, from, before, limit])
                // Holds placed since the sweep started are read under the ledger's write lock.
                let heldNow = try excluding.map { try $0.sessions(db) } ?? []
                let sessions = candidates.filter { !held.contains($0) && !heldNow.contains($0) }
                var messages = 0
                for id in sessions {
                    messages += try db.value(Int.self, sql: "SELECT COUNT(*) FROM messages WHERE tenant_id = ? AND session_id = ?",
                                             arguments: [tenant, id]) ?? 0
                }
                // Subjects left with no session once these go lose their keys and index rows.
                var orphaned: [Int64] = []
                let going = Set(sessions)
                var touched = Set<Int64>()
                for id in sessions {
                    touched.formUnion(try db.values(Int64.self, sql: "SELECT subject_id FROM session_subjects WHERE tenant_id = ? AND session_id = ?",
                                                    arguments: [tenant, id]))
                    if let k = try db.value(Int64.self, sql: "SELECT subject_id FROM sessions WHERE tenant_id = ? AND id = ?", arguments: [tenant, id]) {
                        touched.insert(k)
                    }
                }
                for s in touched.sorted() {
                    let linked = try db.values(String.self, sql: "SELECT session_id FROM session_subjects WHERE tenant_id = ? AND subject_id = ?",
                                               arguments: [tenant, s])
                    let sealed = try db.values(String.self, sql: "SELECT id FROM sessions WHERE tenant_id = ? AND subject_id = ?",
                                               arguments: [tenant, s])
                    if (linked + sealed).allSatisfy(going.contains) { orphaned.append(s) }
                }
                var links = 0
                if !dryRun {
                    try self.destroySubjectKeys(db, orphaned)
                    try self.deleteSessions(db, tenant: tenant, sessions)
                    links = try self.deleteSubjects(db, tenant: tenant, orphaned)
                } else {
                    for s in orphaned {
                        links += try db.value(Int.self, sql: "SELECT COUNT(*) FROM subject_identifiers WHERE tenant_id = ? AND subject_id = ?",
                                              arguments: [tenant, s]) ?? 0
                    }
                }
                return (candidates.last, sessions.count, messages, orphaned, links)
            }
            counts.sessions += step.sessions
            counts.messages += step.messages
            counts.keyIDs += step.keys.map { "subject:\($0)" }
            counts.subjects += step.keys.count
            counts.identifierLinks += step.links
            if !dryRun { keys.dropSubjects(step.keys) }
            if step.sessions > 0 { progress?(SweepProgress(sessions: counts.sessions, total: total, messages: counts.messages)) }
            guard let last = step.last else { break }
            after = last
        }
        if !dryRun && counts.sessions > 0 { try await checkpoint() }
        return counts
    }
}
