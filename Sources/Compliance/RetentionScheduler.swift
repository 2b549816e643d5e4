import Foundation
import Logging
import PolicyFiles
import ServiceLifecycle

/// How often the server applies retention and how it batches.
public struct RetentionSchedule: Sendable, Hashable {
    /// Time between rounds. At most 12 h, so an erasure is covered by an epoch within 24 h
    /// (the epoch waits ``Compliance/epochBatchWindow`` = 12 h to batch erasures, then runs on
    /// the next round).
    public var interval: Duration
    /// Sessions per write transaction: each batch is one short transaction, so live chat
    /// appends wait at most one batch.
    public var batchSize: Int
    public static let maximumInterval: Duration = .seconds(12 * 3_600)

    public init(interval: Duration = .seconds(3_600), batchSize: Int = 200) {
        self.interval = min(interval, Self.maximumInterval)
        self.batchSize = max(1, batchSize)
    }
}

/// A tenant the scheduler sweeps: where its policy comes from and its outboxes.
public struct ScheduledTenant: Sendable {
    public var id: String
    /// Loads the tenant's current retention policy file each round (nil file: the built-in
    /// default, whose contents are its YAML rendering), so an edited file takes effect without a restart and is recorded when it changes.
    public var policy: @Sendable () throws -> (policy: RetentionPolicy, contents: Data?, file: String?)
    public var outboxes: [any DeliveryOutbox]

    public init(id: String, outboxes: [any DeliveryOutbox] = [],
                policy: @escaping @Sendable () throws -> (policy: RetentionPolicy, contents: Data?, file: String?)) {
        self.id = id
        self.policy = policy
        self.outboxes = outboxes
    }

    /// The tenant's file `<policiesDir>/retention/<id>.yaml`, or the default when it has none.
    public static func fromPolicyFiles(id: String, policiesDir: String, outboxes: [any DeliveryOutbox] = []) -> ScheduledTenant {
        ScheduledTenant(id: id, outboxes: outboxes) {
            let path = RetentionPolicyFile.path(policiesDir: policiesDir, tenant: id)
            guard let data = FileManager.default.contents(atPath: path) else { return (.default, Data(RetentionPolicy.default.yaml.utf8), nil) }
            guard let text = String(data: data, encoding: .utf8) else {
                throw PolicyFileError(file: path, line: nil, field: nil, reason: "the file is not valid UTF-8")
            }
            return (try RetentionPolicyFile.parse(yaml: text, file: path), data, path)
        }
    }
}

/// What one round did.
public struct RetentionRound: Sendable {
    public var sweeps: [SweepReport]
    /// Tenants whose sweep failed this round (their policy file is broken, or the store failed),
    /// with the error's description (never data).
    public var failures: [String: String]
    public var epoch: EpochReport?
    public var startedAt: Date
}

/// The retention sweeper inside the server (a swift-service-lifecycle `Service`): every
/// ``RetentionSchedule/interval`` it sweeps each tenant with its current policy and runs the
/// erasure epoch when due, so pre-erasure database copies stop decrypting at most 24 h after an
/// erasure. A failing tenant is logged and retried next round; it never stops the server.
/// Graceful shutdown lets the current batch finish and ends the loop.
public struct RetentionScheduler: Service {
    let compliance: Compliance
    let tenants: [ScheduledTenant]
    let schedule: RetentionSchedule
    let rotateMaster: (@Sendable () async throws -> String)?
    let sleep: @Sendable (Duration) async throws -> Void
    let logger: Logger
    let onRound: (@Sendable (RetentionRound) -> Void)?
    let actor = "retention-scheduler"

    /// - Parameters:
    ///   - rotateMaster: replaces the master key during the erasure epoch (nil: the epoch cannot
    ///     run inside the server, e.g. with an exported master key; it is then logged as pending).
    ///   - sleep: injected for tests (defaults to `Task.sleep`).
    ///   - onRound: called after every round (tests, metrics).
    public init(compliance: Compliance, tenants: [ScheduledTenant], schedule: RetentionSchedule = .init(),
                rotateMaster: (@Sendable () async throws -> String)?, logger: Logger,
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                onRound: (@Sendable (RetentionRound) -> Void)? = nil) {
        self.compliance = compliance
        self.tenants = tenants
        self.schedule = schedule
        self.rotateMaster = rotateMaster
        self.logger = logger
        self.sleep = sleep
        self.onRound = onRound
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let round = await runOnce()
            onRound?(round)
            let interval = schedule.interval
            let sleep = self.sleep
            do {
                try await cancelWhenGracefulShutdown { try await sleep(interval) }
            } catch {
                return
            }
        }
    }

    /// One round: every tenant's sweep, then the epoch if due.
    public func runOnce() async -> RetentionRound {
        var round = RetentionRound(sweeps: [], failures: [:], epoch: nil, startedAt: compliance.clock())
        for tenant in tenants {
            if Task.isShuttingDownGracefully { break }
            do {
                let loaded = try tenant.policy()
                try await compliance.recordPolicy(tenant: tenant.id, kind: "retention", contents: loaded.contents, file: loaded.file, actor: actor)
                let report = try await compliance.sweep(tenant: tenant.id, policy: loaded.policy, actor: actor, dryRun: false,
                                                        batchSize: schedule.batchSize, outboxes: tenant.outboxes)
                round.sweeps.append(report)
                logger.info("retention sweep", metadata: [
                    "tenant": .string(tenant.id), "sessions": .stringConvertible(report.sessionMetadata.sessions),
                    "messages": .stringConvertible(report.removed.messages), "accessLog": .stringConvertible(report.accessLogEntries),
                    "auditEntries": .stringConvertible(report.auditEntries.entries), "outbox": .stringConvertible(report.outboxRecords),
                ])
            } catch {
                // A shutdown cancels the sweep in flight; that is not a failure (what was not
                // swept yet is swept next time the relay runs).
                if error is CancellationError || Task.isCancelled { return round }
                round.failures[tenant.id] = String(describing: error)
                logger.error("retention sweep failed; retried next round", metadata: ["tenant": .string(tenant.id), "error": .string(String(describing: error))])
            }
        }
        do {
            if let rotateMaster {
                let epoch = try await compliance.runErasureEpoch(force: false, actor: actor, rotateMaster: rotateMaster)
                if epoch.completedAt != nil {
                    round.epoch = epoch
                    logger.notice("erasure epoch ran", metadata: ["tenants": .stringConvertible(epoch.tenants.count)])
                }
            } else if let oldest = try compliance.ledger.pendingErasures().first,
                      compliance.clock().timeIntervalSince(oldest.erasedAt) >= Compliance.epochBatchWindow {
                logger.warning("erasure epoch due but the server cannot rotate the master key; stop the relay and run `kamirelay epoch run`")
            }
        } catch {
            if error is CancellationError || Task.isCancelled { return round }
            round.failures["epoch"] = String(describing: error)
            logger.error("erasure epoch failed; retried next round", metadata: ["error": .string(String(describing: error))])
        }
        return round
    }
}
