import Foundation
import Logging
import NIOConcurrencyHelpers
import Sealing

/// Chats that ended without `bye`, kept for a while so the client can resume them with the
/// token from its last `welcome`.
///
/// Two places: in memory (the whole chat, including the redaction tail, for a reconnect to
/// this process) and — when a ``RelayStateStore`` is given — sealed in the relay's state
/// database (``PersistedChat``: no tail), so a token still works after a server restart (the
/// graceful shutdown tells clients 1001 "reconnect shortly").
///
/// Tokens are 32 random bytes; only keyed BLAKE2b digests of them are kept (a per-process key
/// in memory, the tenant's relay-state key on disk), and look-ups go by digest, so neither the
/// token nor a timing side channel on comparing it is available. A token works once: resuming
/// issues a new one and removes the old one from both places.
public final class ResumeRegistry: Sendable {
    private struct Entry: Sendable {
        var chat: ChatSession
        var expires: Date
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let hasher = BLAKE2bKeyedHasher.random()
    /// How long after a disconnect the chat can be resumed.
    public let lifetime: TimeInterval
    let state: RelayStateStore?
    let logger: Logger

    public init(lifetime: TimeInterval, state: RelayStateStore? = nil, logger: Logger = Logger(label: "kamirelay.relay")) {
        self.lifetime = lifetime
        self.state = state
        self.logger = logger
    }

    /// A fresh token (43 characters of base64url).
    func newToken() -> String {
        Data(Sodium.randomBytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private func key(_ token: String) -> String {
        hasher.digest(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Keeps `chat` resumable under its token until `now + lifetime`.
    func suspend(_ chat: ChatSession, token: String, now: Date = Date()) async {
        let key = key(token)
        let expires = now.addingTimeInterval(lifetime)
        entries.withLockedValue { entries in
            entries = entries.filter { $0.value.expires > now }
            entries[key] = Entry(chat: chat, expires: expires)
        }
        guard let state, let persisted = chat.persisted else { return }
        do {
            try await state.saveChat(persisted, tenant: chat.tenant.id, kind: .resume, handle: token, expires: expires)
        } catch {
            // The in-memory copy still works until a restart.
            logger.error("chat.resume_persist_failed", metadata: ["session": "\(persisted.session)", "error": "\(type(of: error))"])
        }
    }

    /// The suspended chat for `token` if it belongs to `tenant` and has not expired; removes it.
    /// After a restart the chat comes from the sealed state, rebuilt by `restore`.
    func take(token: String, tenant: String, now: Date = Date(),
              restore: (PersistedChat) -> ChatSession) async -> ChatSession? {
        let key = key(token)
        let inMemory = entries.withLockedValue { entries -> ChatSession? in
            guard let entry = entries[key], entry.expires > now, entry.chat.tenant.id == tenant else { return nil }
            entries[key] = nil
            return entry.chat
        }
        guard let state else { return inMemory }
        do {
            // Consumed in both places: a token works once, whichever copy answered.
            let persisted = try await state.loadChat(tenant: tenant, kind: .resume, handle: token, consume: true, now: now)
            if let inMemory { return inMemory }
            return persisted.map(restore)
        } catch {
            logger.error("chat.resume_load_failed", metadata: ["error": "\(type(of: error))"])
            return inMemory
        }
    }

    /// Chats waiting to be resumed in this process's memory.
    public var count: Int { entries.withLockedValue { $0.count } }

    /// The sessions of the chats waiting to be resumed in memory, by tenant (expired ones left out).
    func liveSessions(now: Date = Date()) -> [String: Set<String>] {
        entries.withLockedValue { entries in
            var live: [String: Set<String>] = [:]
            for entry in entries.values where entry.expires > now {
                if let session = entry.chat.sessionID { live[entry.chat.tenant.id, default: []].insert(session) }
            }
            return live
        }
    }

    /// Forgets the suspended chats of `sessions` (erased): their bot state and redaction tail
    /// leave memory; a token of theirs no longer resumes anything. Returns how many were dropped.
    @discardableResult
    func drop(tenant: String, sessions: Set<String>) -> Int {
        entries.withLockedValue { entries in
            let before = entries.count
            entries = entries.filter { $0.value.chat.tenant.id != tenant || !($0.value.chat.sessionID.map(sessions.contains) ?? false) }
            return before - entries.count
        }
    }
}
