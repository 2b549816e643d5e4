import Foundation
import Sealing

/// Sign-in for the roles that work on the command line (`compliance`, `operator`).
///
/// The same Argon2id check and lock-out as a console login, but no session: the verified account
/// signs the one command being run, and the audit log names it (`agent#12`). Once a tenant has an
/// account of a role, that role's commands for the tenant require such a sign-in, so a
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

    /// Whether the tenant's commands of this role need a sign-in: once it has an account of the
    /// role. Disabled accounts count, so disabling every officer cannot turn the requirement off
    /// (fail closed); a shop that replaces its officer adds the new one.
    public func required(tenant: String, role: AgentRole) throws -> Bool {
        try store.accounts(tenant: tenant).contains { $0.role == role }
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
        if let until = account.lockedUntil, until > now {
            _ = PasswordHash.verify(password, against: Self.decoyHash)
            throw .lockedOut(until: until)
        }
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

    /// An Argon2id hash (the `.interactive` parameters every account uses) of a random password
    /// that was thrown away: checking against it costs what a real check costs, so an unknown
    /// or locked account takes as long to refuse as a wrong password.
    static let decoyHash = "$argon2id$v=19$m=65536,t=2,p=1$VFLcCUh+4055z7FgCDNx4A$xz6jg11dGU1XYOjyG/oPduOecATnBEFVpX8BISlZP5I"
}
