import Foundation
import Redaction
import Synchronization
import Sealing
import SupportBot
import TranscriptStore

/// Everything the relay needs to serve one tenant: the hostnames it answers for, its redactor
/// (policy + tokenisation key + issued card keys) and its bot.
public struct TenantRuntime: Sendable {
    public let id: String
    /// Lower-case host names (no port) whose `Host` header selects this tenant.
    public let hostnames: Set<String>
    /// The tenant's redactor now. It is replaced (for every copy of this runtime) when the
    /// shop's issued card keys change (``IssuedKeysReloader``); a chat keeps the redactor it
    /// started with for its split-number tail, and picks up the new one for its next chat.
    public var redactor: Redactor { redactorBox.current }
    let redactorBox: RedactorBox
    public let bot: SupportBot
    /// Extra web origins (`https://shop.example`) allowed to open the chat WebSocket, e.g. a
    /// shop's own site embedding `widget.js`. The tenant's own host names are always allowed.
    public let allowedOrigins: Set<String>

    public init(id: String, hostnames: [String], redactor: Redactor, bot: SupportBot, allowedOrigins: [String] = []) {
        self.id = id
        self.hostnames = Set(hostnames.map { $0.lowercased() })
        self.redactorBox = RedactorBox(redactor)
        self.bot = bot
        self.allowedOrigins = Set(allowedOrigins.compactMap(Self.canonicalOrigin))
    }

    /// Whether a browser page from `origin` may open this tenant's chat: `https://` + one of the
    /// tenant's host names (with `:PORT` unless the HTTPS port is 443), or a configured origin.
    /// `null` and anything that is not a plain scheme://host[:port] are refused.
    public func allows(origin: String, httpsPort: Int) -> Bool {
        guard let origin = Self.canonicalOrigin(origin) else { return false }
        if allowedOrigins.contains(origin) { return true }
        let suffix = httpsPort == 443 ? "" : ":\(httpsPort)"
        return hostnames.contains { host in
            origin == "https://" + (host.contains(":") ? "[\(host)]" : host) + suffix
        }
    }

    /// `HTTPS://Shop.Example:443` → `https://shop.example`; nil for `null`, paths, user info.
    static func canonicalOrigin(_ text: String) -> String? {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let components = URLComponents(string: value), let scheme = components.scheme, scheme == "https" || scheme == "http",
              let host = components.host, !host.isEmpty, components.user == nil, components.password == nil,
              components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil
        else { return nil }
        let port = components.port.flatMap { ($0 == 443 && scheme == "https") || ($0 == 80 && scheme == "http") ? nil : $0 }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return scheme + "://" + shownHost + (port.map { ":\($0)" } ?? "")
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

/// A tenant's current redactor, shared by every copy of its ``TenantRuntime``.
final class RedactorBox: Sendable {
    private let value: Mutex<Redactor>

    init(_ redactor: Redactor) {
        value = Mutex(redactor)
    }

    var current: Redactor { value.withLock { $0 } }

    func replace(with redactor: Redactor) {
        value.withLock { $0 = redactor }
    }
}
