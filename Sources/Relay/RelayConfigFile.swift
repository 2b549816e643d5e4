import Foundation
import PolicyFiles
import TLS
import Yams

/// `kamirelay serve --config FILE`: the relay's YAML configuration.
///
/// ```yaml
/// version: 1
/// listen: { host: 0.0.0.0, port: 8443, http_port: 8080 }   # http_port: optional redirect-only listener
/// # or several HTTPS addresses: listen: { addresses: ["10.0.0.5:8443", "[2001:db8::5]:8443"], http_port: 8080 }
/// data_dir: /var/lib/kamirelay          # transcripts.sqlite (default: ./data)
/// keys_dir: /etc/kamirelay/keys         # master.key (default: ./keys)
/// tls: { profile: intermediate }        # or modern (TLS 1.3 only)
/// limits: { max_message_characters: 2000, message_burst: 5, messages_per_second: 1, max_sessions: 1000 }
/// retention: { enabled: true, interval_minutes: 60, batch_size: 200, erasure_check_seconds: 2 }   # the sweeper inside the server
/// tenants:
///   - id: shop1                         # must exist in the store (`kamirelay tenants add shop1`)
///     hostnames: [chat.shop1.example]
///     certificate: /etc/kamirelay/tls/shop1.pem
///     private_key: /etc/kamirelay/tls/shop1.key
///     policy: /etc/kamirelay/policies/shop1.yaml     # optional: built-in policy
///     knowledge_base: /etc/kamirelay/kb/shop1.yaml   # or `demo`
///     orders: demo                                   # optional: `demo`, or { url: https://…, token_file: … }
///     allowed_origins: [https://www.shop1.example]   # optional: sites that embed widget.js
/// ```
/// Relative paths are relative to the configuration file's directory. Every problem is a
/// ``RelayConfigError`` naming the file, the line and the field.
public struct RelayConfigFile: Sendable, Equatable {
    public struct Tenant: Sendable, Equatable {
        public var id: String
        public var hostnames: [String]
        public var certificate: String
        public var privateKey: String
        public var policy: String?
        /// A knowledge-base YAML path, or `demo` for the built-in demo shop.
        public var knowledgeBase: String
        /// The order source; nil: none (order look-ups hand off).
        public var orders: Orders?
        /// Web origins besides the tenant's own host names that may open the chat WebSocket.
        public var allowedOrigins: [String]

        public init(id: String, hostnames: [String], certificate: String, privateKey: String, policy: String?,
                    knowledgeBase: String, orders: Orders?, allowedOrigins: [String] = []) {
            self.id = id
            self.hostnames = hostnames
            self.certificate = certificate
            self.privateKey = privateKey
            self.policy = policy
            self.knowledgeBase = knowledgeBase
            self.orders = orders
            self.allowedOrigins = allowedOrigins
        }
    }

    /// Where a tenant's bot looks orders up.
    public enum Orders: Sendable, Equatable {
        /// The seeded demo shop (its card keys are known to the redactor as issued keys).
        case demo
        /// The shop's own HTTP JSON backend (`SupportBotHTTPOrders`): base URL, a file holding
        /// the bearer token (first line), per-request timeout in seconds.
        case http(url: URL, tokenFile: String, timeoutSeconds: Double)
    }

    /// The HTTPS listen addresses (`listen.addresses`, or the single `listen.host`/`listen.port`).
    public var addresses = [RelayListenAddress(host: "127.0.0.1", port: 8443)]
    /// The first listen address's host.
    public var host: String { addresses.first?.host ?? "127.0.0.1" }
    /// The first listen address's port.
    public var port: Int { addresses.first?.port ?? 8443 }
    /// The plain-HTTP redirect listener's port; nil: off.
    public var httpPort: Int?
    /// The HTTPS port browsers see, when a port mapping differs from `port`.
    public var publicPort: Int?
    public var dataDirectory = "data"
    public var keysDirectory = "keys"
    public var profile: TLSProfile = .intermediate
    public var limits = RelayLimits()
    public var retention = RetentionSettings()
    public var tenants: [Tenant] = []

    /// The retention sweeper inside the server (policies: `<data_dir>/policies/retention/<tenant>.yaml`).
    public struct RetentionSettings: Sendable, Equatable {
        /// Run the sweep and the erasure epoch inside the server (false: run them from cron).
        public var enabled = true
        /// Minutes between rounds (1–720: at most 12 h keeps erasure epochs within 24 h).
        public var intervalMinutes = 60
        /// Sessions per write transaction.
        public var batchSize = 200
        /// Seconds between the relay's checks that its open chats' sessions still exist, so
        /// a `kamirelay erase` ends them promptly (1–60; runs whether or not `enabled`).
        public var erasureCheckSeconds = 2
        public init() {}
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.addresses == b.addresses && a.httpPort == b.httpPort && a.publicPort == b.publicPort && a.dataDirectory == b.dataDirectory && a.keysDirectory == b.keysDirectory
            && a.profile == b.profile && a.tenants == b.tenants && a.retention == b.retention
    }

    /// Reads and checks `path`.
    public static func load(path: String) throws(RelayConfigError) -> RelayConfigFile {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RelayConfigError(file: path, line: nil, field: nil, reason: "cannot open the file (missing or not readable)")
        }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd(), let text = String(data: data, encoding: .utf8) else {
            throw RelayConfigError(file: path, line: nil, field: nil, reason: "cannot read the file as UTF-8")
        }
        let base = (path as NSString).deletingLastPathComponent
        return try parse(yaml: text, file: path, baseDirectory: base.isEmpty ? "." : base)
    }

    /// Parses configuration YAML; `file` names it in errors; relative paths resolve against `baseDirectory`.
    public static func parse(yaml: String, file: String, baseDirectory: String) throws(RelayConfigError) -> RelayConfigFile {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch let error as YamlError {
            throw RelayConfigError(file: file, line: error.line, field: nil, reason: "not valid YAML")
        } catch {
            throw RelayConfigError(file: file, line: nil, field: nil, reason: "not valid YAML")
        }
        guard let root, let mapping = root.mapping else {
            throw RelayConfigError(file: file, line: root?.mark?.line, field: nil, reason: "expected a mapping at the top level")
        }
        let reader = Reader(file: file, base: baseDirectory)
        return try reader.config(mapping, mark: root.mark)
    }

    private struct Reader {
        let file: String
        let base: String

        func error(_ node: Node?, _ field: String, _ reason: String) -> RelayConfigError {
            RelayConfigError(file: file, line: node?.mark?.line, field: field, reason: reason)
        }

        /// The mapping's fields by name, refusing unknown ones (typos are errors, not defaults).
        func fields(_ mapping: Node.Mapping, allowed: [String], prefix: String) throws(RelayConfigError) -> [String: (key: Node, value: Node)] {
            var fields: [String: (key: Node, value: Node)] = [:]
            for (key, value) in mapping {
                guard let name = key.string else { throw error(key, prefix + "<key>", "keys must be plain names") }
                guard allowed.contains(name) else {
                    throw error(key, prefix + name, "unknown field (expected one of \(allowed.joined(separator: ", ")))")
                }
                fields[name] = (key, value)
            }
            return fields
        }

        func string(_ node: Node, _ field: String) throws(RelayConfigError) -> String {
            guard let value = node.scalar?.string, !value.isEmpty else {
                throw error(node, field, "expected a non-empty string")
            }
            return value
        }

        func path(_ node: Node, _ field: String) throws(RelayConfigError) -> String {
            let value = try string(node, field)
            return value.hasPrefix("/") ? value : base + "/" + value
        }

        func int(_ node: Node, _ field: String, _ range: ClosedRange<Int>) throws(RelayConfigError) -> Int {
            guard let value = node.int, range.contains(value) else {
                throw error(node, field, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }

        static func isLoopbackOrigin(_ origin: String) -> Bool {
            ["http://localhost", "http://127.0.0.1", "http://[::1]"].contains { origin == $0 || origin.hasPrefix($0 + ":") }
        }

        /// `orders: demo`, or `orders: { url: https://…, token_file: FILE, timeout_seconds: 3 }`.
        func orders(_ node: Node, _ field: String) throws(RelayConfigError) -> Orders {
            if node.scalar != nil {
                guard try string(node, field) == "demo" else {
                    throw error(node, field, "expected `demo` or a mapping { url: https://…, token_file: FILE }")
                }
                return .demo
            }
            guard let map = node.mapping else { throw error(node, field, "expected `demo` or a mapping { url: https://…, token_file: FILE }") }
            let o = try fields(map, allowed: ["url", "token_file", "timeout_seconds"], prefix: field + ".")
            guard let urlEntry = o["url"] else { throw error(node, field + ".url", "missing") }
            let text = try string(urlEntry.value, field + ".url")
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
                  url.user == nil, url.password == nil, url.query == nil,
                  scheme == "https" || (scheme == "http" && ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased()))
            else {
                throw error(urlEntry.value, field + ".url", "expected an https:// URL without query or credentials (http:// only for localhost)")
            }
            guard let tokenEntry = o["token_file"] else { throw error(node, field + ".token_file", "missing: the file holding the backend's bearer token") }
            let tokenFile = try path(tokenEntry.value, field + ".token_file")
            guard FileManager.default.isReadableFile(atPath: tokenFile) else {
                throw error(tokenEntry.value, field + ".token_file", "cannot read \(tokenFile)")
            }
            var timeout = 3.0
            if let entry = o["timeout_seconds"] {
                guard let value = entry.value.float, value > 0, value <= 60 else {
                    throw error(entry.value, field + ".timeout_seconds", "expected a number above 0 and at most 60")
                }
                timeout = value
            }
            return .http(url: url, tokenFile: tokenFile, timeoutSeconds: timeout)
        }

        /// `listen: { host, port }` (one address) or `listen: { addresses: [HOST:PORT, "[V6]:PORT"] }`,
        /// with the optional `http_port` and `public_port`.
        func listen(_ node: Node, into config: inout RelayConfigFile) throws(RelayConfigError) {
            guard let map = node.mapping else {
                throw error(node, "listen", "expected a mapping with host and port, or with addresses")
            }
            let l = try fields(map, allowed: ["host", "port", "addresses", "http_port", "public_port"], prefix: "listen.")
            if let list = l["addresses"] {
                if let single = l["host"] ?? l["port"] {
                    throw error(single.key, "listen." + (single.key.string ?? "host"),
                                "give either listen.addresses or listen.host and listen.port, not both")
                }
                config.addresses = try addresses(list.value)
            } else {
                var address = config.addresses[0]
                if let host = l["host"] { address.host = try string(host.value, "listen.host") }
                if let port = l["port"] { address.port = try int(port.value, "listen.port", 0...65_535) }
                config.addresses = [address]
            }
            if let port = l["http_port"] {
                let httpPort = try int(port.value, "listen.http_port", 0...65_535)
                if httpPort != 0, config.addresses.contains(where: { $0.port == httpPort }) {
                    throw error(port.value, "listen.http_port", "must differ from the HTTPS port\(config.addresses.count > 1 ? "s" : "") (\(httpPort))")
                }
                config.httpPort = httpPort
            }
            if let port = l["public_port"] { config.publicPort = try int(port.value, "listen.public_port", 1...65_535) }
        }

        func addresses(_ node: Node) throws(RelayConfigError) -> [RelayListenAddress] {
            let expected = "expected a non-empty list of HOST:PORT, e.g. [0.0.0.0:8443, \"[::1]:8443\"] (IPv6 in brackets, quoted)"
            guard let list = node.sequence, !list.isEmpty else { throw error(node, "listen.addresses", expected) }
            var addresses: [RelayListenAddress] = []
            for (index, item) in list.enumerated() {
                let field = "listen.addresses[\(index)]"
                guard let text = item.scalar?.string, let address = RelayListenAddress(parsing: text) else {
                    throw error(item, field, "expected HOST:PORT with a port from 0 to 65535 (an IPv6 address in brackets and quoted: \"[::1]:8443\")")
                }
                // Port 0 (any free port, for tests) can repeat; a real port cannot be bound twice.
                if address.port != 0, let other = addresses.first(where: { $0.port == address.port && $0.overlaps(address) }) {
                    if other.host.lowercased() == address.host.lowercased() { throw error(item, field, "\(address) is listed twice") }
                    let wildcard = other.isWildcard ? other : address
                    throw error(item, field, "\(wildcard) already takes every address\(wildcard.host == "::" ? " (IPv4 too, on Linux)" : "") "
                                + "on port \(address.port), so \(other) and \(address) cannot both be bound; list the wildcard alone, or only specific addresses")
                }
                addresses.append(address)
            }
            return addresses
        }

        func config(_ mapping: Node.Mapping, mark: Mark?) throws(RelayConfigError) -> RelayConfigFile {
            let f = try fields(mapping, allowed: ["version", "listen", "data_dir", "keys_dir", "tls", "limits", "retention", "tenants"], prefix: "")
            guard let version = f["version"] else {
                throw RelayConfigError(file: file, line: mark?.line, field: "version", reason: "missing (write `version: 1`)")
            }
            guard version.value.int == 1 else { throw error(version.value, "version", "unsupported version (this KamiRelay reads version 1)") }
            var config = RelayConfigFile()
            config.dataDirectory = base + "/data"
            config.keysDirectory = base + "/keys"
            if let listen = f["listen"] { try self.listen(listen.value, into: &config) }
            if let dir = f["data_dir"] { config.dataDirectory = try path(dir.value, "data_dir") }
            if let dir = f["keys_dir"] { config.keysDirectory = try path(dir.value, "keys_dir") }
            if let tls = f["tls"] {
                guard let map = tls.value.mapping else { throw error(tls.value, "tls", "expected a mapping") }
                let t = try fields(map, allowed: ["profile"], prefix: "tls.")
                if let profile = t["profile"] {
                    guard let value = profile.value.string.flatMap(TLSProfile.init(rawValue:)) else {
                        throw error(profile.value, "tls.profile", "expected intermediate or modern")
                    }
                    config.profile = value
                }
            }
            if let limits = f["limits"] {
                guard let map = limits.value.mapping else { throw error(limits.value, "limits", "expected a mapping") }
                let l = try fields(map, allowed: ["max_message_characters", "message_burst", "messages_per_second", "max_sessions",
                                                  "max_sessions_per_ip", "max_connections_per_ip", "resume_seconds", "idle_timeout_seconds", "write_timeout_seconds",
                                                  "api_burst", "api_requests_per_second", "api_state_seconds"], prefix: "limits.")
                if let v = l["max_message_characters"] { config.limits.maxMessageCharacters = try int(v.value, "limits.max_message_characters", 1...8_000) }
                if let v = l["message_burst"] { config.limits.messageBurst = try int(v.value, "limits.message_burst", 1...1_000) }
                if let v = l["messages_per_second"] {
                    guard let rate = v.value.float, rate > 0, rate <= 1_000 else {
                        throw error(v.value, "limits.messages_per_second", "expected a number above 0 and at most 1000")
                    }
                    config.limits.messagesPerSecond = rate
                }
                if let v = l["max_sessions"] { config.limits.maxSessions = try int(v.value, "limits.max_sessions", 1...1_000_000) }
                if let v = l["max_sessions_per_ip"] { config.limits.maxSessionsPerIP = try int(v.value, "limits.max_sessions_per_ip", 1...1_000_000) }
                if let v = l["max_connections_per_ip"] {
                    config.limits.maxConnectionsPerIP = try int(v.value, "limits.max_connections_per_ip", 1...1_000_000)
                }
                if let v = l["resume_seconds"] { config.limits.resumeLifetime = TimeInterval(try int(v.value, "limits.resume_seconds", 0...86_400)) }
                if let v = l["idle_timeout_seconds"] {
                    config.limits.idleTimeout = .seconds(try int(v.value, "limits.idle_timeout_seconds", 10...86_400))
                }
                if let v = l["write_timeout_seconds"] {
                    config.limits.writeTimeout = .seconds(try int(v.value, "limits.write_timeout_seconds", 1...600))
                }
                if let v = l["api_burst"] { config.limits.apiBurst = try int(v.value, "limits.api_burst", 1...10_000) }
                if let v = l["api_requests_per_second"] {
                    guard let rate = v.value.float, rate > 0, rate <= 10_000 else {
                        throw error(v.value, "limits.api_requests_per_second", "expected a number above 0 and at most 10000")
                    }
                    config.limits.apiRequestsPerSecond = rate
                }
                if let v = l["api_state_seconds"] {
                    config.limits.apiStateLifetime = TimeInterval(try int(v.value, "limits.api_state_seconds", 60...2_592_000))
                }
            }
            if let retention = f["retention"] {
                guard let map = retention.value.mapping else { throw error(retention.value, "retention", "expected a mapping") }
                let r = try fields(map, allowed: ["enabled", "interval_minutes", "batch_size", "erasure_check_seconds"], prefix: "retention.")
                if let v = r["enabled"] {
                    guard let b = v.value.bool else { throw error(v.value, "retention.enabled", "expected true or false") }
                    config.retention.enabled = b
                }
                if let v = r["interval_minutes"] { config.retention.intervalMinutes = try int(v.value, "retention.interval_minutes", 1...720) }
                if let v = r["batch_size"] { config.retention.batchSize = try int(v.value, "retention.batch_size", 1...10_000) }
                if let v = r["erasure_check_seconds"] {
                    config.retention.erasureCheckSeconds = try int(v.value, "retention.erasure_check_seconds", 1...60)
                }
            }
            guard let tenants = f["tenants"] else {
                throw RelayConfigError(file: file, line: mark?.line, field: "tenants", reason: "missing: at least one tenant is needed")
            }
            guard let list = tenants.value.sequence, !list.isEmpty else {
                throw error(tenants.value, "tenants", "expected a non-empty list of tenants")
            }
            var seenIDs: Set<String> = [], seenHosts: Set<String> = []
            for (index, node) in list.enumerated() {
                let prefix = "tenants[\(index)]."
                guard let map = node.mapping else { throw error(node, "tenants[\(index)]", "expected a mapping") }
                let t = try fields(map, allowed: ["id", "hostnames", "certificate", "private_key", "policy", "knowledge_base", "orders",
                                                  "allowed_origins"],
                                   prefix: prefix)
                func required(_ name: String) throws(RelayConfigError) -> Node {
                    guard let value = t[name]?.value else {
                        throw RelayConfigError(file: file, line: node.mark?.line, field: prefix + name, reason: "missing")
                    }
                    return value
                }
                let idNode = try required("id")
                let id = try string(idNode, prefix + "id")
                guard id.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil else {
                    throw error(idNode, prefix + "id", "expected 1–63 of a–z, 0–9, '-', '_'")
                }
                guard seenIDs.insert(id).inserted else { throw error(idNode, prefix + "id", "tenant \(id) is listed twice") }
                let hostsNode = try required("hostnames")
                guard let hostList = hostsNode.sequence, !hostList.isEmpty else {
                    throw error(hostsNode, prefix + "hostnames", "expected a non-empty list of host names")
                }
                var hostnames: [String] = []
                for hostNode in hostList {
                    let host = try string(hostNode, prefix + "hostnames").lowercased()
                    guard seenHosts.insert(host).inserted else { throw error(hostNode, prefix + "hostnames", "\(host) is used by two tenants") }
                    hostnames.append(host)
                }
                let orders = try t["orders"].map { (entry) throws(RelayConfigError) -> Orders in try self.orders(entry.value, prefix + "orders") }
                var origins: [String] = []
                if let entry = t["allowed_origins"] {
                    guard let list = entry.value.sequence else {
                        throw error(entry.value, prefix + "allowed_origins", "expected a list of origins such as https://www.shop.example")
                    }
                    for item in list {
                        let text = try string(item, prefix + "allowed_origins")
                        guard let origin = TenantRuntime.canonicalOrigin(text),
                              origin.hasPrefix("https://") || Self.isLoopbackOrigin(origin) else {
                            throw error(item, prefix + "allowed_origins",
                                        "expected an origin https://HOST[:PORT] (no path; http:// only for localhost)")
                        }
                        origins.append(origin)
                    }
                }
                let kbNode = try required("knowledge_base")
                let kb = try string(kbNode, prefix + "knowledge_base")
                config.tenants.append(Tenant(
                    id: id, hostnames: hostnames,
                    certificate: try path(try required("certificate"), prefix + "certificate"),
                    privateKey: try path(try required("private_key"), prefix + "private_key"),
                    policy: try t["policy"].map { (entry) throws(RelayConfigError) -> String in try path(entry.value, prefix + "policy") },
                    knowledgeBase: kb == "demo" ? kb : try path(kbNode, prefix + "knowledge_base"),
                    orders: orders, allowedOrigins: origins))
            }
            return config
        }
    }
}

/// A configuration problem: file, line, field and why — the same error type policy files use.
public typealias RelayConfigError = PolicyFileError
