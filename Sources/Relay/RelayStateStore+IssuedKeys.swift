import Foundation
import GRDB
import Redaction

/// The card keys a shop has issued, as keyed digests, so a shop whose orders live in its own
/// backend still has its keys recognised by the redactor whatever their shape.
extension RelayStateStore {
    /// Adds digests (made with the tenant's tokenisation key); returns how many were new.
    public func addIssuedKeys(tenant: String, _ digests: [IssuedKeyDigest], now: Date = Date()) async throws -> Int {
        try await pool.write { db in
            var added = 0
            let statement = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO issued_keys (tenant_id, digest, length, letters_only, added_at) VALUES (?, ?, ?, ?, ?)
                """)
            for d in digests {
                try statement.execute(arguments: [tenant, Data(d.digest), d.length, d.lettersOnly, now.timeIntervalSince1970])
                added += db.changesCount
            }
            return added
        }
    }

    /// Every digest held for the tenant.
    public func issuedKeys(tenant: String) async throws -> [IssuedKeyDigest] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT digest, length, letters_only FROM issued_keys WHERE tenant_id = ?", arguments: [tenant]).map {
                IssuedKeyDigest(digest: [UInt8]($0["digest"] as Data), length: $0["length"], lettersOnly: $0["letters_only"])
            }
        }
    }

    /// How many digests the tenant has, and a marker that moves whenever digests are added
    /// (to any tenant); with the count it tells the relay when to reload.
    public func issuedKeysVersion(tenant: String) async throws -> (count: Int, marker: Int64) {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, (SELECT COALESCE(MAX(id), 0) FROM issued_keys) AS m FROM issued_keys WHERE tenant_id = ?",
                                       arguments: [tenant])
            return (row?["n"] ?? 0, row?["m"] ?? 0)
        }
    }

    /// Removes every digest of the tenant; returns how many.
    public func clearIssuedKeys(tenant: String) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM issued_keys WHERE tenant_id = ?", arguments: [tenant])
            return db.changesCount
        }
    }
}
