import Compliance
import Foundation
import Sealing
import TranscriptStore

/// Where the desk records logins, take-overs and transcript views. Entries carry account ids
/// (`agent#12`), session ids (random) and outcomes — never names typed at the login form,
/// message text or identifiers.
public protocol AgentAuditLog: Sendable {
    /// Throws when the entry could not be written durably; callers refuse the audited action then.
    func record(tenant: String, actor: String, action: String, detail: [String: String]) async throws
}

/// The Compliance ledger's hash-chained, signed audit log (`compliance.sqlite`).
public struct LedgerAgentAudit: AgentAuditLog {
    let ledger: ComplianceLedger
    let store: any TranscriptStore

    public init(ledger: ComplianceLedger, store: any TranscriptStore) {
        self.ledger = ledger
        self.store = store
    }

    public func record(tenant: String, actor: String, action: String, detail: [String: String]) async throws {
        let signer = Ed25519SigningKey(seed: try await store.purposeKey(tenant: tenant, .complianceSigning))
        try ledger.append(tenant: tenant, actor: actor, action: action, detail: detail, signer: signer)
    }
}
