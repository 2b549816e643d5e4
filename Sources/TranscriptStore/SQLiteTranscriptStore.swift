import Foundation
import GRDB
import Sealing

/// The embedded transcript store: one SQLite database (WAL, `secure_delete`, `synchronous=FULL`)
/// holding only ciphertext, wrapped keys, blind indexes and non-identifying metadata.
///
/// Writes go through GRDB's serial writer queue and reads through its reader pool, so the async
/// methods suspend the caller instead of blocking an event loop.
public final class SQLiteTranscriptStore: TranscriptStore, TenantKeyManagement {
    let pool: DatabasePool
    let keys: KeyCache
    public let accessLog: any AccessLog
    /// The database file.
    public let path: String

    /// Opens (creating and migrating if needed) the database at `path`.
    /// - Throws: ``TranscriptStoreError/masterKeyUnavailable(id:)`` when `masterKeys` cannot
    ///   unwrap this database's tenant keys.
    public init(path: String, masterKeys: MasterKeyring) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            // Deleted content (trimmed keys, erased rows) is overwritten, not left in free pages.
            try db.run(sql: "PRAGMA secure_delete = ON")
            // Durable on power loss, not just on process crash.
            try db.run(sql: "PRAGMA synchronous = FULL")
            try db.run(sql: "PRAGMA temp_store = MEMORY")
            // 16 MiB page cache per connection: the hot path inserts into many sessions' ranges.
            try db.run(sql: "PRAGMA cache_size = -16384")
            // Checkpoint every ~40 MiB of WAL instead of 4 MiB: pages touched by many batches
            // (sessions interleave) are copied into the database once, not once per few commits.
            try db.run(sql: "PRAGMA wal_autocheckpoint = 10000")
        }
        config.busyMode = .timeout(10)
        let pool = try DatabasePool(path: path, configuration: config)
        try Schema.migrator.migrate(pool)
        let stored: [String] = try pool.write { db in
            if try db.value(String.self, sql: "SELECT value FROM meta WHERE key = 'master_key_id'") == nil {
                try db.run(sql: "INSERT INTO meta(key, value) VALUES ('master_key_id', ?)", arguments: [masterKeys.currentID])
            }
            return try db.values(String.self, sql: """
                SELECT master_key_id FROM tenant_key_versions UNION SELECT index_root_master_id FROM tenants
                UNION SELECT value FROM meta WHERE key = 'master_key_id'
                """)
        }
        // Owner-only database files, WAL included (the CLI also keeps the data directory 0700).
        for file in [path, path + "-wal", path + "-shm"] { _ = chmod(file, 0o600) }
        // Every master key this database uses (or was created with) must be in the ring.
        for id in stored where masterKeys.keys[id] == nil {
            throw TranscriptStoreError.masterKeyUnavailable(id: id)
        }
        // After an interrupted master rotation the database may already name the new key:
        // keep wrapping new tenant keys with the one it names.
        var ring = masterKeys
        if let metaID = try pool.read({ db in try db.value(String.self, sql: "SELECT value FROM meta WHERE key = 'master_key_id'") }),
           let key = ring.keys[metaID] {
            ring.makeCurrent(id: metaID, key: key)
        }
        self.pool = pool
        self.path = path
        self.keys = KeyCache(ring: ring)
        self.accessLog = SQLiteAccessLog(pool: pool)
    }

    /// The database file and its WAL / shared-memory / journal companions.
    public var files: [String] { [path, path + "-wal", path + "-shm", path + "-journal"] }

    // MARK: Tenants

    public func addTenant(_ tenant: String) async throws {
        try TenantID.validate(tenant)
        let ring = keys.masterKeyring
        try await pool.write { db in
            if try db.value(Bool.self, sql: "SELECT 1 FROM tenants WHERE id = ?", arguments: [tenant]) == true {
                throw TranscriptStoreError.tenantExists(tenant)
            }
            let now = Date().timeIntervalSince1970
            let root = GuardedKey(randomCount: 32)
            try db.run(sql: """
                INSERT INTO tenants(id, created_at, current_version, min_decryption_version, last_rotated_at,
                                    index_root_wrapped, index_root_master_id) VALUES (?, ?, 1, 1, NULL, ?, ?)
                """, arguments: [tenant, now, Data(KeyWrap.wrap(root, with: ring.current, aad: AAD.indexRoot(tenant: tenant, masterID: ring.currentID))), ring.currentID])
            try self.insertVersion(db, tenant: tenant, version: 1, ring: ring, now: now)
        }
    }

    func insertVersion(_ db: Database, tenant: String, version: Int, ring: MasterKeyring, now: Double) throws {
        let key = GuardedKey(randomCount: 32)
        let wrapped = KeyWrap.wrap(key, with: ring.current, aad: AAD.tenantKey(tenant: tenant, version: version, masterID: ring.currentID))
        try db.run(sql: """
            INSERT INTO tenant_key_versions(tenant_id, version, wrapped_key, master_key_id, created_at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [tenant, version, Data(wrapped), ring.currentID, now])
        // Not cached: a rolled-back rotation would leave a key for a version number that the
        // next rotation reuses with different bytes.
    }

    /// The tenant ids of the database at `path`, read without any key (ids are stored in the
    /// clear) and without creating or migrating anything: for commands that need no master key
    /// but should still refuse a tenant the store does not know.
    public static func tenantIDs(databaseAt path: String) throws -> [String] {
        // Not `readonly`: SQLite cannot open a WAL database read-only when its -shm file is gone.
        var config = Configuration()
        config.busyMode = .timeout(10)
        return try DatabaseQueue(path: path, configuration: config).read { db in
            try db.values(String.self, sql: "SELECT id FROM tenants ORDER BY id")
        }
    }

    public func tenants() async throws -> [String] {
        try await pool.read { db in try db.values(String.self, sql: "SELECT id FROM tenants ORDER BY id") }
    }

    // MARK: Keys

    /// A tenant-key version, unwrapped (cached).
    func versionKey(_ db: Database, tenant: String, version: Int) throws -> GuardedKey {
        if let k = keys.version(tenant, version) { return k }
        guard let row = try db.row(sql: "SELECT wrapped_key, master_key_id FROM tenant_key_versions WHERE tenant_id = ? AND version = ?",
                                         arguments: [tenant, version]) else {
            throw TranscriptStoreError.unknownTenantKeyVersion(tenant: tenant, version: version)
        }
        let masterID: String = row["master_key_id"]
        guard let master = keys.masterKeyring.keys[masterID] else { throw TranscriptStoreError.masterKeyUnavailable(id: masterID) }
        let wrapped: Data = row["wrapped_key"]
        let key = try KeyWrap.unwrap(Array(wrapped), with: master, aad: AAD.tenantKey(tenant: tenant, version: version, masterID: masterID))
        keys.setVersion(tenant, version, key)
        return key
    }

    /// A subject key, unwrapped (cached).
    func subjectKey(_ db: Database, subject: Int64) throws -> GuardedKey {
        if let k = keys.subject(subject) { return k }
        guard let row = try db.row(sql: "SELECT tenant_id, key_version, wrapped_key FROM subjects WHERE id = ?", arguments: [subject]) else {
            throw TranscriptStoreError.unknownSubject
        }
        let tenant: String = row["tenant_id"]
        let version: Int = row["key_version"]
        let wrapped: Data = row["wrapped_key"]
        let vk = try versionKey(db, tenant: tenant, version: version)
        let key = try KeyWrap.unwrap(Array(wrapped), with: vk, aad: AAD.subjectKey(tenant: tenant, subject: subject, version: version),
                                     access: .readOnly)
        keys.setSubject(subject, key)
        return key
    }

    func currentVersion(_ db: Database, tenant: String) throws -> Int {
        guard let v = try db.value(Int.self, sql: "SELECT current_version FROM tenants WHERE id = ?", arguments: [tenant]) else {
            throw TranscriptStoreError.unknownTenant(tenant)
        }
        return v
    }

    func purposeKey(_ db: Database, tenant: String, _ purpose: KeyPurpose) throws -> GuardedKey {
        if let k = keys.purpose(tenant, purpose) { return k }
        guard let row = try db.row(sql: "SELECT index_root_wrapped, index_root_master_id FROM tenants WHERE id = ?", arguments: [tenant]) else {
            throw TranscriptStoreError.unknownTenant(tenant)
        }
        let masterID: String = row["index_root_master_id"]
        guard let master = keys.masterKeyring.keys[masterID] else { throw TranscriptStoreError.masterKeyUnavailable(id: masterID) }
        let wrapped: Data = row["index_root_wrapped"]
        let root = try KeyWrap.unwrap(Array(wrapped), with: master, aad: AAD.indexRoot(tenant: tenant, masterID: masterID))
        for p in KeyPurpose.allCases { keys.setPurpose(tenant, p, root.derive(p)) }
        return keys.purpose(tenant, purpose)!
    }

    public func purposeKey(tenant: String, _ purpose: KeyPurpose) async throws -> GuardedKey {
        try await pool.read { db in try self.purposeKey(db, tenant: tenant, purpose) }
    }

    func blindIndexes(_ db: Database, tenant: String, _ identifiers: [SubjectIdentifier]) throws -> [(SubjectIdentifier.Kind, [UInt8])] {
        if identifiers.isEmpty { return [] }
        let indexer = BlindIndexer(key: try purposeKey(db, tenant: tenant, .blindIndex))
        return try identifiers.map { id in
            guard let b = indexer.index(id) else { throw TranscriptStoreError.invalidIdentifier(id.kind) }
            return (id.kind, b)
        }
    }

    // MARK: Sessions

    @discardableResult
    public func openSession(tenant: String, session: String, channel: String, identifiers: [SubjectIdentifier], at: Date) async throws -> SessionInfo {
        try await pool.write { db in
            try self.openSession(db, tenant: tenant, session: session, channel: channel, identifiers: identifiers, at: at)
            return try self.sessionInfo(db, tenant: tenant, session: session)
        }
    }

    public func openSessions(_ requests: [SessionOpening]) async throws {
        if requests.isEmpty { return }
        try await pool.write { db in
            for r in requests {
                try self.openSession(db, tenant: r.tenant, session: r.session, channel: r.channel, identifiers: r.identifiers, at: r.at)
            }
        }
    }

    func openSession(_ db: Database, tenant: String, session: String, channel: String, identifiers: [SubjectIdentifier], at: Date) throws {
        let current = try currentVersion(db, tenant: tenant)
        let indexes = try blindIndexes(db, tenant: tenant, identifiers)
        var linked: [Int64] = []
        for (_, b) in indexes {
            if let s = try db.value(Int64.self, sql: "SELECT subject_id FROM subject_identifiers WHERE tenant_id = ? AND blind_index = ?",
                                          arguments: [tenant, Data(b)]), !linked.contains(s) {
                linked.append(s)
            }
        }
        var keySubject = try db.value(Int64.self, sql: "SELECT subject_id FROM sessions WHERE tenant_id = ? AND id = ?", arguments: [tenant, session])
        if keySubject == nil {
            let subject: Int64
            if let first = linked.first {
                subject = first
            } else {
                subject = try createSubject(db, tenant: tenant, version: current, at: at)
                linked.append(subject)
            }
            try db.run(sql: """
                INSERT INTO sessions(tenant_id, id, channel, created_at, last_activity_at, status, subject_id, next_seq)
                VALUES (?, ?, ?, ?, ?, 'open', ?, 0)
                """, arguments: [tenant, session, channel, at.timeIntervalSince1970, at.timeIntervalSince1970, subject])
            keySubject = subject
        }
        // Identifiers not yet known join the session's key subject.
        for (kind, b) in indexes {
            try db.run(sql: "INSERT OR IGNORE INTO subject_identifiers(tenant_id, blind_index, kind, subject_id) VALUES (?, ?, ?, ?)",
                           arguments: [tenant, Data(b), Int(kind.rawValue), keySubject!])
        }
        for s in Set(linked + [keySubject!]) {
            try db.run(sql: "INSERT OR IGNORE INTO session_subjects(tenant_id, session_id, subject_id) VALUES (?, ?, ?)",
                           arguments: [tenant, session, s])
        }
    }

    func createSubject(_ db: Database, tenant: String, version: Int, at: Date) throws -> Int64 {
        let vk = try versionKey(db, tenant: tenant, version: version)
        try db.run(sql: "INSERT INTO subjects(tenant_id, key_version, wrapped_key, created_at) VALUES (?, ?, x'', ?)",
                       arguments: [tenant, version, at.timeIntervalSince1970])
        let id = db.lastInsertedRowID
        let key = GuardedKey(randomCount: 32)
        let wrapped = KeyWrap.wrap(key, with: vk, aad: AAD.subjectKey(tenant: tenant, subject: id, version: version))
        try db.run(sql: "UPDATE subjects SET wrapped_key = ? WHERE id = ?", arguments: [Data(wrapped), id])
        // Not cached here: if this transaction rolls back, the id is handed out again with
        // another key. The first use (a later transaction) unwraps and caches the committed key.
        return id
    }

    func sessionInfo(_ db: Database, tenant: String, session: String) throws -> SessionInfo {
        guard let row = try db.row(sql: """
            SELECT channel, created_at, last_activity_at, status, next_seq FROM sessions WHERE tenant_id = ? AND id = ?
            """, arguments: [tenant, session]) else { throw TranscriptStoreError.unknownSession(tenant: tenant, session: session) }
        return SessionInfo(tenant: tenant, id: session, channel: row["channel"],
                           createdAt: Date(timeIntervalSince1970: row["created_at"]),
                           lastActivityAt: Date(timeIntervalSince1970: row["last_activity_at"]),
                           status: row["status"], messageCount: row["next_seq"])
    }

    public func session(tenant: String, session: String) async throws -> SessionInfo {
        try await pool.read { db in try self.sessionInfo(db, tenant: tenant, session: session) }
    }

    public func existingSessions(tenant: String, among sessions: Set<String>) async throws -> Set<String> {
        guard !sessions.isEmpty else { return [] }
        let ids = Array(sessions)
        return try await pool.read { db in
            _ = try self.currentVersion(db, tenant: tenant)  // an unknown tenant throws, never reads as "all gone"
            var existing = Set<String>()
            // Chunks well under SQLite's limit on bound parameters.
            for start in stride(from: 0, to: ids.count, by: 500) {
                let chunk = Array(ids[start..<min(start + 500, ids.count)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                let found = try String.fetchAll(db, sql: "SELECT id FROM sessions WHERE tenant_id = ? AND id IN (\(marks))",
                                                arguments: StatementArguments([tenant] + chunk))
                existing.formUnion(found)
            }
            return existing
        }
    }

    public func sessions(tenant: String, subject: SubjectIdentifier) async throws -> [SessionInfo] {
        try await pool.read { db in
            _ = try self.currentVersion(db, tenant: tenant)
            guard let (_, b) = try self.blindIndexes(db, tenant: tenant, [subject]).first,
                  let s = try db.value(Int64.self, sql: "SELECT subject_id FROM subject_identifiers WHERE tenant_id = ? AND blind_index = ?",
                                             arguments: [tenant, Data(b)])
            else { return [] }
            let ids = try db.values(String.self, sql: "SELECT session_id FROM session_subjects WHERE tenant_id = ? AND subject_id = ? ORDER BY session_id",
                                          arguments: [tenant, s])
            return try ids.map { try self.sessionInfo(db, tenant: tenant, session: $0) }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    // MARK: Messages

    public func append(_ messages: [PendingMessage]) async throws -> AppendResult {
        if messages.isEmpty { return AppendResult(stored: [], duplicates: []) }
        return try await pool.write { db in try self.append(db, messages) }
    }

    func append(_ db: Database, _ messages: [PendingMessage]) throws -> AppendResult {
        // Group by session, keeping input order within each session.
        var order: [String] = []
        var groups: [String: [Int]] = [:]
        for (i, m) in messages.enumerated() {
            let k = m.tenant + "\u{0}" + m.session
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(i)
        }
        var refs = [StoredMessageRef?](repeating: nil, count: messages.count)
        var duplicates: [Int] = []
        var seenDedup = Set<[UInt8]>()
        let insert = try db.cachedStatement(sql: """
            INSERT INTO messages(tenant_id, session_id, seq, role, sent_at, record, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let dedupCheck = try db.cachedStatement(sql: "SELECT 1 FROM messages WHERE tenant_id = ? AND dedup_key = ?")
        for k in order {
            let indexes = groups[k]!
            let first = messages[indexes[0]]
            guard let row = try db.row(sql: "SELECT subject_id, next_seq, last_activity_at FROM sessions WHERE tenant_id = ? AND id = ?",
                                             arguments: [first.tenant, first.session]) else {
                throw TranscriptStoreError.unknownSession(tenant: first.tenant, session: first.session)
            }
            let subject: Int64 = row["subject_id"]
            var seq: Int64 = row["next_seq"]
            var lastActivity: Double = row["last_activity_at"]
            let key = try subjectKey(db, subject: subject)
            var batch: [(plaintext: [UInt8], context: RecordContext)] = []
            var batchIndexes: [Int] = []
            for i in indexes {
                let m = messages[i]
                if let d = m.dedupKey {
                    let dup = try Bool.fetchOne(dedupCheck, arguments: [m.tenant, Data(d)]) == true
                    if dup || !seenDedup.insert(d).inserted { duplicates.append(i); continue }
                }
                batch.append((Array(m.text.utf8), RecordContext(tenant: m.tenant, session: m.session, sequence: UInt64(seq), role: m.role)))
                batchIndexes.append(i)
                seq += 1
            }
            let records = SealedRecord.seal(batch: batch, keyID: UInt64(subject), key: key)
            for (j, i) in batchIndexes.enumerated() {
                let m = messages[i]
                let s = batch[j].context.sequence
                insert.setUncheckedArguments([m.tenant, m.session, Int64(s), Int(m.role.rawValue), m.sentAt.timeIntervalSince1970,
                                              Data(records[j]), m.dedupKey.map { Data($0) }])
                try insert.execute()
                lastActivity = max(lastActivity, m.sentAt.timeIntervalSince1970)
                refs[i] = StoredMessageRef(tenant: m.tenant, session: m.session, sequence: s)
            }
            try db.run(sql: "UPDATE sessions SET next_seq = ?, last_activity_at = ? WHERE tenant_id = ? AND id = ?",
                           arguments: [seq, lastActivity, first.tenant, first.session])
        }
        return AppendResult(stored: refs.compactMap { $0 }, duplicates: duplicates.sorted())
    }

    public func transcript(tenant: String, session: String) async throws -> [TranscriptMessage] {
        try await pool.read { db in
            guard let subject = try db.value(Int64.self, sql: "SELECT subject_id FROM sessions WHERE tenant_id = ? AND id = ?",
                                                   arguments: [tenant, session]) else {
                throw TranscriptStoreError.unknownSession(tenant: tenant, session: session)
            }
            let rows = try db.rows(sql: "SELECT seq, role, sent_at, record FROM messages WHERE tenant_id = ? AND session_id = ? ORDER BY seq",
                                        arguments: [tenant, session])
            if rows.isEmpty { return [] }
            let key = try self.subjectKey(db, subject: subject)
            var items: [(record: [UInt8], context: RecordContext)] = []
            var meta: [(UInt64, SenderRole, Date)] = []
            for row in rows {
                let seq = UInt64(row["seq"] as Int64)
                let rawRole: Int = row["role"]
                guard let role = SenderRole(rawValue: UInt8(clamping: rawRole)) else {
                    throw TranscriptStoreError.corruptRecord(tenant: tenant, session: session, sequence: seq, .contextMismatch)
                }
                let record: Data = row["record"]
                items.append((Array(record), RecordContext(tenant: tenant, session: session, sequence: seq, role: role)))
                meta.append((seq, role, Date(timeIntervalSince1970: row["sent_at"])))
            }
            let opened = SealedRecord.open(batch: items, keyID: UInt64(subject), key: key)
            return try zip(opened, meta).map { result, m in
                switch result {
                case .failure(let e): throw TranscriptStoreError.corruptRecord(tenant: tenant, session: session, sequence: m.0, e)
                case .success(let bytes):
                    guard let text = String(validating: bytes, as: UTF8.self) else {
                        throw TranscriptStoreError.invalidText(tenant: tenant, session: session, sequence: m.0)
                    }
                    return TranscriptMessage(sequence: m.0, role: m.1, sentAt: m.2, text: text)
                }
            }
        }
    }

    // MARK: Key management

    public func rotateTenantKey(tenant: String) async throws -> Int {
        let ring = keys.masterKeyring
        return try await pool.write { db in
            _ = try self.currentVersion(db, tenant: tenant)
            let newest = try db.value(Int.self, sql: "SELECT MAX(version) FROM tenant_key_versions WHERE tenant_id = ?", arguments: [tenant]) ?? 0
            let current = try self.currentVersion(db, tenant: tenant)
            let version = max(newest, current) + 1
            let now = Date().timeIntervalSince1970
            try self.insertVersion(db, tenant: tenant, version: version, ring: ring, now: now)
            try db.run(sql: "UPDATE tenants SET current_version = ?, last_rotated_at = ? WHERE id = ?", arguments: [version, now, tenant])
            return version
        }
    }

    public func rewrapSubjectKeys(tenant: String, batchSize: Int = 2_000, progress: (@Sendable (RewrapProgress) -> Void)? = nil) async throws -> RewrapProgress {
        let total = try await pool.read { db in
            let current = try self.currentVersion(db, tenant: tenant)
            return try db.value(Int.self, sql: "SELECT COUNT(*) FROM subjects WHERE tenant_id = ? AND key_version < ?", arguments: [tenant, current]) ?? 0
        }
        var state = RewrapProgress(rewrapped: 0, total: total, currentVersion: 0)
        // Walks subjects in id order, so each batch is a short range scan and a restarted run
        // only skips over keys already done. A rotation during the walk can leave keys behind
        // the cursor under an older version: the walk then starts again from the beginning.
        var after: Int64 = 0
        while true {
            let from = after
            let step = try await pool.write { db in try self.rewrapBatch(db, tenant: tenant, after: from, limit: max(1, batchSize)) }
            state.currentVersion = step.current
            if step.rewrapped == 0 {
                if after == 0 || step.remaining == 0 { break }
                after = 0
                continue
            }
            after = step.lastID
            state.rewrapped += step.rewrapped
            state.total = max(state.total, state.rewrapped)
            progress?(state)
        }
        return state
    }

    struct RewrapStep: Sendable {
        var rewrapped: Int
        var lastID: Int64
        var current: Int
        /// Keys still under an older version (only counted when a pass finds nothing).
        var remaining: Int
    }

    /// One resumable step: re-wraps up to `limit` subject keys with id > `after` under the
    /// current version, in one transaction.
    func rewrapBatch(_ db: Database, tenant: String, after: Int64, limit: Int) throws -> RewrapStep {
        let current = try currentVersion(db, tenant: tenant)
        let select = try db.cachedStatement(sql: """
            SELECT id, key_version, wrapped_key FROM subjects WHERE id > ? AND tenant_id = ? AND key_version < ? ORDER BY id LIMIT ?
            """)
        var byVersion: [Int: [(Int64, [UInt8])]] = [:]
        var count = 0
        var lastID = after
        let cursor = try Row.fetchCursor(select, arguments: [after, tenant, current, limit])
        while let row = try cursor.next() {
            let id: Int64 = row[0]
            let wrapped: Data = row[2]
            byVersion[row[1], default: []].append((id, [UInt8](wrapped)))
            lastID = id
            count += 1
        }
        if count == 0 {
            let remaining = try db.value(Int.self, sql: "SELECT COUNT(*) FROM subjects WHERE tenant_id = ? AND key_version < ?",
                                         arguments: [tenant, current]) ?? 0
            return RewrapStep(rewrapped: 0, lastID: after, current: current, remaining: remaining)
        }
        let newKey = try versionKey(db, tenant: tenant, version: current)
        let update = try db.cachedStatement(sql: "UPDATE subjects SET wrapped_key = ?, key_version = ? WHERE id = ?")
        let prefix = AAD.subjectKeyPrefix(tenant: tenant)
        for (version, items) in byVersion {
            let oldKey = try versionKey(db, tenant: tenant, version: version)
            let results = KeyWrap.rewrap(items.map {
                KeyWrap.RewrapItem(wrapped: $0.1, oldAAD: AAD.subjectKey(prefix: prefix, subject: $0.0, version: version),
                                   newAAD: AAD.subjectKey(prefix: prefix, subject: $0.0, version: current))
            }, from: oldKey, to: newKey)
            for (item, result) in zip(items, results) {
                let rewrapped = try result.get()
                update.setUncheckedArguments([Data(rewrapped), current, item.0])
                try update.execute()
            }
        }
        return RewrapStep(rewrapped: count, lastID: lastID, current: current, remaining: -1)
    }

    public func trimTenantKeys(tenant: String, below version: Int, force: Bool) async throws -> TrimResult {
        let result = try await pool.write { db -> TrimResult in
            let current = try self.currentVersion(db, tenant: tenant)
            guard version <= current else { throw TranscriptStoreError.invalidTrimVersion(tenant: tenant, below: version, current: current) }
            let dependents = try db.value(Int.self, sql: "SELECT COUNT(*) FROM subjects WHERE tenant_id = ? AND key_version < ?",
                                              arguments: [tenant, version]) ?? 0
            if dependents > 0 && !force {
                throw TranscriptStoreError.keyVersionsInUse(tenant: tenant, subjectKeys: dependents, below: version)
            }
            let destroyed = try db.values(Int.self, sql: "SELECT version FROM tenant_key_versions WHERE tenant_id = ? AND version < ? ORDER BY version",
                                             arguments: [tenant, version])
            try db.run(sql: "DELETE FROM tenant_key_versions WHERE tenant_id = ? AND version < ?", arguments: [tenant, version])
            try db.run(sql: "UPDATE tenants SET min_decryption_version = MAX(min_decryption_version, ?) WHERE id = ?", arguments: [version, tenant])
            return TrimResult(destroyedVersions: destroyed, orphanedSubjectKeys: dependents)
        }
        keys.dropVersions(tenant, below: version)
        // Push the deletion out of the WAL into the (secure_delete) main file.
        try await checkpoint()
        return result
    }

    /// Checkpoints the WAL into the database file and truncates it.
    public func checkpoint() async throws {
        try await pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
    }

    public func keyStatus(tenant: String?) async throws -> [TenantKeyStatus] {
        try await pool.read { db in
            let tenants = try tenant.map { t -> [String] in
                _ = try self.currentVersion(db, tenant: t)
                return [t]
            } ?? db.values(String.self, sql: "SELECT id FROM tenants ORDER BY id")
            return try tenants.map { t in
                let row = try db.row(sql: "SELECT current_version, min_decryption_version, last_rotated_at FROM tenants WHERE id = ?", arguments: [t])!
                let counts = Dictionary(uniqueKeysWithValues: try db.rows(sql: """
                    SELECT key_version, COUNT(*) AS n FROM subjects WHERE tenant_id = ? GROUP BY key_version
                    """, arguments: [t]).map { ($0["key_version"] as Int, $0["n"] as Int) })
                let versions = try db.rows(sql: "SELECT version, created_at, master_key_id FROM tenant_key_versions WHERE tenant_id = ? ORDER BY version",
                                                arguments: [t]).map { r in
                    TenantKeyStatus.Version(version: r["version"], createdAt: Date(timeIntervalSince1970: r["created_at"]),
                                            subjectKeys: counts[r["version"] as Int] ?? 0, masterKeyID: r["master_key_id"])
                }
                let live = Set(versions.map(\.version))
                let orphaned = counts.filter { !live.contains($0.key) }.values.reduce(0, +)
                let rotated: Double? = row["last_rotated_at"]
                return TenantKeyStatus(tenant: t, currentVersion: row["current_version"], minDecryptionVersion: row["min_decryption_version"],
                                       lastRotatedAt: rotated.map { Date(timeIntervalSince1970: $0) }, versions: versions, orphanedSubjectKeys: orphaned)
            }
        }
    }

    /// Re-wraps every tenant-key version and purpose-key root under `newKey` (one transaction)
    /// and makes it the current master key. Subject keys and messages are untouched.
    /// - Returns: the number of wrapped keys re-wrapped.
    public func rotateMasterKey(to newKey: GuardedKey, id newID: String) async throws -> Int {
        keys.updateRing { $0.add(id: newID, key: newKey) }
        let ring = keys.masterKeyring
        let n = try await pool.write { db -> Int in
            var count = 0
            for row in try db.rows(sql: "SELECT tenant_id, version, wrapped_key, master_key_id FROM tenant_key_versions WHERE master_key_id != ?", arguments: [newID]) {
                let tenant: String = row["tenant_id"], version: Int = row["version"], oldID: String = row["master_key_id"]
                guard let old = ring.keys[oldID] else { throw TranscriptStoreError.masterKeyUnavailable(id: oldID) }
                let wrapped: Data = row["wrapped_key"]
                let key = try KeyWrap.unwrap(Array(wrapped), with: old, aad: AAD.tenantKey(tenant: tenant, version: version, masterID: oldID))
                let rewrapped = KeyWrap.wrap(key, with: newKey, aad: AAD.tenantKey(tenant: tenant, version: version, masterID: newID))
                try db.run(sql: "UPDATE tenant_key_versions SET wrapped_key = ?, master_key_id = ? WHERE tenant_id = ? AND version = ?",
                               arguments: [Data(rewrapped), newID, tenant, version])
                count += 1
            }
            for row in try db.rows(sql: "SELECT id, index_root_wrapped, index_root_master_id FROM tenants WHERE index_root_master_id != ?", arguments: [newID]) {
                let tenant: String = row["id"], oldID: String = row["index_root_master_id"]
                guard let old = ring.keys[oldID] else { throw TranscriptStoreError.masterKeyUnavailable(id: oldID) }
                let wrapped: Data = row["index_root_wrapped"]
                let root = try KeyWrap.unwrap(Array(wrapped), with: old, aad: AAD.indexRoot(tenant: tenant, masterID: oldID))
                let rewrapped = KeyWrap.wrap(root, with: newKey, aad: AAD.indexRoot(tenant: tenant, masterID: newID))
                try db.run(sql: "UPDATE tenants SET index_root_wrapped = ?, index_root_master_id = ? WHERE id = ?",
                               arguments: [Data(rewrapped), newID, tenant])
                count += 1
            }
            try db.run(sql: "UPDATE meta SET value = ? WHERE key = 'master_key_id'", arguments: [newID])
            return count
        }
        keys.updateRing { $0.makeCurrent(id: newID, key: newKey) }
        try await checkpoint()
        return n
    }

    /// The master key ids this database still needs (normally one).
    public func masterKeyIDsInUse() async throws -> [String] {
        try await pool.read { db in
            try db.values(String.self, sql: "SELECT master_key_id FROM tenant_key_versions UNION SELECT index_root_master_id FROM tenants ORDER BY 1")
        }
    }
}

/// Associated data for wrapped keys: names the key, so a wrapped key copied to another row fails.
enum AAD {
    static func tenantKey(tenant: String, version: Int, masterID: String) -> [UInt8] {
        var a = Array("KRtenant".utf8)
        a.append(contentsOf: lengthPrefixed(tenant))
        a.append(contentsOf: bigEndian(UInt32(version)))
        a.append(contentsOf: lengthPrefixed(masterID))
        return a
    }
    static func subjectKey(tenant: String, subject: Int64, version: Int) -> [UInt8] {
        subjectKey(prefix: subjectKeyPrefix(tenant: tenant), subject: subject, version: version)
    }
    static func subjectKeyPrefix(tenant: String) -> [UInt8] { Array("KRsubject".utf8) + lengthPrefixed(tenant) }
    /// The same AAD from a precomputed per-tenant prefix (rewrap builds two per key).
    static func subjectKey(prefix: [UInt8], subject: Int64, version: Int) -> [UInt8] {
        var a = prefix
        a.reserveCapacity(prefix.count + 12)
        withUnsafeBytes(of: UInt64(subject).bigEndian) { a.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(version).bigEndian) { a.append(contentsOf: $0) }
        return a
    }
    static func indexRoot(tenant: String, masterID: String) -> [UInt8] {
        var a = Array("KRroot".utf8)
        a.append(contentsOf: lengthPrefixed(tenant))
        a.append(contentsOf: lengthPrefixed(masterID))
        return a
    }
    static func lengthPrefixed(_ s: String) -> [UInt8] { bigEndian(UInt32(s.utf8.count)) + Array(s.utf8) }
    static func bigEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
}

/// The access log as an append-only SQLite table (triggers refuse UPDATE and DELETE).
struct SQLiteAccessLog: AccessLog {
    let pool: DatabasePool

    func record(_ event: AccessEvent) async throws {
        try await pool.write { db in
            try db.run(sql: "INSERT INTO access_log(at, actor, tenant_id, action, target, message_count) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [event.at.timeIntervalSince1970, event.actor, event.tenant, event.action, event.target, event.messageCount])
        }
    }

    func events(tenant: String?) async throws -> [AccessEvent] {
        try await pool.read { db in
            try db.rows(sql: "SELECT at, actor, tenant_id, action, target, message_count FROM access_log WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY id",
                             arguments: [tenant]).map {
                AccessEvent(at: Date(timeIntervalSince1970: $0["at"]), actor: $0["actor"], tenant: $0["tenant_id"],
                            action: $0["action"], target: $0["target"], messageCount: $0["message_count"])
            }
        }
    }
}

extension Database {
    // Statements prepared once per connection and reused: the hot path runs the same few
    // statements for every message.
    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
    func row(sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }
    func rows(sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }
    func value<T: DatabaseValueConvertible & StatementColumnConvertible>(_ type: T.Type, sql: String,
                                                                        arguments: StatementArguments = StatementArguments()) throws -> T? {
        try T.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }
    func values<T: DatabaseValueConvertible & StatementColumnConvertible>(_ type: T.Type, sql: String,
                                                                         arguments: StatementArguments = StatementArguments()) throws -> [T] {
        try T.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }
}
