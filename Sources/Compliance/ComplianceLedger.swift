import Foundation
import GRDB
import Sealing

/// A position in a tenant's audit chain: receipts quote it, `audit verify --receipt` checks it.
public struct AuditPosition: Sendable, Hashable, Codable {
    public var sequence: Int
    /// Hex BLAKE2b-256 chain hash of the entry at `sequence`.
    public var hash: String
    public init(sequence: Int, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }
}

/// One audit entry. No personal data: counts, commitments, request ids and key ids only.
public struct AuditEntry: Sendable, Hashable {
    public var tenant: String
    public var sequence: Int
    public var at: Date
    public var actor: String
    /// e.g. `erase`, `erase.refused`, `export`, `hold.add`, `retention.sweep`, `epoch`.
    public var action: String
    /// Sorted key/value details (counts, commitments, request id).
    public var detail: [String: String]
    public var previousHash: [UInt8]
    public var hash: [UInt8]
}

/// A legal hold: names the subject only by its blind index.
public struct LegalHold: Sendable, Hashable {
    public var id: Int64
    public var tenant: String
    public var kind: String
    public var reason: String
    public var createdAt: Date
    public var createdBy: String
    public var releasedAt: Date?
}

/// Compliance state beside the transcript database (`compliance.sqlite`): the hash-chained
/// audit log with a signed checkpoint per entry, legal holds and erasures awaiting their epoch.
/// Kept in its own file so the audit log outlives transcript erasure and retention.
public final class ComplianceLedger: Sendable {
    let queue: DatabaseQueue
    public let path: String

    public init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON; PRAGMA synchronous = FULL")
        }
        config.busyMode = .timeout(10)
        // WAL: one fsync per durable append instead of a rollback journal's three.
        config.journalMode = .wal
        queue = try DatabaseQueue(path: path, configuration: config)
        self.path = path
        try Self.migrator.migrate(queue)
        for file in [path, path + "-wal", path + "-shm", path + "-journal"] { _ = chmod(file, 0o600) }
    }

    /// Never edit a registered migration; append new ones.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: audit chain, checkpoints, legal holds, erasures") { db in
            try db.execute(sql: """
                CREATE TABLE audit_entries (
                    tenant_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    at REAL NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    prev_hash BLOB NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY (tenant_id, seq)
                ) WITHOUT ROWID;
                CREATE TABLE audit_checkpoints (
                    tenant_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    public_key BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    PRIMARY KEY (tenant_id, seq)
                ) WITHOUT ROWID;
                CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
                    BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
                CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
                    BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
                CREATE TABLE legal_holds (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL,
                    blind_index BLOB NOT NULL,
                    kind TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    created_by TEXT NOT NULL,
                    released_at REAL,
                    released_by TEXT
                );
                CREATE TABLE erasures (
                    tenant_id TEXT NOT NULL,
                    request_id TEXT NOT NULL,
                    erased_at REAL NOT NULL,
                    epoch_completed_at REAL,
                    PRIMARY KEY (tenant_id, request_id)
                ) WITHOUT ROWID;
                """)
        }
        // Retention of the audit log: entries up to a signed checkpoint may be pruned; that
        // checkpoint becomes the chain's anchor (verify starts from it) and only entries at or
        // before the anchor can be deleted.
        m.registerMigration("v2: audit anchors (retention)") { db in
            try db.execute(sql: """
                CREATE TABLE audit_anchors (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    seq INTEGER NOT NULL,
                    hash BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE TRIGGER audit_anchors_forward BEFORE UPDATE ON audit_anchors WHEN NEW.seq < OLD.seq
                    BEGIN SELECT RAISE(ABORT, 'the audit anchor only moves forward'); END;
                DROP TRIGGER audit_entries_no_delete;
                CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
                    WHEN OLD.seq > COALESCE((SELECT seq FROM audit_anchors WHERE tenant_id = OLD.tenant_id), 0)
                    BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END;
                """)
        }
        // The hold's subject pseudonym (keyed, as in the access log), so retention keeps the
        // access-log entries about a held subject.
        m.registerMigration("v3: hold pseudonyms") { db in
            try db.execute(sql: "ALTER TABLE legal_holds ADD COLUMN pseudonym TEXT")
        }
        return m
    }

    // MARK: Audit chain

    static let genesis = [UInt8](repeating: 0, count: 32)

    static func entryHash(previous: [UInt8], tenant: String, sequence: Int, at: Date, actor: String, action: String, detail: String) -> [UInt8] {
        ChainHash.digest([Array("KRchain1".utf8), previous, Array(tenant.utf8), Array(String(sequence).utf8),
                          Array(String(Int64((at.timeIntervalSince1970 * 1000).rounded())).utf8),
                          Array(actor.utf8), Array(action.utf8), Array(detail.utf8)])
    }

    static func checkpointMessage(tenant: String, sequence: Int, hash: [UInt8]) -> [UInt8] {
        Array("KRcheckpoint1".utf8) + Array(tenant.utf8) + [0] + Array(String(sequence).utf8) + [0] + hash
    }

    static func encodeDetail(_ detail: [String: String]) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? enc.encode(detail)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Appends an entry and a checkpoint signed by the tenant's compliance key, in one durable
    /// transaction. Times are stored to the millisecond (the chain hashes that value).
    @discardableResult
    public func append(tenant: String, actor: String, action: String, detail: [String: String],
                       at: Date = Date(), signer: Ed25519SigningKey, pendingErasure: String? = nil) throws -> AuditPosition {
        try queue.write { db in
            try Self.append(db, tenant: tenant, actor: actor, action: action, detail: detail, at: at, signer: signer, pendingErasure: pendingErasure)
        }
    }

    static func append(_ db: Database, tenant: String, actor: String, action: String, detail: [String: String],
                       at: Date, signer: Ed25519SigningKey, pendingErasure: String?) throws -> AuditPosition {
            let at = Date(timeIntervalSince1970: (at.timeIntervalSince1970 * 1000).rounded() / 1000)
            let detailText = Self.encodeDetail(detail)
            let last = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_entries WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1",
                                        arguments: [tenant])
            let seq = (last?["seq"] as Int? ?? 0) + 1
            let prev = (last?["hash"] as Data?).map { [UInt8]($0) } ?? Self.genesis
            let hash = Self.entryHash(previous: prev, tenant: tenant, sequence: seq, at: at, actor: actor, action: action, detail: detailText)
            try db.execute(sql: """
                INSERT INTO audit_entries(tenant_id, seq, at, actor, action, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tenant, seq, at.timeIntervalSince1970, actor, action, detailText, Data(prev), Data(hash)])
            let sig = signer.sign(Self.checkpointMessage(tenant: tenant, sequence: seq, hash: hash))
            try db.execute(sql: "INSERT INTO audit_checkpoints(tenant_id, seq, hash, public_key, signature) VALUES (?, ?, ?, ?, ?)",
                           arguments: [tenant, seq, Data(hash), Data(signer.publicKey), Data(sig)])
            // An erasure awaiting its epoch is recorded with its audit entry (one commit).
            if let request = pendingErasure {
                try db.execute(sql: "INSERT OR IGNORE INTO erasures(tenant_id, request_id, erased_at) VALUES (?, ?, ?)",
                               arguments: [tenant, request, at.timeIntervalSince1970])
            }
            return AuditPosition(sequence: seq, hash: Hex.encode(hash))
    }

    /// Entries oldest first, optionally filtered.
    public func entries(tenant: String?, action: String? = nil, since: Date? = nil) throws -> [AuditEntry] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM audit_entries WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR action = ?2 OR action LIKE ?2 || '.%')
                AND (?3 IS NULL OR at >= ?3) ORDER BY tenant_id, seq
                """, arguments: [tenant, action, since?.timeIntervalSince1970]).map(Self.entry)
        }
    }

    static func entry(_ r: Row) -> AuditEntry {
        let detailText: String = r["detail"]
        let detail = (try? JSONDecoder().decode([String: String].self, from: Data(detailText.utf8))) ?? [:]
        return AuditEntry(tenant: r["tenant_id"], sequence: r["seq"], at: Date(timeIntervalSince1970: r["at"]), actor: r["actor"],
                          action: r["action"], detail: detail, previousHash: [UInt8](r["prev_hash"] as Data), hash: [UInt8](r["hash"] as Data))
    }

    /// Checks the tenant's chain against `publicKey`: every entry links to the previous one,
    /// hashes to its stored hash, and every checkpoint is validly signed and matches its entry.
    /// Detects edited, reordered, removed (a gap) and truncated (a checkpoint past the end)
    /// entries. `expected` positions (from receipts) must be present with the same hash.
    public func verify(tenant: String, publicKey: [UInt8], expected: [AuditPosition] = []) throws -> AuditVerification {
        try queue.read { db in
            var problems: [String] = []
            var prev = Self.genesis
            var hashes: [Int: [UInt8]] = [:]
            var expectedSeq = 1
            // After retention pruned the oldest entries, the chain starts at the anchor: the
            // pruned-through entry's hash, which a signed checkpoint and a later prune entry vouch for.
            let anchor = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_anchors WHERE tenant_id = ?", arguments: [tenant])
                .map { (seq: $0["seq"] as Int, hash: [UInt8]($0["hash"] as Data)) }
            if let anchor {
                prev = anchor.hash
                expectedSeq = anchor.seq + 1
                hashes[anchor.seq] = anchor.hash
            }
            var anchorVouched = anchor == nil
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit_entries WHERE tenant_id = ? ORDER BY seq", arguments: [tenant])
            for r in rows {
                let seq: Int = r["seq"]
                let at = Date(timeIntervalSince1970: r["at"])
                let storedPrev = [UInt8](r["prev_hash"] as Data), stored = [UInt8](r["hash"] as Data)
                if seq != expectedSeq {
                    problems.append(seq > expectedSeq ? "entries \(expectedSeq)…\(seq - 1) are missing (removed)" : "entry \(seq) is out of order")
                }
                if storedPrev != prev {
                    problems.append("entry \(seq) does not link to the entry before it (removed or reordered entries)")
                }
                let recomputed = Self.entryHash(previous: storedPrev, tenant: tenant, sequence: seq, at: at, actor: r["actor"],
                                                action: r["action"], detail: r["detail"])
                if recomputed != stored { problems.append("entry \(seq) was edited (its content does not match its hash)") }
                hashes[seq] = stored
                prev = stored
                expectedSeq = seq + 1
                if let anchor, (r["action"] as String) == "audit.prune" {
                    let d = (try? JSONDecoder().decode([String: String].self, from: Data((r["detail"] as String).utf8))) ?? [:]
                    if d["through"] == String(anchor.seq) && d["anchorHash"] == Hex.encode(anchor.hash) { anchorVouched = true }
                }
            }
            if let anchor, !anchorVouched {
                problems.append("entries up to \(anchor.seq) were removed without a recorded prune (no audit.prune entry names that anchor)")
            }
            let last = expectedSeq - 1
            var checkpoints = 0
            var anchorSigned = anchor == nil
            for c in try Row.fetchAll(db, sql: "SELECT seq, hash, signature FROM audit_checkpoints WHERE tenant_id = ? AND seq >= ? ORDER BY seq",
                                      arguments: [tenant, anchor?.seq ?? 0]) {
                let seq: Int = c["seq"]
                let hash = [UInt8](c["hash"] as Data)
                guard Ed25519SigningKey.verify(signature: [UInt8](c["signature"] as Data),
                                               message: Self.checkpointMessage(tenant: tenant, sequence: seq, hash: hash), publicKey: publicKey) else {
                    problems.append("checkpoint at entry \(seq) has a bad signature (forged, edited, or another key)")
                    continue
                }
                checkpoints += 1
                if seq == anchor?.seq && hash == anchor?.hash { anchorSigned = true }
                if seq > last {
                    problems.append("signed checkpoint at entry \(seq) is past the last entry \(last): entries were removed from the end")
                } else if hashes[seq] != hash {
                    problems.append("entry \(seq) differs from its signed checkpoint (edited or rewritten chain)")
                }
            }
            if let anchor, !anchorSigned {
                problems.append("the prune anchor at entry \(anchor.seq) has no valid signed checkpoint")
            }
            for p in expected {
                if let anchor, p.sequence < anchor.seq { continue }  // pruned by retention, recorded in the chain
                guard let h = hashes[p.sequence] else {
                    problems.append("entry \(p.sequence) quoted by a receipt is missing (truncated log)")
                    continue
                }
                if Hex.encode(h) != p.hash { problems.append("entry \(p.sequence) differs from the hash quoted by a receipt") }
            }
            return AuditVerification(tenant: tenant, entries: rows.count, checkpoints: checkpoints, problems: problems,
                                     prunedThrough: anchor?.seq)
        }
    }

    /// Prunes the tenant's entries older than `before`, up to the newest such entry that has a
    /// signed checkpoint, which becomes the anchor `verify` starts from; records the pruning as an
    /// `audit.prune` entry (anchor sequence and hash, count) in the same transaction. The whole
    /// chain is verified first: a tampered log is never pruned. At least the newest entry stays.
    public func prune(tenant: String, before: Date, signer: Ed25519SigningKey, actor: String, at: Date, dryRun: Bool) throws -> AuditPruneResult {
        let check = try verify(tenant: tenant, publicKey: signer.publicKey)
        guard check.intact else { throw AuditPruneError.chainBroken(check.problems) }
        return try queue.write { db in
            let from = try Int.fetchOne(db, sql: "SELECT seq FROM audit_anchors WHERE tenant_id = ?", arguments: [tenant]) ?? 0
            let newest = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_entries WHERE tenant_id = ?", arguments: [tenant]) ?? 0
            guard let row = try Row.fetchOne(db, sql: """
                SELECT e.seq, e.hash FROM audit_entries e JOIN audit_checkpoints c ON c.tenant_id = e.tenant_id AND c.seq = e.seq AND c.hash = e.hash
                WHERE e.tenant_id = ? AND e.at < ? AND e.seq < ? ORDER BY e.seq DESC LIMIT 1
                """, arguments: [tenant, before.timeIntervalSince1970, newest]) else {
                return AuditPruneResult(entries: 0, through: nil, position: nil)
            }
            let through: Int = row["seq"], hash = [UInt8](row["hash"] as Data)
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_entries WHERE tenant_id = ? AND seq > ? AND seq <= ?",
                                         arguments: [tenant, from, through]) ?? 0
            if dryRun { return AuditPruneResult(entries: count, through: through, position: nil) }
            try db.execute(sql: "INSERT INTO audit_anchors(tenant_id, seq, hash) VALUES (?, ?, ?) ON CONFLICT(tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                           arguments: [tenant, through, Data(hash)])
            try db.execute(sql: "DELETE FROM audit_entries WHERE tenant_id = ? AND seq <= ?", arguments: [tenant, through])
            try db.execute(sql: "DELETE FROM audit_checkpoints WHERE tenant_id = ? AND seq < ?", arguments: [tenant, through])
            let position = try Self.append(db, tenant: tenant, actor: actor, action: "audit.prune", detail: [
                "through": String(through), "anchorHash": Hex.encode(hash), "entries": String(count),
                "before": Timestamp.string(before),
            ], at: at, signer: signer, pendingErasure: nil)
            return AuditPruneResult(entries: count, through: through, position: position)
        }
    }

    /// The SHA-256 last recorded for a tenant's policy of `kind` (`retention`, `redaction`).
    public func lastPolicyDigest(tenant: String, kind: String) throws -> String? {
        try queue.read { db in
            for text in try String.fetchAll(db, sql: "SELECT detail FROM audit_entries WHERE tenant_id = ? AND action = 'policy.change' ORDER BY seq DESC",
                                            arguments: [tenant]) {
                let d = (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
                if d["kind"] == kind { return d["sha256"] }
            }
            return nil
        }
    }

    /// Tenants with an audit chain.
    public func auditedTenants() throws -> [String] {
        try queue.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT tenant_id FROM audit_entries ORDER BY 1") }
    }

    // MARK: Holds

    public func addHold(tenant: String, blindIndex: [UInt8], kind: String, reason: String, actor: String, at: Date = Date(),
                        pseudonym: String? = nil) throws -> LegalHold {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO legal_holds(tenant_id, blind_index, kind, reason, created_at, created_by, pseudonym) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [tenant, Data(blindIndex), kind, reason, at.timeIntervalSince1970, actor, pseudonym])
            return LegalHold(id: db.lastInsertedRowID, tenant: tenant, kind: kind, reason: reason, createdAt: at, createdBy: actor, releasedAt: nil)
        }
    }

    /// Active holds whose blind index matches.
    public func activeHolds(tenant: String, blindIndex: [UInt8]) throws -> [LegalHold] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM legal_holds WHERE tenant_id = ? AND blind_index = ? AND released_at IS NULL ORDER BY id",
                             arguments: [tenant, Data(blindIndex)]).map(Self.hold)
        }
    }

    /// Active holds of the tenant with their blind indexes.
    public func activeHoldIndexes(tenant: String) throws -> [(hold: LegalHold, blindIndex: [UInt8])] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM legal_holds WHERE tenant_id = ? AND released_at IS NULL ORDER BY id", arguments: [tenant])
                .map { (Self.hold($0), [UInt8]($0["blind_index"] as Data)) }
        }
    }

    /// Blind indexes of every active hold of the tenant (excluded from sweeps).
    public func heldBlindIndexes(tenant: String) throws -> [[UInt8]] {
        try queue.read { db in
            try Data.fetchAll(db, sql: "SELECT DISTINCT blind_index FROM legal_holds WHERE tenant_id = ? AND released_at IS NULL",
                              arguments: [tenant]).map { [UInt8]($0) }
        }
    }

    /// Keyed pseudonyms (`kind:hex`) of the tenant's actively held subjects.
    public func heldPseudonyms(tenant: String) throws -> [String] {
        try queue.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT pseudonym FROM legal_holds WHERE tenant_id = ? AND released_at IS NULL AND pseudonym IS NOT NULL",
                                arguments: [tenant])
        }
    }

    public func holds(tenant: String?, includeReleased: Bool) throws -> [LegalHold] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM legal_holds WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 OR released_at IS NULL) ORDER BY id",
                             arguments: [tenant, includeReleased]).map(Self.hold)
        }
    }

    /// Releases an active hold; false when it does not exist or is already released.
    public func releaseHold(tenant: String, id: Int64, actor: String, at: Date = Date()) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "UPDATE legal_holds SET released_at = ?, released_by = ? WHERE id = ? AND tenant_id = ? AND released_at IS NULL",
                           arguments: [at.timeIntervalSince1970, actor, id, tenant])
            return db.changesCount == 1
        }
    }

    static func hold(_ r: Row) -> LegalHold {
        LegalHold(id: r["id"], tenant: r["tenant_id"], kind: r["kind"], reason: r["reason"], createdAt: Date(timeIntervalSince1970: r["created_at"]),
                  createdBy: r["created_by"], releasedAt: (r["released_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
    }

    // MARK: Erasure epoch

    /// Erasures whose epoch has not run: (tenant, request id, erased at).
    public func pendingErasures() throws -> [(tenant: String, requestID: String, erasedAt: Date)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT tenant_id, request_id, erased_at FROM erasures WHERE epoch_completed_at IS NULL ORDER BY erased_at")
                .map { ($0["tenant_id"], $0["request_id"], Date(timeIntervalSince1970: $0["erased_at"])) }
        }
    }

    /// When the epoch covering an erasure ran (nil while pending or unknown).
    public func epochCompleted(tenant: String, requestID: String) throws -> Date? {
        try queue.read { db in
            try Double.fetchOne(db, sql: "SELECT epoch_completed_at FROM erasures WHERE tenant_id = ? AND request_id = ?",
                                arguments: [tenant, requestID]).map { Date(timeIntervalSince1970: $0) }
        }
    }

    public func completeEpoch(tenant: String, requestIDs: [String], at: Date) throws {
        try queue.write { db in
            for r in requestIDs {
                try db.execute(sql: "UPDATE erasures SET epoch_completed_at = ? WHERE tenant_id = ? AND request_id = ?",
                               arguments: [at.timeIntervalSince1970, tenant, r])
            }
        }
    }

    /// Checkpoints the ledger's own WAL (nothing personal lives here, but keep files small).
    public func close() throws { try queue.close() }
}

/// The outcome of ``ComplianceLedger/verify(tenant:publicKey:expected:)``.
public struct AuditVerification: Sendable, Hashable {
    public var tenant: String
    public var entries: Int
    public var checkpoints: Int
    /// Empty when the chain is intact; otherwise each names the entry where it broke.
    public var problems: [String]
    /// Entries up to this sequence were pruned by retention (recorded in the chain).
    public var prunedThrough: Int? = nil
    public var intact: Bool { problems.isEmpty }
}

/// What ``ComplianceLedger/prune(tenant:before:signer:actor:at:dryRun:)`` removed.
public struct AuditPruneResult: Sendable, Hashable {
    /// Entries removed (or, in a dry run, that would be).
    public var entries: Int
    /// The new anchor (nil when nothing was old enough).
    public var through: Int?
    /// The `audit.prune` entry that records it.
    public var position: AuditPosition?
}

public enum AuditPruneError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The chain does not verify: pruning would destroy the evidence.
    case chainBroken([String])
    public var description: String {
        switch self {
        case .chainBroken(let p): return "refusing to prune a tampered audit log (run `kamirelay audit verify`): \(p.first ?? "")"
        }
    }
}
