import ServiceLifecycle

/// Every few seconds until shutdown: escalates chats over their service level and closes console
/// sockets whose login session ended.
struct AgentServiceLevelService: Service {
    let hub: AgentHub
    var interval: Duration = .seconds(5)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    await hub.checkServiceLevels()
                    await hub.closeEndedSessions()
                }
            }
        } catch {
            // Cancelled by the graceful shutdown: nothing to flush.
        }
    }
}
