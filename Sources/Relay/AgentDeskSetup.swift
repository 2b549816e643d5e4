import AgentDesk
import Compliance
import Foundation
import Logging
import Sealing
import TranscriptStore

/// Opens the agent desk of a data directory: accounts and logins in `agents.sqlite`, session
/// tokens hashed under each tenant's `KRagsess` purpose key, audit entries in the Compliance
/// ledger (`compliance.sqlite`), each tenant's rules from `policies/agents/TENANT.yaml` when present
/// (else `policies`). With the relay's `state` database the hand-off queue and the chats with
/// agents are kept there (sealed) and restored from it here, so they survive a restart.
public enum AgentDeskSetup {
    public static func open(dataDirectory: String, store: SQLiteTranscriptStore, tenants: TenantDirectory,
                            policies: [String: AgentDeskPolicy] = [:], settings: AgentAuthSettings = AgentAuthSettings(),
                            passwordParameters: Argon2idParameters = .interactive, clock: @escaping @Sendable () -> Date = { Date() },
                            logger: Logger = Logger(label: "kamirelay.agents"), state: RelayStateStore? = nil) async throws -> AgentHub {
        let accounts = try AgentStore(path: AgentStore.path(dataDirectory: dataDirectory))
        var keys: [String: BLAKE2bKeyedHasher] = [:]
        for id in tenants.tenants.keys {
            keys[id] = BLAKE2bKeyedHasher(guardedKey: try await store.purposeKey(tenant: id, .agentSessions), outputLength: 32)
        }
        let authenticator = try AgentAuthenticator(store: accounts, tokenKeys: keys, settings: settings,
                                                   passwordParameters: passwordParameters, clock: clock)
        let ledger = try ComplianceLedger(path: dataDirectory + "/compliance.sqlite")
        let files = try AgentDeskPolicyFile.loadAll(dataDirectory: dataDirectory, tenants: Array(tenants.tenants.keys), defaults: policies)
        let hub = AgentHub(tenants: tenants, store: store, authenticator: authenticator,
                           audit: LedgerAgentAudit(ledger: ledger, store: store), policies: files, clock: clock, logger: logger, state: state)
        await hub.restore()
        return hub
    }

    /// `serve --demo`: (re)creates the demo agent account with a fresh random password and
    /// returns it. Development only — the caller prints it.
    public static func demoAccount(_ hub: AgentHub, tenant: String, username: String = "demo-agent",
                                   role: AgentRole = .supervisor, parameters: Argon2idParameters = .interactive) throws -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        let password = String(Sodium.randomBytes(20).map { alphabet[Int($0) % alphabet.count] })
        let hash = try PasswordHash.hash(Array(password.utf8), parameters: parameters)
        let store = hub.authenticator.store
        if try store.account(tenant: tenant, username: username) == nil {
            try store.addAccount(tenant: tenant, username: username, role: role, passwordHash: hash)
        } else {
            try store.setPassword(tenant: tenant, username: username, passwordHash: hash)
            try store.setDisabled(tenant: tenant, username: username, false)
        }
        return password
    }
}
