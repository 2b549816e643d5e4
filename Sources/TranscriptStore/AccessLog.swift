import Foundation

/// One operator access to decrypted transcripts.
public struct AccessEvent: Sendable, Hashable {
    public var at: Date
    /// Who read (the operator's login name, or `--operator`).
    public var actor: String
    public var tenant: String
    /// What was done, e.g. `transcripts.show`.
    public var action: String
    /// What was read: `session:<id>` or `subject:<kind>:<pseudonym>` — a subject is recorded by
    /// a keyed pseudonym (the tenant's audit key), never by the identifier itself.
    public var target: String
    /// How many messages were decrypted.
    public var messageCount: Int

    public init(at: Date = Date(), actor: String, tenant: String, action: String, target: String, messageCount: Int) {
        self.at = at
        self.actor = actor
        self.tenant = tenant
        self.action = action
        self.target = target
        self.messageCount = messageCount
    }
}

/// Where accesses are recorded. Today an append-only table (updates and deletes are refused by
/// triggers); the seam for the tamper-evident hash chain of a later issue: an implementation
/// that links each entry to the previous one's MAC (audit purpose key) conforms to this protocol.
public protocol AccessLog: Sendable {
    /// Appends an event durably; the caller must not show data if this throws.
    func record(_ event: AccessEvent) async throws
    /// All events, oldest first (optionally for one tenant).
    func events(tenant: String?) async throws -> [AccessEvent]
}
