import ServiceLifecycle

/// Every few seconds until shutdown: escalates chats over their service level, re-queues the
/// chats of agents offline past their grace period, closes console sockets whose login session
/// ended, and runs round-robin assignment where it is on.
struct AgentServiceLevelService: Service {
    let hub: AgentHub
    var interval: Duration = .seconds(5)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    await hub.checkServiceLevels()
                    await hub.checkAgentsOffline()
                    await hub.closeEndedSessions()
                    for tenant in hub.tenants.tenants.keys { await hub.autoAssign(tenant: tenant) }
                }
            }
        } catch {
            // Cancelled by the graceful shutdown: nothing to flush.
        }
    }
}
