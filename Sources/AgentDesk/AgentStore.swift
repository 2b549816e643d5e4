import Foundation
import GRDB

/// Agent accounts and login sessions in `<data-dir>/agents.sqlite` (GRDB, WAL, mode 0600).
///
/// Holds no customer data: usernames, roles, Argon2id password hashes, lock-out counters and
/// login sessions stored only as keyed hashes of their tokens.
public final class AgentStore: Sendable {
    let queue: DatabaseQueue
    public let path: String

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case duplicateAccount(tenant: String, username: String)
        case unknownAccount(tenant: String, username: String)
        case invalidUsername
        case invalidTenant
        public var description: String {
            switch self {
            case .duplicateAccount(let t, let u): return "tenant \(t) already has an account \(u)"
            case .unknownAccount(let t, let u): return "tenant \(t) has no account \(u)"
            case .invalidUsername: return "usernames are 1–64 characters of a–z, 0–9, '.', '-' or '_' (lower case)"
            case .invalidTenant: return "tenant ids are 1–64 characters of a–z, 0–9, '-' or '_'"
            }
        }
    }

    /// Opens (creating when missing) the store at `path`.
    public init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON; PRAGMA synchronous = FULL") }
        config.busyMode = .timeout(10)
        config.journalMode = .wal
        queue = try DatabaseQueue(path: path, configuration: config)
        self.path = path
        try Self.migrator.migrate(queue)
        for file in [path, path + "-wal", path + "-shm"] { _ = chmod(file, 0o600) }
    }

    /// The store's file inside a data directory.
    public static func path(dataDirectory: String) -> String { dataDirectory + "/agents.sqlite" }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: agents, login sessions") { db in
            try db.execute(sql: """
                CREATE TABLE agents (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL,
                    username TEXT NOT NULL,
                    role TEXT NOT NULL,
                    password_hash TEXT NOT NULL,
                    disabled INTEGER NOT NULL DEFAULT 0,
                    failed_logins INTEGER NOT NULL DEFAULT 0,
                    locked_until REAL,
                    created_at REAL NOT NULL,
                    password_changed_at REAL NOT NULL,
                    UNIQUE (tenant_id, username)
                );
                CREATE TABLE login_sessions (
                    token_hash BLOB PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
                    created_at REAL NOT NULL,
                    last_seen_at REAL NOT NULL,
                    expires_at REAL NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX login_sessions_agent ON login_sessions(agent_id);
                """)
        }
        return m
    }

    static func validUsername(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e || $0 == 0x2d || $0 == 0x5f
        }
    }

    static func validTenant(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f
        }
    }

    // MARK: Accounts

    /// Adds an account with an already computed ``PasswordHash``.
    @discardableResult
    public func addAccount(tenant: String, username: String, role: AgentRole, passwordHash: String, at: Date = Date()) throws -> AgentAccount {
        guard Self.validTenant(tenant) else { throw Failure.invalidTenant }
        guard Self.validUsername(username) else { throw Failure.invalidUsername }
        return try queue.write { db in
            if try Int.fetchOne(db, sql: "SELECT 1 FROM agents WHERE tenant_id = ? AND username = ?", arguments: [tenant, username]) != nil {
                throw Failure.duplicateAccount(tenant: tenant, username: username)
            }
            try db.execute(sql: """
                INSERT INTO agents(tenant_id, username, role, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [tenant, username, role.rawValue, passwordHash, at.timeIntervalSince1970, at.timeIntervalSince1970])
            return AgentAccount(id: db.lastInsertedRowID, tenant: tenant, username: username, role: role, disabled: false,
                                failedLogins: 0, lockedUntil: nil, createdAt: at, passwordChangedAt: at)
        }
    }

    /// Accounts, optionally of one tenant, by tenant then username.
    public func accounts(tenant: String? = nil) throws -> [AgentAccount] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM agents WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY tenant_id, username",
                             arguments: [tenant]).map(Self.account)
        }
    }

    public func account(tenant: String, username: String) throws -> AgentAccount? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE tenant_id = ? AND username = ?", arguments: [tenant, username]).map(Self.account)
        }
    }

    public func account(id: Int64) throws -> AgentAccount? {
        try queue.read { db in try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE id = ?", arguments: [id]).map(Self.account) }
    }

    /// The account and its password hash, for a login attempt.
    func credentials(tenant: String, username: String) throws -> (AgentAccount, String)? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE tenant_id = ? AND username = ?", arguments: [tenant, username])
                .map { (Self.account($0), $0["password_hash"] as String) }
        }
    }

    /// Disables (or re-enables) an account; disabling ends its login sessions.
    public func setDisabled(tenant: String, username: String, _ disabled: Bool) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE agents SET disabled = ? WHERE tenant_id = ? AND username = ?",
                           arguments: [disabled, tenant, username])
            guard db.changesCount == 1 else { throw Failure.unknownAccount(tenant: tenant, username: username) }
            if disabled {
                try db.execute(sql: "DELETE FROM login_sessions WHERE agent_id = (SELECT id FROM agents WHERE tenant_id = ? AND username = ?)",
                               arguments: [tenant, username])
            }
        }
    }

    /// Replaces the password hash, clears the lock-out and ends every login session of the account.
    public func setPassword(tenant: String, username: String, passwordHash: String, at: Date = Date()) throws {
        try queue.write { db in
            try db.execute(sql: """
                UPDATE agents SET password_hash = ?, failed_logins = 0, locked_until = NULL, password_changed_at = ?
                WHERE tenant_id = ? AND username = ?
                """, arguments: [passwordHash, at.timeIntervalSince1970, tenant, username])
            guard db.changesCount == 1 else { throw Failure.unknownAccount(tenant: tenant, username: username) }
            try db.execute(sql: "DELETE FROM login_sessions WHERE agent_id = (SELECT id FROM agents WHERE tenant_id = ? AND username = ?)",
                           arguments: [tenant, username])
        }
    }

    /// Counts a failed login; locks the account once `maxFailures` is reached. Returns the lock's end, if locked.
    func recordFailure(id: Int64, maxFailures: Int, lockout: TimeInterval, at: Date) throws -> Date? {
        try queue.write { db in
            let failures = (try Int.fetchOne(db, sql: "SELECT failed_logins FROM agents WHERE id = ?", arguments: [id]) ?? 0) + 1
            if failures >= maxFailures {
                let until = at.addingTimeInterval(lockout)
                try db.execute(sql: "UPDATE agents SET failed_logins = 0, locked_until = ? WHERE id = ?",
                               arguments: [until.timeIntervalSince1970, id])
                return until
            }
            try db.execute(sql: "UPDATE agents SET failed_logins = ? WHERE id = ?", arguments: [failures, id])
            return nil
        }
    }

    func recordSuccess(id: Int64) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE agents SET failed_logins = 0, locked_until = NULL WHERE id = ?", arguments: [id])
        }
    }

    static func account(_ r: Row) -> AgentAccount {
        AgentAccount(id: r["id"], tenant: r["tenant_id"], username: r["username"], role: AgentRole(rawValue: r["role"]) ?? .agent,
                     disabled: r["disabled"], failedLogins: r["failed_logins"],
                     lockedUntil: (r["locked_until"] as Double?).map { Date(timeIntervalSince1970: $0) },
                     createdAt: Date(timeIntervalSince1970: r["created_at"]),
                     passwordChangedAt: Date(timeIntervalSince1970: r["password_changed_at"]))
    }

    // MARK: Login sessions

    struct LoginSessionRow: Sendable {
        var tenant: String
        var agentID: Int64
        var createdAt: Date
        var lastSeenAt: Date
        var expiresAt: Date
    }

    func insertSession(tokenHash: [UInt8], tenant: String, agentID: Int64, at: Date, expiresAt: Date) throws {
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO login_sessions(token_hash, tenant_id, agent_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [Data(tokenHash), tenant, agentID, at.timeIntervalSince1970, at.timeIntervalSince1970,
                                 expiresAt.timeIntervalSince1970])
            // Expired sessions go on every login, so the table stays small.
            try db.execute(sql: "DELETE FROM login_sessions WHERE expires_at < ?", arguments: [at.timeIntervalSince1970])
        }
    }

    func session(tokenHash: [UInt8]) throws -> LoginSessionRow? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM login_sessions WHERE token_hash = ?", arguments: [Data(tokenHash)]).map {
                LoginSessionRow(tenant: $0["tenant_id"], agentID: $0["agent_id"], createdAt: Date(timeIntervalSince1970: $0["created_at"]),
                                lastSeenAt: Date(timeIntervalSince1970: $0["last_seen_at"]),
                                expiresAt: Date(timeIntervalSince1970: $0["expires_at"]))
            }
        }
    }

    func touchSession(tokenHash: [UInt8], at: Date) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE login_sessions SET last_seen_at = ? WHERE token_hash = ?", arguments: [at.timeIntervalSince1970, Data(tokenHash)])
        }
    }

    func deleteSession(tokenHash: [UInt8]) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM login_sessions WHERE token_hash = ?", arguments: [Data(tokenHash)]) }
    }

    /// Live login sessions (for `agents list` and tests).
    public func sessionCount(tenant: String? = nil) throws -> Int {
        try queue.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM login_sessions WHERE (?1 IS NULL OR tenant_id = ?1)", arguments: [tenant]) ?? 0
        }
    }
}
