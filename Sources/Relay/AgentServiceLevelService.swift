import ServiceLifecycle

/// Checks the agent queues' service levels every few seconds until shutdown.
struct AgentServiceLevelService: Service {
    let hub: AgentHub
    var interval: Duration = .seconds(5)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    await hub.checkServiceLevels()
                }
            }
        } catch {
            // Cancelled by the graceful shutdown: nothing to flush.
        }
    }
}
