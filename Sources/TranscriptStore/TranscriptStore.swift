import Foundation
import Sealing

/// A message about to be stored. Its text must already be redacted: the store seals whatever
/// it is given.
public struct PendingMessage: Sendable {
    public var tenant: String
    public var session: String
    public var role: SenderRole
    /// Redacted text.
    public var text: String
    public var sentAt: Date
    /// An optional de-duplication key (keyed hash, see ``TranscriptStore/purposeKey(tenant:_:)``):
    /// a message whose key is already stored for the tenant is skipped.
    public var dedupKey: [UInt8]?

    public init(tenant: String, session: String, role: SenderRole, text: String, sentAt: Date = Date(), dedupKey: [UInt8]? = nil) {
        self.tenant = tenant
        self.session = session
        self.role = role
        self.text = text
        self.sentAt = sentAt
        self.dedupKey = dedupKey
    }
}

/// A request to open (or link identifiers to) a session.
public struct SessionOpening: Sendable {
    public var tenant: String
    public var session: String
    public var channel: String
    public var identifiers: [SubjectIdentifier]
    public var at: Date
    public init(tenant: String, session: String, channel: String, identifiers: [SubjectIdentifier], at: Date) {
        self.tenant = tenant
        self.session = session
        self.channel = channel
        self.identifiers = identifiers
        self.at = at
    }
}

/// Where a stored message landed; returned only after the transaction is durable.
public struct StoredMessageRef: Sendable, Hashable {
    public var tenant: String
    public var session: String
    public var sequence: UInt64
}

/// The outcome of ``TranscriptStore/append(_:)``.
public struct AppendResult: Sendable {
    /// Messages written (durable when this is returned), in input order.
    public var stored: [StoredMessageRef]
    /// Input indexes skipped because their de-duplication key was already stored.
    public var duplicates: [Int]
}

/// A chat session's non-identifying metadata.
public struct SessionInfo: Sendable, Hashable {
    public var tenant: String
    public var id: String
    public var channel: String
    public var createdAt: Date
    public var lastActivityAt: Date
    public var status: String
    public var messageCount: Int
}

/// One decrypted message.
public struct TranscriptMessage: Sendable, Hashable {
    public var sequence: UInt64
    public var role: SenderRole
    public var sentAt: Date
    /// The (redacted) text as stored.
    public var text: String
}

/// What the relay and the compliance code use to persist and read transcripts. The SQLite
/// implementation is ``SQLiteTranscriptStore``; a PostgreSQL backend would conform to the same
/// protocol. All methods are async and never block the caller's event loop.
public protocol TranscriptStore: Sendable {
    /// Registers a tenant with a fresh random tenant key (version 1). Throws if it exists.
    func addTenant(_ tenant: String) async throws
    /// All tenant ids, sorted.
    func tenants() async throws -> [String]
    /// Creates the session if it is new (under a subject found through `identifiers`, or a new
    /// one) and links any identifiers not yet linked. Idempotent.
    @discardableResult
    func openSession(tenant: String, session: String, channel: String, identifiers: [SubjectIdentifier], at: Date) async throws -> SessionInfo
    /// ``openSession(tenant:session:channel:identifiers:at:)`` for many sessions in one transaction.
    func openSessions(_ requests: [SessionOpening]) async throws
    /// Seals and stores a batch of messages (any sessions of open sessions) in one durable
    /// transaction.
    func append(_ messages: [PendingMessage]) async throws -> AppendResult
    /// A session's messages, decrypted, in order.
    func transcript(tenant: String, session: String) async throws -> [TranscriptMessage]
    /// A session's metadata.
    func session(tenant: String, session: String) async throws -> SessionInfo
    /// The sessions linked to a subject, found through the identifier's blind index.
    func sessions(tenant: String, subject: SubjectIdentifier) async throws -> [SessionInfo]
    /// Which of `sessions` still exist (not erased, not removed by retention). Reads session
    /// rows only: nothing is decrypted. For the relay's check of its open chats.
    func existingSessions(tenant: String, among sessions: Set<String>) async throws -> Set<String>
    /// A per-tenant purpose key (redaction tokens, audit pseudonyms, import de-duplication).
    func purposeKey(tenant: String, _ purpose: KeyPurpose) async throws -> GuardedKey
    /// The access audit log for reads by operators.
    var accessLog: any AccessLog { get }
}

extension TranscriptStore {
    /// One look-up per session; ``SQLiteTranscriptStore`` answers a whole set in one query.
    public func existingSessions(tenant: String, among sessions: Set<String>) async throws -> Set<String> {
        var existing = Set<String>()
        for id in sessions {
            do {
                _ = try await session(tenant: tenant, session: id)
                existing.insert(id)
            } catch TranscriptStoreError.unknownSession {
                continue
            }
        }
        return existing
    }
}

/// Tenant-key operations for the operator CLI (`kamirelay keys …`).
public protocol TenantKeyManagement: Sendable {
    /// Adds a new random tenant-key version and makes it current. Returns the new version.
    func rotateTenantKey(tenant: String) async throws -> Int
    /// Re-wraps every subject key still under an older version with the current one, in
    /// batches of `batchSize` (each batch its own transaction, so a killed run resumes).
    func rewrapSubjectKeys(tenant: String, batchSize: Int, progress: (@Sendable (RewrapProgress) -> Void)?) async throws -> RewrapProgress
    /// Destroys every version below `version`. Refuses while subject keys depend on them unless
    /// `force` (their messages then become unreadable for good).
    func trimTenantKeys(tenant: String, below version: Int, force: Bool) async throws -> TrimResult
    /// Versions, subject-key counts per version and last rotation, per tenant.
    func keyStatus(tenant: String?) async throws -> [TenantKeyStatus]
}

/// Progress of a rewrap.
public struct RewrapProgress: Sendable, Hashable {
    /// Subject keys re-wrapped so far in this run.
    public var rewrapped: Int
    /// Subject keys under an older version when the run started.
    public var total: Int
    /// The version keys were wrapped to.
    public var currentVersion: Int
}

/// What a trim destroyed.
public struct TrimResult: Sendable, Hashable {
    public var destroyedVersions: [Int]
    /// Subject keys that were still under a destroyed version (only non-zero when forced).
    public var orphanedSubjectKeys: Int
}

/// A tenant's key versions.
public struct TenantKeyStatus: Sendable, Hashable {
    public struct Version: Sendable, Hashable {
        public var version: Int
        public var createdAt: Date
        public var subjectKeys: Int
        public var masterKeyID: String
    }
    public var tenant: String
    public var currentVersion: Int
    public var minDecryptionVersion: Int
    public var lastRotatedAt: Date?
    public var versions: [Version]
    /// Subject keys whose version has been destroyed (forced trim).
    public var orphanedSubjectKeys: Int
}

/// Errors from the transcript store. None carries message text or key material.
public enum TranscriptStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownTenant(String)
    case tenantExists(String)
    case invalidTenantID(String)
    case unknownSession(tenant: String, session: String)
    case invalidIdentifier(SubjectIdentifier.Kind)
    case unknownSubject
    /// A record or subject key needs a tenant-key version that does not exist (trimmed or never made).
    case unknownTenantKeyVersion(tenant: String, version: Int)
    /// The keys directory's master key is not the one this database was sealed with.
    case masterKeyUnavailable(id: String)
    case keyVersionsInUse(tenant: String, subjectKeys: Int, below: Int)
    case invalidTrimVersion(tenant: String, below: Int, current: Int)
    /// A record failed to open; the position is given, never the content.
    case corruptRecord(tenant: String, session: String, sequence: UInt64, SealingError)
    case invalidText(tenant: String, session: String, sequence: UInt64)

    public var description: String {
        switch self {
        case .unknownTenant(let t): return "unknown tenant '\(t)' (add it with `kamirelay tenants add \(t)`)"
        case .tenantExists(let t): return "tenant '\(t)' already exists"
        case .invalidTenantID(let t): return "invalid tenant id '\(t)': use 1-64 characters a-z, 0-9, '-', '_', '.'"
        case .unknownSession(let t, let s): return "no session '\(s)' for tenant '\(t)'"
        case .invalidIdentifier(let k): return "not a valid \(k.name) identifier"
        case .unknownSubject: return "no sessions are linked to that subject"
        case .unknownTenantKeyVersion(let t, let v):
            return "tenant '\(t)' key version \(v) does not exist (trimmed?); data under it cannot be decrypted"
        case .masterKeyUnavailable(let id):
            return "this data directory needs master key \(id), which the keys directory does not hold"
        case .keyVersionsInUse(let t, let n, let v):
            return "tenant '\(t)': \(n) subject key(s) still depend on versions below \(v); run `kamirelay keys rewrap --tenant \(t)` first (or --force to destroy them)"
        case .invalidTrimVersion(let t, let v, let c):
            return "tenant '\(t)': cannot trim below \(v); the current version is \(c) and must survive"
        case .corruptRecord(let t, let s, let q, let e): return "tenant '\(t)' session '\(s)' message \(q): \(e)"
        case .invalidText(let t, let s, let q): return "tenant '\(t)' session '\(s)' message \(q): decrypted text is not UTF-8"
        }
    }
}

enum TenantID {
    /// Tenant ids go into file names, AAD and error messages: keep them plain.
    static func validate(_ id: String) throws(TranscriptStoreError) {
        let ok = (1...64).contains(id.utf8.count) && id.utf8.allSatisfy {
            ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
        }
        if !ok { throw .invalidTenantID(id) }
    }
}
