import AgentDesk
import Foundation
import Sealing
import Testing

/// A clock tests move by hand.
/// `@unchecked Sendable` is sound: `now` is only read and written under `lock`.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
    var function: @Sendable () -> Date { { self.now } }
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "/agentdesk-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

struct Desk {
    let store: AgentStore
    let auth: AgentAuthenticator
    let clock: TestClock
    let directory: String

    static let password = Array("correct horse battery".utf8)

    static func make(settings: AgentAuthSettings = AgentAuthSettings()) throws -> Desk {
        let dir = try temporaryDirectory()
        let store = try AgentStore(path: AgentStore.path(dataDirectory: dir))
        let clock = TestClock()
        let keys = ["shop-a": BLAKE2bKeyedHasher.random(), "shop-b": BLAKE2bKeyedHasher.random()]
        let auth = try AgentAuthenticator(store: store, tokenKeys: keys, settings: settings,
                                          passwordParameters: .minimumForTests, clock: clock.function)
        for (tenant, name, role) in [("shop-a", "alice", AgentRole.agent), ("shop-a", "sam", .supervisor),
                                     ("shop-a", "carol", .compliance), ("shop-a", "oscar", .operator), ("shop-b", "bob", .agent)] {
            try store.addAccount(tenant: tenant, username: name, role: role,
                                 passwordHash: try PasswordHash.hash(password, parameters: .minimumForTests))
        }
        return Desk(store: store, auth: auth, clock: clock, directory: dir)
    }
}

@Suite("Agent accounts and logins")
struct AgentAuthTests {
    @Test("Argon2id hashes verify the right password only; short passwords are refused")
    func passwordHashes() throws {
        let hash = try PasswordHash.hash(Array("a long enough passphrase".utf8), parameters: .minimumForTests)
        #expect(hash.hasPrefix("$argon2id$"))
        #expect(PasswordHash.verify(Array("a long enough passphrase".utf8), against: hash))
        #expect(!PasswordHash.verify(Array("a long enough passphrasE".utf8), against: hash))
        #expect(throws: PasswordHash.Failure.tooShort(minimum: 12)) { try PasswordHash.hash(Array("short".utf8), parameters: .minimumForTests) }
        #expect(try PasswordHash.hash(Array("a long enough passphrase".utf8), parameters: .minimumForTests) != hash, "salted")
    }

    @Test("Login opens a session bound to its tenant; the cookie is __Host-, HttpOnly, Secure, SameSite=Strict")
    func loginAndSession() throws {
        let desk = try Desk.make()
        let grant = try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password)
        #expect(grant.principal.role == .agent)
        let cookie = desk.auth.setCookie(grant)
        #expect(cookie.hasPrefix("__Host-kamirelay-agent=\(grant.token);"))
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=28800"] { #expect(cookie.contains(attribute)) }
        #expect(desk.auth.authenticate(tenant: "shop-a", token: grant.token)?.account.username == "alice")
        #expect(AgentAuthenticator.token(fromCookieHeader: "a=b; \(AgentAuthenticator.cookieName)=\(grant.token); c=d") == grant.token)
        // Tenant B's host never accepts tenant A's session, and A's accounts cannot log in on B.
        #expect(desk.auth.authenticate(tenant: "shop-b", token: grant.token) == nil)
        #expect(throws: LoginFailure.invalidCredentials) { try desk.auth.login(tenant: "shop-b", username: "alice", password: Desk.password) }
        // The database holds only a keyed hash of the token.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: desk.store.path)) + ((try? Data(contentsOf: URL(fileURLWithPath: desk.store.path + "-wal"))) ?? Data())
        #expect(bytes.range(of: Data(grant.token.utf8)) == nil)
    }

    @Test("Wrong passwords lock the account after five failures; a password reset unlocks it")
    func lockOut() throws {
        let desk = try Desk.make()
        for _ in 1...4 {
            #expect(throws: LoginFailure.invalidCredentials) { try desk.auth.login(tenant: "shop-a", username: "alice", password: Array("wrong password!".utf8)) }
        }
        #expect { try desk.auth.login(tenant: "shop-a", username: "alice", password: Array("wrong password!".utf8)) } throws: { error in
            if case LoginFailure.lockedOut = error { return true } else { return false }
        }
        // Even the right password is refused while locked.
        #expect { try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password) } throws: { error in
            if case LoginFailure.lockedOut = error { return true } else { return false }
        }
        // Other accounts are not affected.
        _ = try desk.auth.login(tenant: "shop-a", username: "sam", password: Desk.password)
        // A name without an account answers exactly the same way, so lock-out reveals no account.
        for _ in 1...4 {
            #expect(throws: LoginFailure.invalidCredentials) { try desk.auth.login(tenant: "shop-a", username: "nobody", password: Array("wrong password!".utf8)) }
        }
        for _ in 1...2 {
            #expect { try desk.auth.login(tenant: "shop-a", username: "nobody", password: Array("wrong password!".utf8)) } throws: { error in
                if case LoginFailure.lockedOut = error { return true } else { return false }
            }
        }
        // After the lock-out the right password works again.
        desk.clock.advance(15 * 60 + 1)
        _ = try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password)
        // Lock again, then a reset unlocks at once.
        for _ in 1...5 { _ = try? desk.auth.login(tenant: "shop-a", username: "alice", password: Array("wrong password!".utf8)) }
        #expect(try desk.store.account(tenant: "shop-a", username: "alice")?.lockedUntil != nil)
        try desk.store.setPassword(tenant: "shop-a", username: "alice",
                                   passwordHash: try PasswordHash.hash(Array("a brand new passphrase".utf8), parameters: .minimumForTests))
        _ = try desk.auth.login(tenant: "shop-a", username: "alice", password: Array("a brand new passphrase".utf8))
    }

    @Test("Sessions expire after the idle timeout and after the absolute lifetime (injected clock)")
    func expiry() throws {
        let desk = try Desk.make()
        let grant = try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password)
        desk.clock.advance(29 * 60)
        #expect(desk.auth.authenticate(tenant: "shop-a", token: grant.token) != nil, "used within the idle timeout")
        desk.clock.advance(29 * 60)
        #expect(desk.auth.authenticate(tenant: "shop-a", token: grant.token) != nil, "the idle timer restarted on use")
        desk.clock.advance(30 * 60 + 1)
        #expect(desk.auth.authenticate(tenant: "shop-a", token: grant.token) == nil, "idle too long")

        let second = try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password)
        for _ in 0..<16 { desk.clock.advance(29 * 60); _ = desk.auth.authenticate(tenant: "shop-a", token: second.token) }
        desk.clock.advance(29 * 60)
        #expect(desk.auth.authenticate(tenant: "shop-a", token: second.token) == nil, "8 h absolute lifetime, even when active")
    }

    @Test("CSRF tokens belong to one session; others and missing ones are rejected")
    func csrf() throws {
        let desk = try Desk.make()
        let a = try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password)
        let s = try desk.auth.login(tenant: "shop-a", username: "sam", password: Desk.password)
        #expect(desk.auth.verifyCSRF(tenant: "shop-a", sessionToken: a.token, presented: a.csrfToken))
        #expect(!desk.auth.verifyCSRF(tenant: "shop-a", sessionToken: a.token, presented: s.csrfToken))
        #expect(!desk.auth.verifyCSRF(tenant: "shop-a", sessionToken: a.token, presented: nil))
        let altered = String(a.csrfToken.dropLast()) + (a.csrfToken.hasSuffix("A") ? "B" : "A")
        #expect(!desk.auth.verifyCSRF(tenant: "shop-a", sessionToken: a.token, presented: altered))
        #expect(!desk.auth.verifyCSRF(tenant: "shop-b", sessionToken: a.token, presented: a.csrfToken))
    }

    @Test("Logout, disabling and CLI-only roles")
    func logoutDisableRoles() throws {
        let desk = try Desk.make()
        let grant = try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password)
        desk.auth.logout(tenant: "shop-a", token: grant.token)
        #expect(desk.auth.authenticate(tenant: "shop-a", token: grant.token) == nil)

        let again = try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password)
        try desk.store.setDisabled(tenant: "shop-a", username: "alice", true)
        #expect(desk.auth.authenticate(tenant: "shop-a", token: again.token) == nil, "disabling ends sessions")
        #expect(throws: LoginFailure.invalidCredentials) { try desk.auth.login(tenant: "shop-a", username: "alice", password: Desk.password) }
        // Compliance officers and operators work on the CLI only.
        #expect(throws: LoginFailure.invalidCredentials) { try desk.auth.login(tenant: "shop-a", username: "carol", password: Desk.password) }
        #expect(throws: LoginFailure.invalidCredentials) { try desk.auth.login(tenant: "shop-a", username: "oscar", password: Desk.password) }
        #expect(throws: LoginFailure.invalidCredentials) { try desk.auth.login(tenant: "shop-a", username: "nobody", password: Desk.password) }
        #expect(throws: AgentStore.Failure.duplicateAccount(tenant: "shop-a", username: "sam")) {
            try desk.store.addAccount(tenant: "shop-a", username: "sam", role: .agent, passwordHash: "x")
        }
        #expect(throws: AgentStore.Failure.invalidUsername) { try desk.store.addAccount(tenant: "shop-a", username: "Bad Name", role: .agent, passwordHash: "x") }
    }
}
