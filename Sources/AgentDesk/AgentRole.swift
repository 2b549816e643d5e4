import Foundation

/// What an account may do. Accounts belong to one tenant (shop); a role never reaches another.
public enum AgentRole: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Answers chats: takes queued sessions, replies, hands back to the bot, transfers, closes.
    case agent
    /// Everything an agent does, plus: sees all live chats of the tenant and reassigns them.
    case supervisor
    /// Erasure, export and audit — on the CLI only; cannot log in to the console.
    case compliance
    /// Keys, tenants, certificates — on the CLI only; cannot log in to the console.
    case `operator`

    /// Whether the role may log in to the agent console at all.
    public var usesConsole: Bool { self == .agent || self == .supervisor }
    /// Whether the role sees every live chat of its tenant and may reassign them.
    public var supervises: Bool { self == .supervisor }

    public var description: String { rawValue }
}

/// An account as listed by `kamirelay agents list` (never with its password hash).
public struct AgentAccount: Sendable, Hashable {
    /// Stable numeric id; the audit log names agents by it (`agent#12`), not by name.
    public var id: Int64
    public var tenant: String
    public var username: String
    public var role: AgentRole
    public var disabled: Bool
    public var failedLogins: Int
    public var lockedUntil: Date?
    public var createdAt: Date
    /// When the password was last set (created or reset).
    public var passwordChangedAt: Date

    /// How the audit log names this account.
    public var auditName: String { "agent#\(id)" }
}

