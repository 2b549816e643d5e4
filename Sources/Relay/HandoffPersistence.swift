import Foundation
import GRDB
import Logging
import Sealing
import SupportBot

/// A chat in the human hand-off as it survives a server restart: its place in the queue
/// (priority class, reason, when it joined), the agent it is with, and the bot's redacted
/// summary and the agents' redacted notes. Sealed as a whole in `relay.sqlite`
/// (``RelayStateStore``): the order number and the notes are personal data.
public struct PersistedHandoff: Sendable, Codable, Equatable {
    public struct Note: Sendable, Codable, Equatable {
        public var author: String
        public var text: String
        public var at: Date
    }

    public var session: String
    public var language: String
    public var reason: Handoff.Reason
    /// ``QueueUrgency`` raw value.
    public var urgency: Int
    public var summary: String
    public var anger: [Double]
    public var orderNumber: String?
    public var enqueuedAt: Date
    /// Returned to the queue by an agent who went offline (front of its class).
    public var returned: Bool
    /// The agent account the chat is with (nil: queued).
    public var agentID: Int64?
    public var agentName: String?
    public var takenAt: Date?
    public var escalated: Bool
    public var notes: [Note]
}

extension RelayStateStore {
    static func handoffAAD(tenant: String, digest: [UInt8]) -> [UInt8] {
        Array("KRhandoff".utf8) + [UInt8(tenant.utf8.count)] + Array(tenant.utf8) + digest
    }

    /// Writes the sealed hand-off row of `session` as `current()` returns it at the moment of
    /// writing (nil: deletes the row). `current` runs inside the database's single writer, so
    /// concurrent calls write in the order of their snapshots: the row always ends at the newest
    /// state, and a late call can never bring back a chat that has left the hand-off.
    func writeHandoff(tenant: String, session: String, keys: TenantStateKeys,
                      current: @escaping @Sendable () -> PersistedHandoff?) async throws {
        let digest = Self.sessionDigest(session, keys: keys)
        let aad = Self.handoffAAD(tenant: tenant, digest: digest)
        try await pool.write { db in
            guard let record = current() else {
                try db.execute(sql: "DELETE FROM handoff_chats WHERE tenant_id = ? AND session_digest = ?", arguments: [tenant, Data(digest)])
                return
            }
            let sealed = XChaCha20Poly1305.seal(try JSONEncoder().encode(record).map { $0 }, aad: aad, key: keys.seal)
            try db.execute(sql: "INSERT OR REPLACE INTO handoff_chats(tenant_id, session_digest, updated_at, sealed) VALUES (?, ?, ?, ?)",
                           arguments: [tenant, Data(digest), Date().timeIntervalSince1970, Data(sealed)])
        }
    }

    /// Every hand-off row of `tenant`, opened. A row that does not open (tampered, another
    /// master key) is left in place and counted in `corrupt`, never guessed at.
    public func loadHandoffs(tenant: String) async throws -> (chats: [PersistedHandoff], corrupt: Int) {
        let keys = try await stateKeys(tenant: tenant)
        let rows: [(Data, Data)] = try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT session_digest, sealed FROM handoff_chats WHERE tenant_id = ?", arguments: [tenant])
                .map { ($0["session_digest"], $0["sealed"]) }
        }
        var chats: [PersistedHandoff] = []
        var corrupt = 0
        for (digest, sealed) in rows {
            guard let plain = XChaCha20Poly1305.open(Array(sealed), aad: Self.handoffAAD(tenant: tenant, digest: Array(digest)), key: keys.seal),
                  let chat = try? JSONDecoder().decode(PersistedHandoff.self, from: Data(plain)),
                  Self.sessionDigest(chat.session, keys: keys) == Array(digest) else {
                corrupt += 1
                continue
            }
            chats.append(chat)
        }
        return (chats, corrupt)
    }

    /// Rows in the hand-off table (all tenants).
    public func handoffCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM handoff_chats") ?? 0 }
    }
}

/// Writes the hand-off desk's changes to `relay.sqlite` (see
/// ``RelayStateStore/writeHandoff(tenant:session:keys:current:)`` for why they stay in order),
/// off the concurrency pool (GRDB's writer queue does the disk work), with the tenants' keys
/// derived once.
actor HandoffPersistence {
    let store: RelayStateStore
    let logger: Logger
    private var keys: [String: RelayStateStore.TenantStateKeys] = [:]

    init(store: RelayStateStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func sync(tenant: String, session: String, current: @escaping @Sendable () -> PersistedHandoff?) async {
        do {
            let tenantKeys: RelayStateStore.TenantStateKeys
            if let cached = keys[tenant] {
                tenantKeys = cached
            } else {
                tenantKeys = try await store.stateKeys(tenant: tenant)
                keys[tenant] = tenantKeys
            }
            try await store.writeHandoff(tenant: tenant, session: session, keys: tenantKeys, current: current)
        } catch {
            // The live desk goes on; only a restart would lose this change.
            logger.error("agents.persist_failed", metadata: ["session": "\(session)", "error": "\(type(of: error))"])
        }
    }

    func saveAverageHandleTime(tenant: String, seconds: TimeInterval) async {
        do { try await store.saveAverageHandleTime(tenant: tenant, seconds: seconds) } catch {
            // Only the estimate after a restart would fall back to the seed.
            logger.error("agents.persist_failed", metadata: ["what": "average_handle_time", "error": "\(type(of: error))"])
        }
    }
}
