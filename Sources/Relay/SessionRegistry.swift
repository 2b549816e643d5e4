import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import TranscriptStore

/// The open chats, for the session cap and for graceful shutdown.
///
/// Shutdown order (``RelayDrainService``): stop taking new chats, ask every chat to close with
/// 1001 once the message it is handling is stored and answered, wait (bounded) until all have
/// closed, then checkpoint the store. A message whose echo the client received is durable
/// before the echo is sent, so nothing acknowledged is lost.
public final class SessionRegistry: Sendable {
    /// What the registry can ask of one chat.
    struct Entry: Sendable {
        /// Asks the chat to close with 1001 (going away) as soon as it is idle.
        let requestClose: @Sendable () -> Void
        /// The client's IP address, for the per-address cap.
        var address: String?
        /// Ends the chat because its session was erased: `chat_closed`, then close 1000, not
        /// resumable (``ErasureWatchService``).
        var endErased: @Sendable () -> Void = {}
        /// The chat's tenant and session once `hello` (or a resume) gave it one.
        var tenant: String?
        var session: String?
        /// Asked to end as erased: no longer reported live (its close may still be under way).
        var erased = false
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var draining = false
        var drained: [CheckedContinuation<Void, Never>] = []
        /// Set when a drain stopped waiting, so a waiter that arrives late does not suspend.
        var stoppedWaiting = false
    }

    private let state = NIOLockedValueBox(State())
    let maxSessions: Int
    let maxPerAddress: Int

    public init(maxSessions: Int, maxPerAddress: Int = .max) {
        self.maxSessions = maxSessions
        self.maxPerAddress = maxPerAddress
    }

    public enum Refusal: Error, Sendable { case draining, full, tooManyFromAddress }

    /// Registers a chat; throws when shutting down or full.
    func register(_ entry: Entry) throws(Refusal) -> UInt64 {
        let result: Result<UInt64, Refusal> = state.withLockedValue { state in
            if state.draining { return .failure(.draining) }
            if state.entries.count >= maxSessions { return .failure(.full) }
            if let address = entry.address, state.entries.values.lazy.filter({ $0.address == address }).count >= maxPerAddress {
                return .failure(.tooManyFromAddress)
            }
            state.nextID += 1
            state.entries[state.nextID] = entry
            return .success(state.nextID)
        }
        return try result.get()
    }

    func unregister(_ id: UInt64) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLockedValue { state in
            state.entries[id] = nil
            guard state.entries.isEmpty else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Records the session a chat runs (after `hello` or a resume), for ``liveSessions()``.
    func identify(_ id: UInt64, tenant: String, session: String) {
        state.withLockedValue { state in
            guard let entry = state.entries[id], !entry.erased, entry.session != session else { return }
            state.entries[id]?.tenant = tenant
            state.entries[id]?.session = session
        }
    }

    /// The sessions of the open chats, by tenant.
    func liveSessions() -> [String: Set<String>] {
        state.withLockedValue { state in
            var live: [String: Set<String>] = [:]
            for entry in state.entries.values where !entry.erased {
                if let tenant = entry.tenant, let session = entry.session { live[tenant, default: []].insert(session) }
            }
            return live
        }
    }

    /// Ends the open chats of `sessions` (erased): each gets `chat_closed` and is closed.
    /// Returns how many chats were asked to end.
    @discardableResult
    func endErased(tenant: String, sessions: Set<String>) -> Int {
        let ending = state.withLockedValue { state in
            var ending: [Entry] = []
            for (id, entry) in state.entries where !entry.erased && entry.tenant == tenant && entry.session.map(sessions.contains) == true {
                state.entries[id]?.erased = true
                ending.append(entry)
            }
            return ending
        }
        for entry in ending { entry.endErased() }
        return ending.count
    }

    /// True once a drain started: new chats are refused.
    public var isDraining: Bool { state.withLockedValue { $0.draining } }

    /// Open chats right now.
    public var count: Int { state.withLockedValue { $0.entries.count } }

    /// Refuses new chats, asks the open ones to close, and waits until they have (or `timeout`).
    /// Returns how many were still open at the timeout.
    public func drain(timeout: Duration) async -> Int {
        let entries = state.withLockedValue { state in
            state.draining = true
            return Array(state.entries.values)
        }
        for entry in entries { entry.requestClose() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.state.withLockedValue { state -> Bool in
                        if state.entries.isEmpty || state.stoppedWaiting { return true }
                        state.drained.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // The waiter (if it is the one left) must not be left suspended forever.
            let waiters = self.state.withLockedValue { state in
                state.stoppedWaiting = true
                defer { state.drained = [] }
                return state.drained
            }
            for waiter in waiters { waiter.resume() }
        }
        return count
    }
}

/// A service placed after the HTTP server in the service group, so a graceful shutdown reaches
/// it first: it drains the chats and flushes the store before the server stops.
public struct RelayDrainService: Service {
    let registry: SessionRegistry
    let store: SQLiteTranscriptStore?
    let timeout: Duration
    let logger: Logger

    public init(registry: SessionRegistry, store: SQLiteTranscriptStore?, timeout: Duration, logger: Logger) {
        self.registry = registry
        self.store = store
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let open = registry.count
        logger.notice("relay.draining", metadata: ["open_chats": "\(open)"])
        let left = await registry.drain(timeout: timeout)
        if left > 0 { logger.warning("relay.drain_timeout", metadata: ["still_open": "\(left)"]) }
        if let store {
            do { try await store.checkpoint() } catch is CancellationError {
                // The group was cancelled (a listener failed to start). The WAL keeps every
                // committed write; the next open checkpoints it.
                logger.notice("relay.checkpoint_skipped", metadata: ["reason": "cancelled"])
            } catch {
                logger.error("relay.checkpoint_failed", metadata: ["error": "\(type(of: error))"])
            }
        }
        logger.notice("relay.drained")
    }
}
