import Logging
import Redaction
import ServiceLifecycle

/// Keeps each tenant's redactor in step with the issued card keys stored for it in
/// `relay.sqlite` (`kamirelay tenants issued-keys add`): loads them when the relay opens and,
/// every `interval` until shutdown, reloads a tenant whose set changed. New chats get the new
/// set at once; a chat already open keeps its redactor (and its split-number tail).
public struct IssuedKeysReloader: Service {
    /// One tenant: its runtime, the hash the digests were made with (the tenant's tokenisation
    /// key) and any keys known in clear (the demo shop's).
    public struct Tenant: Sendable {
        let runtime: TenantRuntime
        let hasher: any KeyedHasher
        let plainKeys: [String]

        public init(runtime: TenantRuntime, hasher: any KeyedHasher, plainKeys: [String] = []) {
            self.runtime = runtime
            self.hasher = hasher
            self.plainKeys = plainKeys
        }
    }

    let state: RelayStateStore
    let tenants: [Tenant]
    let interval: Duration
    let logger: Logger

    public init(state: RelayStateStore, tenants: [Tenant], interval: Duration = .seconds(30),
                logger: Logger = Logger(label: "kamirelay.relay")) {
        self.state = state
        self.tenants = tenants
        self.interval = interval
        self.logger = logger
    }

    /// Loads every tenant's stored keys now; returns the version each was loaded at.
    @discardableResult
    public func loadAll() async throws -> [String: IssuedKeysVersion] {
        var versions: [String: IssuedKeysVersion] = [:]
        for tenant in tenants { versions[tenant.runtime.id] = try await load(tenant) }
        return versions
    }

    func load(_ tenant: Tenant) async throws -> IssuedKeysVersion {
        let version = try await state.issuedKeysVersion(tenant: tenant.runtime.id)
        let digests = try await state.issuedKeys(tenant: tenant.runtime.id)
        let set: IssuedKeySet? = digests.isEmpty && tenant.plainKeys.isEmpty
            ? nil : IssuedKeySet(digests: digests, keys: tenant.plainKeys, hasher: tenant.hasher)
        tenant.runtime.redactorBox.replace(with: tenant.runtime.redactor.replacingIssuedKeys(set))
        return IssuedKeysVersion(count: version.count, marker: version.marker)
    }

    public func run() async throws {
        let loaded = try await loadAll()
        do {
            try await cancelWhenGracefulShutdown {
                var versions = loaded
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    for tenant in tenants {
                        do {
                            let now = try await state.issuedKeysVersion(tenant: tenant.runtime.id)
                            let seen = versions[tenant.runtime.id]
                            guard seen?.count != now.count || seen?.marker != now.marker else { continue }
                            versions[tenant.runtime.id] = try await load(tenant)
                            logger.notice("issued_keys.reloaded", metadata: ["tenant": "\(tenant.runtime.id)", "keys": "\(now.count)"])
                        } catch {
                            // A shutdown cancels the look-up in flight; that is not a failed reload.
                            if error is CancellationError || Task.isCancelled { break }
                            // Keep the set already loaded; try again next time.
                            logger.error("issued_keys.reload_failed", metadata: ["tenant": "\(tenant.runtime.id)", "error": "\(type(of: error))"])
                        }
                    }
                }
            }
        } catch {
            // Cancelled by the graceful shutdown.
        }
    }
}

/// How many issued-key digests a tenant had, and the table's change marker, when loaded.
public struct IssuedKeysVersion: Sendable, Equatable {
    public var count: Int
    public var marker: Int64
}
