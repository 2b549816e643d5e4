import Foundation
import Logging
import ServiceLifecycle
import TranscriptStore

/// Notices, inside a running relay, that the sessions of its open chats left the transcript
/// store — a `kamirelay erase` run by another process on the same data directory, or a
/// retention sweep — and ends what the relay still holds of them:
///
/// - the customer's open WebSocket chat gets `chat_closed` and is closed (not resumable);
/// - a chat waiting to be resumed leaves memory (bot state, redaction tail);
/// - a hand-off leaves the queue and every console (agents get `chat_erased`), with its
///   summary, notes and order context ( ``AgentHub/sessionsErased(tenant:sessions:)``);
/// - the session's rows in `relay.sqlite` (resume and HTTP-API state, the sealed hand-off row)
///   are deleted, also ones written after the eraser deleted them.
///
/// The store itself is the signal: each check asks, per tenant, which of the live session ids
/// still have a session row (one indexed query; nothing is decrypted). So every path that removes
/// a session is covered — erasure from the CLI or a crashed eraser that deleted rows but wrote
/// nothing else, the CLI's retention sweep, the server's own — and the eraser needs no channel
/// to the relay. Logs carry the session id only.
public final class ErasureWatcher: Sendable {
    let store: any TranscriptStore
    let registry: SessionRegistry
    let resumes: ResumeRegistry
    let agents: AgentHub?
    let state: RelayStateStore?
    let logger: Logger

    init(store: any TranscriptStore, registry: SessionRegistry, resumes: ResumeRegistry, agents: AgentHub?, state: RelayStateStore?,
         logger: Logger) {
        self.store = store
        self.registry = registry
        self.resumes = resumes
        self.agents = agents
        self.state = state
        self.logger = logger
    }

    /// The sessions the relay holds anything of right now, by tenant.
    func liveSessions() -> [String: Set<String>] {
        var live = registry.liveSessions()
        live.merge(resumes.liveSessions()) { $0.union($1) }
        if let agents { live.merge(agents.liveSessions()) { $0.union($1) } }
        return live
    }

    /// One check: finds the live sessions that no longer exist in the store and ends them.
    /// Returns them by tenant. A tenant whose look-up fails is logged and checked next time.
    @discardableResult
    public func check() async -> [String: Set<String>] {
        var ended: [String: Set<String>] = [:]
        for (tenant, sessions) in liveSessions().sorted(by: { $0.key < $1.key }) where !sessions.isEmpty {
            let existing: Set<String>
            do { existing = try await store.existingSessions(tenant: tenant, among: sessions) } catch {
                // A shutdown cancels the look-up in flight; that is not a failed check.
                if error is CancellationError || Task.isCancelled { break }
                logger.error("relay.erasure_check_failed", metadata: ["tenant": "\(tenant)", "error": "\(type(of: error))"])
                continue
            }
            let gone = sessions.subtracting(existing)
            guard !gone.isEmpty else { continue }
            await end(tenant: tenant, sessions: gone)
            ended[tenant] = gone
        }
        return ended
    }

    /// Ends everything the relay holds of `sessions` (already gone from the store).
    func end(tenant: String, sessions: Set<String>) async {
        // The desk first, so no agent reply reaches the customer while their chat is ending.
        await agents?.sessionsErased(tenant: tenant, sessions: sessions)
        registry.endErased(tenant: tenant, sessions: sessions)
        resumes.drop(tenant: tenant, sessions: sessions)
        for session in sessions.sorted() {
            if let state {
                do { try await state.deleteChats(tenant: tenant, session: session) } catch {
                    logger.error("relay.erased_state_delete_failed", metadata: ["session": "\(session)", "error": "\(type(of: error))"])
                }
            }
            logger.notice("relay.erased_chat_ended", metadata: ["tenant": "\(tenant)", "session": "\(session)"])
        }
    }
}

/// Runs ``ErasureWatcher/check()`` every ``interval`` until shutdown (see
/// ``RelayServerConfiguration/erasureCheckInterval``).
struct ErasureWatchService: Service {
    let watcher: ErasureWatcher
    let interval: Duration

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    await watcher.check()
                }
            }
        } catch {
            // Cancelled by the graceful shutdown: nothing to flush.
        }
    }
}
