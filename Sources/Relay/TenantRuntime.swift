import Foundation
import Redaction
import Sealing
import SupportBot
import TranscriptStore

/// Everything the relay needs to serve one tenant: the hostnames it answers for, its redactor
/// (policy + tokenisation key + issued card keys) and its bot.
public struct TenantRuntime: Sendable {
    public let id: String
    /// Lower-case host names (no port) whose `Host` header selects this tenant.
    public let hostnames: Set<String>
    public let redactor: Redactor
    public let bot: SupportBot

    public init(id: String, hostnames: [String], redactor: Redactor, bot: SupportBot) {
        self.id = id
        self.hostnames = Set(hostnames.map { $0.lowercased() })
        self.redactor = redactor
        self.bot = bot
    }
}

/// Maps `Host` headers (and the TLS layer's SNI tenant) to tenants.
public struct TenantDirectory: Sendable {
    public let tenants: [String: TenantRuntime]
    private let byHost: [String: String]

    public init(_ tenants: [TenantRuntime]) {
        var byID: [String: TenantRuntime] = [:]
        var byHost: [String: String] = [:]
        for tenant in tenants {
            byID[tenant.id] = tenant
            for host in tenant.hostnames { byHost[host] = tenant.id }
        }
        self.tenants = byID
        self.byHost = byHost
    }

    /// The tenant for a request, or nil when it must be refused: the `Host` header must name a
    /// tenant, and when the TLS handshake already chose a tenant by SNI, the two must agree (so a
    /// client cannot reach tenant B over tenant A's certificate).
    public func resolve(hostHeader: String?, sniTenant: String?) -> TenantRuntime? {
        guard let hostHeader, let host = Self.hostName(hostHeader), let id = byHost[host] else { return nil }
        if let sniTenant, sniTenant != id { return nil }
        return tenants[id]
    }

    /// `Shop.Example:8443` → `shop.example`; `[::1]:443` → `::1`.
    static func hostName(_ header: String) -> String? {
        var host = header.trimmingCharacters(in: .whitespaces).lowercased()
        if host.hasPrefix("[") {
            guard let end = host.firstIndex(of: "]") else { return nil }
            host = String(host[host.index(after: host.startIndex)..<end])
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        if host.hasSuffix(".") { host.removeLast() }
        return host.isEmpty ? nil : host
    }
}
