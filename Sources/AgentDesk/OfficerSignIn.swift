import Foundation
import Sealing

/// Sign-in for the roles that work on the command line (`compliance`, `operator`).
///
/// The same Argon2id check and lock-out as a console login, but no session: the verified account
/// signs the one command being run, and the audit log names it (`agent#12`). Once a tenant has an
/// enabled account of a role, that role's commands for the tenant require such a sign-in, so a
/// shop that has appointed compliance officers gets erasures and exports attributed to one of
/// them rather than to whatever name was typed.
///
/// This is accountability, not a security boundary: whoever runs the CLI holds the master key
/// and the data directory, and could edit `agents.sqlite`. SECURITY.md says so.
public struct OfficerSignIn: Sendable {
    /// Why a sign-in failed.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Wrong username or password (the message does not say which).
        case invalidCredentials
        case lockedOut(until: Date)
        case disabled(username: String)
        /// The account exists but holds another role.
        case wrongRole(username: String, has: AgentRole, needs: AgentRole)
        case unavailable

        public var description: String {
            switch self {
            case .invalidCredentials: return "wrong username or password"
            case .lockedOut(let until):
                return "too many failed attempts; the account is locked until \(ISO8601DateFormatter().string(from: until)) (or reset its password)"
            case .disabled(let username): return "the account \(username) is disabled"
            case .wrongRole(let username, let has, let needs): return "\(username) holds the \(has) role; this command needs the \(needs) role"
            case .unavailable: return "the account database cannot be read"
            }
        }
    }

    public let store: AgentStore
    public let settings: AgentAuthSettings
    let clock: @Sendable () -> Date

    public init(store: AgentStore, settings: AgentAuthSettings = AgentAuthSettings(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.settings = settings
        self.clock = clock
    }

    /// Whether the tenant has an enabled account of this role (then its commands need a sign-in).
    public func required(tenant: String, role: AgentRole) throws -> Bool {
        try store.accounts(tenant: tenant).contains { $0.role == role && !$0.disabled }
    }

    /// Checks the password of `username` (a full Argon2id verification on every path) and that the
    /// account is enabled and holds `role`. Failures count towards the account's lock-out.
    public func verify(tenant: String, username: String, password: [UInt8], role: AgentRole) throws(Failure) -> AgentAccount {
        let now = clock()
        let found: (AgentAccount, String)?
        do { found = try store.credentials(tenant: tenant, username: username.lowercased()) } catch { throw .unavailable }
        guard let (account, hash) = found else {
            // Burn the same time as a real check.
            _ = PasswordHash.verify(password, against: Self.decoyHash)
            throw .invalidCredentials
        }
        if let until = account.lockedUntil, until > now { throw .lockedOut(until: until) }
        guard PasswordHash.verify(password, against: hash) else {
            let until: Date?
            do {
                until = try store.recordFailure(id: account.id, maxFailures: settings.maxFailures,
                                                lockout: settings.lockoutDuration, at: now)
            } catch { throw .unavailable }
            if let until { throw .lockedOut(until: until) }
            throw .invalidCredentials
        }
        do { try store.recordSuccess(id: account.id) } catch { throw .unavailable }
        guard !account.disabled else { throw .disabled(username: account.username) }
        guard account.role == role else { throw .wrongRole(username: account.username, has: account.role, needs: role) }
        return account
    }

    /// An Argon2id hash of a random password nobody knows, made once per process.
    static let decoyHash: String = {
        let letters = Array(Sodium.randomBytes(24).map { 0x41 + $0 % 26 })
        return (try? PasswordHash.hash(letters)) ?? ""
    }()
}
