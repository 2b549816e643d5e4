import Foundation
import Sealing

/// Who is behind a valid login session.
public struct AgentPrincipal: Sendable, Hashable {
    public var account: AgentAccount
    /// When the session ends at the latest (absolute lifetime).
    public var expiresAt: Date
    public var tenant: String { account.tenant }
    public var role: AgentRole { account.role }
}

/// What a successful login hands to the browser: the session token (cookie only) and the CSRF
/// token (JavaScript sends it back in `X-CSRF-Token` on every state-changing request).
public struct LoginGrant: Sendable {
    public var principal: AgentPrincipal
    /// The session token: 32 random bytes, base64url. Only its keyed hash is stored.
    public var token: String
    public var csrfToken: String
}

/// Why a login failed. The messages never say whether the username exists.
public enum LoginFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Wrong username or password, a disabled account, or a role without console access.
    case invalidCredentials
    /// Too many failures; try again after the lock-out (or ask for a password reset).
    case lockedOut(until: Date)
    case unavailable

    public var code: String {
        switch self {
        case .invalidCredentials: return "invalid_credentials"
        case .lockedOut: return "locked_out"
        case .unavailable: return "unavailable"
        }
    }

    public var description: String {
        switch self {
        case .invalidCredentials: return "wrong username or password"
        case .lockedOut: return "too many failed attempts; the account is locked for a while"
        case .unavailable: return "login is unavailable right now"
        }
    }
}

/// Login, session and CSRF rules for the agent console.
public struct AgentAuthSettings: Sendable {
    /// Absolute session lifetime (the cookie's Max-Age).
    public var sessionLifetime: TimeInterval = 8 * 3_600
    /// A session unused for this long ends.
    public var idleTimeout: TimeInterval = 30 * 60
    /// Failed logins in a row before the account is locked.
    public var maxFailures = 5
    /// How long a lock-out lasts (a password reset ends it at once).
    public var lockoutDuration: TimeInterval = 15 * 60
    /// Password checks running at once (each Argon2id check takes 64 MiB); more are refused
    /// with ``LoginFailure/unavailable`` rather than queued, so a login flood cannot exhaust memory.
    public var maxConcurrentLogins = 4

    public init() {}
}

/// Agent logins: Argon2id password check, lock-out, session tokens stored only as keyed hashes,
/// CSRF tokens derived from the session token, logout.
///
/// Session tokens are hashed with a per-tenant key (`tokenKeys`, in the relay the tenant's
/// `KRagsess` purpose key), so a copy of `agents.sqlite` cannot be turned into cookies and a
/// token of one tenant is meaningless for another.
public final class AgentAuthenticator: Sendable {
    public let store: AgentStore
    public let settings: AgentAuthSettings
    let tokenKeys: [String: BLAKE2bKeyedHasher]
    let clock: @Sendable () -> Date
    /// A real hash to verify against when the username does not exist, so the response time
    /// does not tell whether it does.
    let decoyHash: String
    /// Password checks in progress.
    let running = BoundedCounter()
    /// Failed logins under names that have no account (in memory; they only mirror the lock-out).
    let unknownNames = UnknownNameFailures()

    /// Cookie name. `__Host-` makes browsers insist on Secure, Path=/ and no Domain.
    public static let cookieName = "__Host-kamirelay-agent"

    public init(store: AgentStore, tokenKeys: [String: BLAKE2bKeyedHasher], settings: AgentAuthSettings = AgentAuthSettings(),
                passwordParameters: Argon2idParameters = .interactive, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.store = store
        self.tokenKeys = tokenKeys
        self.settings = settings
        self.clock = clock
        var decoy = Sodium.randomBytes(24)
        defer { decoy.withUnsafeMutableBytes { Sodium.zero($0) } }
        decoyHash = try PasswordHash.hash(Array(decoy.map { 0x41 + $0 % 26 }), parameters: passwordParameters)
    }

    /// Checks a password and opens a login session. Every outcome is decided after a full
    /// Argon2id verification.
    public func login(tenant: String, username: String, password: [UInt8]) throws(LoginFailure) -> LoginGrant {
        guard running.increment(limit: settings.maxConcurrentLogins) else { throw .unavailable }
        defer { running.decrement() }
        let now = clock()
        guard let hasher = tokenKeys[tenant] else { throw .invalidCredentials }
        let found: (AgentAccount, String)?
        do { found = try store.credentials(tenant: tenant, username: username.lowercased()) } catch { throw .unavailable }
        guard let (account, hash) = found else {
            _ = PasswordHash.verify(password, against: decoyHash)
            // Unknown names lock like real ones, so `locked_out` does not reveal which exist.
            if let until = unknownNames.recordFailure(tenant: tenant, username: username.lowercased(), now: now,
                                                      maxFailures: settings.maxFailures, lockout: settings.lockoutDuration) {
                throw .lockedOut(until: until)
            }
            throw .invalidCredentials
        }
        if let until = account.lockedUntil, until > now {
            _ = PasswordHash.verify(password, against: decoyHash)
            throw .lockedOut(until: until)
        }
        let matches = PasswordHash.verify(password, against: hash)
        guard matches else {
            do {
                if let until = try store.recordFailure(id: account.id, maxFailures: settings.maxFailures,
                                                       lockout: settings.lockoutDuration, at: now) {
                    throw LoginFailure.lockedOut(until: until)
                }
            } catch let failure as LoginFailure { throw failure } catch { throw .unavailable }
            throw .invalidCredentials
        }
        guard !account.disabled, account.role.usesConsole else { throw .invalidCredentials }
        let token = Self.base64URL(Sodium.randomBytes(32))
        let expires = now.addingTimeInterval(settings.sessionLifetime)
        do {
            try store.recordSuccess(id: account.id)
            try store.insertSession(tokenHash: Self.tokenHash(token, tenant: tenant, hasher), tenant: tenant, agentID: account.id,
                                    at: now, expiresAt: expires)
        } catch { throw .unavailable }
        var fresh = account
        fresh.failedLogins = 0
        fresh.lockedUntil = nil
        return LoginGrant(principal: AgentPrincipal(account: fresh, expiresAt: expires), token: token,
                          csrfToken: Self.csrf(token, hasher))
    }

    /// The agent behind a session token presented on a request for `tenant` (from `Host`), or
    /// nil: unknown, expired (absolute or idle), another tenant's, or the account is disabled.
    /// A valid session's idle timer restarts.
    public func authenticate(tenant: String, token: String?, touch: Bool = true) -> AgentPrincipal? {
        guard let token, !token.isEmpty, token.utf8.count <= 128, let hasher = tokenKeys[tenant] else { return nil }
        let now = clock()
        let hash = Self.tokenHash(token, tenant: tenant, hasher)
        guard let row = try? store.session(tokenHash: hash), row.tenant == tenant else { return nil }
        guard row.expiresAt > now, now.timeIntervalSince(row.lastSeenAt) < settings.idleTimeout else {
            try? store.deleteSession(tokenHash: hash)
            return nil
        }
        guard let account = try? store.account(id: row.agentID), account.tenant == tenant, !account.disabled,
              account.role.usesConsole else { return nil }
        if touch { try? store.touchSession(tokenHash: hash, at: now) }
        return AgentPrincipal(account: account, expiresAt: row.expiresAt)
    }

    /// The CSRF token that belongs to a session token.
    public func csrfToken(tenant: String, sessionToken: String) -> String? {
        tokenKeys[tenant].map { Self.csrf(sessionToken, $0) }
    }

    /// Whether `presented` is the CSRF token of `sessionToken` (constant-time comparison).
    public func verifyCSRF(tenant: String, sessionToken: String, presented: String?) -> Bool {
        guard let presented, let expected = csrfToken(tenant: tenant, sessionToken: sessionToken) else { return false }
        return Sodium.constantTimeEqual(Array(expected.utf8), Array(presented.utf8))
    }

    /// Ends a login session.
    public func logout(tenant: String, token: String) {
        guard let hasher = tokenKeys[tenant] else { return }
        try? store.deleteSession(tokenHash: Self.tokenHash(token, tenant: tenant, hasher))
    }

    static func tokenHash(_ token: String, tenant: String, _ hasher: BLAKE2bKeyedHasher) -> [UInt8] {
        hasher.digest(Array("session\u{0}\(tenant)\u{0}".utf8) + Array(token.utf8))
    }

    static func csrf(_ token: String, _ hasher: BLAKE2bKeyedHasher) -> String {
        base64URL(hasher.digest(Array("csrf\u{0}".utf8) + Array(token.utf8)))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The `Set-Cookie` value for a fresh login.
    public func setCookie(_ grant: LoginGrant) -> String {
        "\(Self.cookieName)=\(grant.token); Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=\(Int(settings.sessionLifetime))"
    }

    /// The `Set-Cookie` value that deletes the cookie (logout).
    public static let clearCookie = "\(cookieName)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"

    /// The session token from a `Cookie` header, if present.
    public static func token(fromCookieHeader header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(cookieName + "=") { return String(pair.dropFirst(cookieName.count + 1)) }
        }
        return nil
    }
}

/// A counter with an upper bound, shared between threads.
/// `@unchecked Sendable` is sound: `value` is only read and written while holding `lock`.
final class BoundedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    /// Adds one unless that would exceed `limit`; returns whether it did.
    func increment(limit: Int) -> Bool {
        lock.withLock {
            guard value < limit else { return false }
            value += 1
            return true
        }
    }

    func decrement() { lock.withLock { value -= 1 } }
}

/// Failed-login counts for usernames that have no account, so that they lock out exactly like
/// real accounts: 5 failures, then `locked_out` for the lock-out period. Bounded: past
/// `capacity` entries the expired ones go, then the oldest (an attacker spraying names can only
/// make the mimicry forget, never grow memory).
/// `@unchecked Sendable` is sound: `entries` is only read and written while holding `lock`.
final class UnknownNameFailures: @unchecked Sendable {
    private struct Entry { var failures: Int; var lockedUntil: Date?; var last: Date }
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    /// Counts a failure; returns the lock-out end when the name is (now or still) locked.
    func recordFailure(tenant: String, username: String, now: Date, maxFailures: Int, lockout: TimeInterval) -> Date? {
        let key = tenant + "\u{0}" + username
        return lock.withLock { () -> Date? in
            var entry = entries[key] ?? Entry(failures: 0, lockedUntil: nil, last: now)
            if let until = entry.lockedUntil {
                if until > now { return until }
                entry = Entry(failures: 0, lockedUntil: nil, last: now)  // the lock-out ended: a fresh count
            }
            entry.failures += 1
            entry.last = now
            if entry.failures >= maxFailures { entry.lockedUntil = now.addingTimeInterval(lockout) }
            if entries[key] == nil, entries.count >= capacity { evict(now: now) }
            entries[key] = entry
            return entry.lockedUntil
        }
    }

    private func evict(now: Date) {
        entries = entries.filter { ($0.value.lockedUntil ?? .distantPast) > now }
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.last < $1.value.last }) { entries[oldest.key] = nil }
    }
}
