import Foundation
import GRDB
import Sealing
import TranscriptStore

/// The relay's own small database, `<data-dir>/relay.sqlite`, beside the transcript store:
///
/// - **chat state** — what a chat needs to continue after a disconnect or a server restart
///   (``PersistedChat``), sealed with XChaCha20-Poly1305 under a key derived from the tenant's
///   ``KeyPurpose/relayState`` key, bound (AAD) to the tenant, the kind and the look-up digest.
///   A row is found by a keyed BLAKE2b digest of its resume token (or, for HTTP-API sessions,
///   of the session id); the token itself is never stored. Rows expire.
/// - **issued card keys** — per tenant, keyed digests only (``IssuedKeyDigest``), for the redactor.
/// - **API keys** — per tenant: a public key id and a keyed BLAKE2b hash (the tenant's
///   ``KeyPurpose/apiKeys`` key) of the secret; compared in constant time.
///
/// Nothing in it is readable without the master key; nothing in it is message text in clear.
public final class RelayStateStore: Sendable {
    let pool: DatabasePool
    /// Where the tenant purpose keys come from (the transcript store, which unwraps and caches them).
    let keys: any TranscriptStore
    public let path: String

    public init(path: String, keys: any TranscriptStore) throws {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        config.busyMode = .timeout(10)
        let pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        for file in [path, path + "-wal", path + "-shm"] { _ = chmod(file, 0o600) }
        self.pool = pool
        self.keys = keys
        self.path = path
    }

    /// `<dataDirectory>/relay.sqlite`.
    public static func open(dataDirectory: String, keys: any TranscriptStore) throws -> RelayStateStore {
        try RelayStateStore(path: dataDirectory + "/relay.sqlite", keys: keys)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: chat state, api keys") { db in
            try db.execute(sql: """
                CREATE TABLE chat_state (
                    tenant_id TEXT NOT NULL,
                    kind TEXT NOT NULL,            -- 'resume' (token) or 'api' (session id)
                    lookup BLOB NOT NULL,          -- keyed BLAKE2b of the token / session id
                    expires_at REAL NOT NULL,
                    sealed BLOB NOT NULL,          -- XChaCha20-Poly1305(PersistedChat JSON)
                    PRIMARY KEY (tenant_id, kind, lookup)
                ) WITHOUT ROWID;
                CREATE INDEX chat_state_expiry ON chat_state(expires_at);
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY NOT NULL,  -- public key id (in the key itself)
                    tenant_id TEXT NOT NULL,
                    label TEXT NOT NULL,
                    secret_hash BLOB NOT NULL,     -- keyed BLAKE2b-256 of the whole key
                    created_at REAL NOT NULL,
                    revoked_at REAL
                );
                """)
        }
        m.registerMigration("v2: chat state by session") { db in
            // A keyed digest of the session id, so all state of one session can be deleted
            // (erasure, retention) without knowing its resume tokens.
            try db.execute(sql: """
                ALTER TABLE chat_state ADD COLUMN session_digest BLOB;
                CREATE INDEX chat_state_session ON chat_state(tenant_id, session_digest);
                """)
        }
        m.registerMigration("v3: hand-off queue") { db in
            // One row per chat in the human hand-off (queued or with an agent): everything about
            // it sealed, found by the same keyed session digest as the chat state.
            try db.execute(sql: """
                CREATE TABLE handoff_chats (
                    tenant_id TEXT NOT NULL,
                    session_digest BLOB NOT NULL,  -- keyed BLAKE2b of the session id
                    updated_at REAL NOT NULL,
                    sealed BLOB NOT NULL,          -- XChaCha20-Poly1305(PersistedHandoff JSON)
                    PRIMARY KEY (tenant_id, session_digest)
                ) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v4: issued card keys") { db in
            // Keyed digests (the tenant's tokenisation key) of the card keys a shop has issued,
            // for the redactor: `kamirelay tenants issued-keys add`. Never the keys themselves.
            try db.execute(sql: """
                CREATE TABLE issued_keys (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: MAX(id) marks changes
                    tenant_id TEXT NOT NULL,
                    digest BLOB NOT NULL,          -- keyed BLAKE2b of the normalised key
                    length INTEGER NOT NULL,       -- normalised length
                    letters_only INTEGER NOT NULL,
                    added_at REAL NOT NULL,
                    UNIQUE (tenant_id, digest)
                );
                """)
        }
        m.registerMigration("v5: desk statistics") { db in
            // Per tenant, the queue's average handle time (for expected waits), so a restart does
            // not go back to the seed. Not personal data: kept in clear.
            try db.execute(sql: """
                CREATE TABLE desk_stats (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    average_handle_time REAL NOT NULL,  -- seconds
                    updated_at REAL NOT NULL
                );
                """)
        }
        return m
    }

    // MARK: Desk statistics

    /// Saves `tenant`'s average handle time (seconds).
    public func saveAverageHandleTime(tenant: String, seconds: TimeInterval, now: Date = Date()) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO desk_stats(tenant_id, average_handle_time, updated_at) VALUES (?, ?, ?)",
                           arguments: [tenant, seconds, now.timeIntervalSince1970])
        }
    }

    /// Every tenant's saved average handle time (seconds).
    public func averageHandleTimes() async throws -> [String: TimeInterval] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT tenant_id, average_handle_time FROM desk_stats").reduce(into: [:]) {
                $0[$1["tenant_id"] as String] = $1["average_handle_time"] as Double
            }
        }
    }

    // MARK: Chat state

    /// What the state is looked up by.
    public enum StateKind: String, Sendable {
        /// A WebSocket chat waiting to be resumed: looked up by its resume token (single use).
        case resume
        /// An HTTP-API session: looked up by its session id.
        case api
    }

    struct TenantStateKeys: Sendable {
        let seal: GuardedKey
        let lookup: BLAKE2bKeyedHasher
    }

    func stateKeys(tenant: String) async throws -> TenantStateKeys {
        let root = try await keys.purposeKey(tenant: tenant, .relayState)
        return TenantStateKeys(seal: root.derive(.relayState, subkeyID: 1),
                               lookup: BLAKE2bKeyedHasher(guardedKey: root.derive(.relayState, subkeyID: 2), outputLength: 32))
    }

    static func aad(tenant: String, kind: StateKind, lookup: [UInt8]) -> [UInt8] {
        Array("KRrelaystate".utf8) + [UInt8(tenant.utf8.count)] + Array(tenant.utf8) + Array(kind.rawValue.utf8) + [0] + lookup
    }

    /// Seals and stores `state` under (`tenant`, `kind`, `handle`) until `expires`, replacing any earlier row.
    public func saveChat(_ state: PersistedChat, tenant: String, kind: StateKind, handle: String, expires: Date) async throws {
        let keys = try await stateKeys(tenant: tenant)
        let lookup = keys.lookup.digest(Array(handle.utf8))
        let sessionDigest = Self.sessionDigest(state.session, keys: keys)
        let sealed = XChaCha20Poly1305.seal(try JSONEncoder().encode(state).map { $0 }, aad: Self.aad(tenant: tenant, kind: kind, lookup: lookup),
                                            key: keys.seal)
        let now = Date().timeIntervalSince1970
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM chat_state WHERE expires_at <= ?", arguments: [now])
            try db.execute(sql: """
                INSERT OR REPLACE INTO chat_state(tenant_id, kind, lookup, expires_at, sealed, session_digest) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [tenant, kind.rawValue, Data(lookup), expires.timeIntervalSince1970, Data(sealed), Data(sessionDigest)])
        }
    }

    /// The state stored under (`tenant`, `kind`, `handle`) if it has not expired. With `consume`
    /// the row is deleted in the same transaction (a resume token works once).
    /// - Throws: ``RelayStateError/corrupt`` when the row does not open (tampered or wrong key).
    public func loadChat(tenant: String, kind: StateKind, handle: String, consume: Bool, now: Date = Date()) async throws -> PersistedChat? {
        let keys = try await stateKeys(tenant: tenant)
        let lookup = keys.lookup.digest(Array(handle.utf8))
        let sealed: Data? = try await pool.write { db in
            let row = try Row.fetchOne(db, sql: "SELECT sealed, expires_at FROM chat_state WHERE tenant_id = ? AND kind = ? AND lookup = ?",
                                       arguments: [tenant, kind.rawValue, Data(lookup)])
            guard let row else { return nil }
            if consume || (row["expires_at"] as Double) <= now.timeIntervalSince1970 {
                try db.execute(sql: "DELETE FROM chat_state WHERE tenant_id = ? AND kind = ? AND lookup = ?",
                               arguments: [tenant, kind.rawValue, Data(lookup)])
            }
            return (row["expires_at"] as Double) > now.timeIntervalSince1970 ? row["sealed"] as Data : nil
        }
        guard let sealed else { return nil }
        guard let plain = XChaCha20Poly1305.open(Array(sealed), aad: Self.aad(tenant: tenant, kind: kind, lookup: lookup), key: keys.seal),
              let state = try? JSONDecoder().decode(PersistedChat.self, from: Data(plain)) else {
            throw RelayStateError.corrupt
        }
        return state
    }

    /// Deletes the state stored under (`tenant`, `kind`, `handle`), if any.
    public func deleteChat(tenant: String, kind: StateKind, handle: String) async throws {
        let keys = try await stateKeys(tenant: tenant)
        let lookup = keys.lookup.digest(Array(handle.utf8))
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM chat_state WHERE tenant_id = ? AND kind = ? AND lookup = ?",
                           arguments: [tenant, kind.rawValue, Data(lookup)])
        }
    }

    static func sessionDigest(_ session: String, keys: TenantStateKeys) -> [UInt8] {
        keys.lookup.digest(Array("session\0\(session)".utf8))
    }

    /// Deletes every piece of chat state of `session` (resume and API state, and its place in
    /// the hand-off queue): for an erasure or a retention sweep that removed the session.
    /// Returns the rows deleted.
    @discardableResult
    public func deleteChats(tenant: String, session: String) async throws -> Int {
        let digest = Self.sessionDigest(session, keys: try await stateKeys(tenant: tenant))
        return try await pool.write { db in
            try db.execute(sql: "DELETE FROM chat_state WHERE tenant_id = ? AND session_digest = ?", arguments: [tenant, Data(digest)])
            let chats = db.changesCount
            try db.execute(sql: "DELETE FROM handoff_chats WHERE tenant_id = ? AND session_digest = ?", arguments: [tenant, Data(digest)])
            return chats + db.changesCount
        }
    }

    /// Rows of chat state right now (expired ones included until the next write removes them).
    public func chatStateCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM chat_state") ?? 0 }
    }

    // MARK: API keys

    /// A key as listed (never the secret).
    public struct APIKeyInfo: Sendable, Hashable {
        public var id: String
        public var tenant: String
        public var label: String
        public var createdAt: Date
        public var revokedAt: Date?
    }

    /// The key prefix: `kr_<16 hex id>_<43 base64url secret>`.
    static let keyPrefix = "kr_"

    func apiKeyHasher(tenant: String) async throws -> BLAKE2bKeyedHasher {
        BLAKE2bKeyedHasher(guardedKey: try await keys.purposeKey(tenant: tenant, .apiKeys), outputLength: 32)
    }

    /// Creates a key for `tenant`. Returns its id and the whole key, which is shown once and never stored.
    public func createAPIKey(tenant: String, label: String, now: Date = Date()) async throws -> (id: String, key: String) {
        guard try await keys.tenants().contains(tenant) else { throw TranscriptStoreError.unknownTenant(tenant) }
        let id = Sodium.randomBytes(8).map { String(format: "%02x", $0) }.joined()
        let secret = Data(Sodium.randomBytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let key = Self.keyPrefix + id + "_" + secret
        let hash = try await apiKeyHasher(tenant: tenant).digest(Array(key.utf8))
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO api_keys(id, tenant_id, label, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, tenant, label, Data(hash), now.timeIntervalSince1970])
        }
        return (id, key)
    }

    /// The tenant's keys (all tenants' with nil), oldest first.
    public func listAPIKeys(tenant: String?) async throws -> [APIKeyInfo] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, tenant_id, label, created_at, revoked_at FROM api_keys"
                                 + (tenant == nil ? "" : " WHERE tenant_id = ?") + " ORDER BY created_at, id",
                             arguments: tenant.map { [$0] } ?? []).map { row in
                APIKeyInfo(id: row["id"], tenant: row["tenant_id"], label: row["label"],
                           createdAt: Date(timeIntervalSince1970: row["created_at"]),
                           revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    /// Revokes a key of `tenant`; true when it existed and was active.
    public func revokeAPIKey(tenant: String, id: String, now: Date = Date()) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
                           arguments: [now.timeIntervalSince1970, id, tenant])
            return db.changesCount > 0
        }
    }

    /// The tenant and key id of a presented key, or nil when it is malformed, unknown, revoked
    /// or does not match. The hash is compared in constant time.
    public func authenticate(key: String) async throws -> (tenant: String, id: String)? {
        guard key.hasPrefix(Self.keyPrefix), key.utf8.count == 3 + 16 + 1 + 43 else { return nil }
        let id = String(key.dropFirst(3).prefix(16))
        guard id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        let found: (tenant: String, hash: Data, revoked: Bool)? = try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT tenant_id, secret_hash, revoked_at FROM api_keys WHERE id = ?", arguments: [id])
            else { return nil }
            return (row["tenant_id"], row["secret_hash"], (row["revoked_at"] as Double?) != nil)
        }
        guard let found else { return nil }
        let tenant = found.tenant
        let presented = try await apiKeyHasher(tenant: tenant).digest(Array(key.utf8))
        guard Sodium.constantTimeEqual(presented, Array(found.hash)), !found.revoked else { return nil }
        return (tenant, id)
    }
}

/// Errors of the relay's state database. None carries a token, key or text.
public enum RelayStateError: Error, Sendable, CustomStringConvertible {
    /// A sealed state row did not open (tampered, or another master key).
    case corrupt

    public var description: String {
        switch self {
        case .corrupt: return "a sealed chat-state record did not verify"
        }
    }
}
