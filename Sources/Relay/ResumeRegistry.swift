import Foundation
import NIOConcurrencyHelpers
import Sealing

/// Chats that ended without `bye`, kept for a while so the client can resume them with the
/// token from its last `welcome`. In memory: a server restart forgets them (the transcripts
/// stay in the store).
///
/// Tokens are 32 random bytes; only a keyed BLAKE2b digest of each is kept, and look-ups go by
/// that digest, so neither the token nor a timing side channel on comparing it is available.
/// A token works once: resuming issues a new one.
public final class ResumeRegistry: Sendable {
    private struct Entry: Sendable {
        var chat: ChatSession
        var expires: Date
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let hasher = BLAKE2bKeyedHasher.random()
    /// How long after a disconnect the chat can be resumed.
    public let lifetime: TimeInterval

    public init(lifetime: TimeInterval) { self.lifetime = lifetime }

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
    func suspend(_ chat: ChatSession, token: String, now: Date = Date()) {
        let key = key(token)
        entries.withLockedValue { entries in
            entries = entries.filter { $0.value.expires > now }
            entries[key] = Entry(chat: chat, expires: now.addingTimeInterval(lifetime))
        }
    }

    /// The suspended chat for `token` if it belongs to `tenant` and has not expired; removes it.
    func take(token: String, tenant: String, now: Date = Date()) -> ChatSession? {
        let key = key(token)
        return entries.withLockedValue { entries -> ChatSession? in
            guard let entry = entries[key], entry.expires > now, entry.chat.tenant.id == tenant else { return nil }
            entries[key] = nil
            return entry.chat
        }
    }

    /// Chats waiting to be resumed.
    public var count: Int { entries.withLockedValue { $0.count } }
}
