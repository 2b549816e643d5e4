import Compliance
import Foundation
import Logging
import PolicyFiles
import Relay
import Sealing
import SupportBotDemoStore
import TranscriptStore

/// The demo shop's re-send queue is the outbox data class (see `DeliveryOutbox`).
extension DemoOrderStore: DeliveryOutbox {
    public func removeRecords(queuedBefore cutoff: Date, dryRun: Bool) async throws -> Int {
        try removeOutboxRecords(queuedBefore: cutoff, dryRun: dryRun)
    }
}

/// The pieces `serve` adds for compliance: the retention scheduler and policy-change entries.
enum ServeRetention {
    /// Unlocks the keyring for `serve`, keeping the passphrase (in guarded memory) so the erasure
    /// epoch can re-seal a new master key inside the server. With an exported master key there is
    /// no passphrase: the epoch then has to run from the CLI.
    static func unlock(_ options: StoreOptions) throws -> (ring: MasterKeyring, passphrase: GuardedKey?) {
        if options.resolvedMasterKeyFile != nil { return (try options.unlockKeyring().ring, nil) }
        try options.requireMasterKey()
        var pass = try options.passphrase()
        defer { pass.withUnsafeMutableBytes { zero($0) } }
        return (try options.unlockKeyring(passphrase: pass).ring, GuardedKey(copying: pass))
    }

    /// Records each tenant's retention and redaction policy when its digest changed, and builds
    /// the scheduler (nil when disabled).
    static func scheduler(store: SQLiteTranscriptStore, options: StoreOptions, passphrase: GuardedKey?,
                          tenants: [TenantRuntime], redactionPolicyFiles: [String: String], settings: RelayConfigFile.RetentionSettings,
                          logger: Logger) async throws -> RetentionScheduler? {
        let ledger = try ComplianceLedger(path: options.resolvedDataDir + "/compliance.sqlite")
        let compliance = Compliance(store: store, ledger: ledger)
        var scheduled: [ScheduledTenant] = []
        for tenant in tenants {
            let entry = ScheduledTenant.fromPolicyFiles(id: tenant.id, policiesDir: options.policiesDir,
                                                        outboxes: (tenant.bot.orders as? any DeliveryOutbox).map { [$0] } ?? [])
            // A broken policy stops the start with file:line: field, like every other config error.
            let loaded: (policy: RetentionPolicy, contents: Data?, file: String?)
            do { loaded = try entry.policy() } catch let error as PolicyFileError { throw CLIError(error.description) }
            try await compliance.recordPolicy(tenant: tenant.id, kind: "retention", contents: loaded.contents, file: loaded.file, actor: "serve")
            let redaction = redactionPolicyFiles[tenant.id]
            let redactionText = redaction.flatMap { FileManager.default.contents(atPath: $0) } ?? Data(RedactionPolicyFile.builtInDefaultText.utf8)
            try await compliance.recordPolicy(tenant: tenant.id, kind: "redaction", contents: redactionText, file: redaction, actor: "serve")
            scheduled.append(entry)
        }
        guard settings.enabled else { return nil }
        var rotate: (@Sendable () async throws -> String)?
        if let passphrase {
            rotate = EpochRun.masterRotation(options: options, store: store) { passphrase.withUnsafeBytes { Array($0) } }
        }
        return RetentionScheduler(compliance: compliance, tenants: scheduled,
                                  schedule: RetentionSchedule(interval: .seconds(settings.intervalMinutes * 60), batchSize: settings.batchSize),
                                  rotateMaster: rotate, logger: logger)
    }
}
