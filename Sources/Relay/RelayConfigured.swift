import Foundation
import PolicyFiles
import Redaction
import Sealing
import SupportBot
import SupportBotDemoStore
import SupportBotHTTPOrders
import TLS
import TranscriptStore

/// Opens what a configuration file describes: the store under the unlocked master keys, each
/// tenant's redactor (policy + the tenant's tokenisation key), bot and order source, and the TLS
/// certificates. Clients whose SNI names no tenant are refused in the handshake.
public struct RelayConfigured: Sendable {
    public let store: SQLiteTranscriptStore
    /// Sealed resume / API-session state and API keys (`<data_dir>/relay.sqlite`).
    public let state: RelayStateStore
    public let tenants: [TenantRuntime]
    public let server: RelayServerConfiguration
    /// Keeps the tenants' issued card keys in step with `relay.sqlite`; run it beside the server.
    public let issuedKeys: IssuedKeysReloader

    public static func open(_ config: RelayConfigFile, file: String, masterKeys: MasterKeyring) async throws -> RelayConfigured {
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let store = try SQLiteTranscriptStore(path: config.dataDirectory + "/transcripts.sqlite", masterKeys: masterKeys)
        let known = Set(try await store.tenants())
        var runtimes: [TenantRuntime] = []
        var issued: [IssuedKeysReloader.Tenant] = []
        var certificates: [TLSTenantCertificate] = []
        for (index, tenant) in config.tenants.enumerated() {
            let field = "tenants[\(index)]"
            guard known.contains(tenant.id) else {
                throw RelayConfigError(file: file, line: nil, field: field + ".id",
                                       reason: "tenant \(tenant.id) is not in the store at \(config.dataDirectory); run `kamirelay tenants add \(tenant.id)`")
            }
            let policy: RedactionPolicy
            if let path = tenant.policy {
                do { policy = try RedactionPolicyFile.load(path: path) } catch {
                    throw RelayConfigError(file: file, line: nil, field: field + ".policy", reason: error.description)
                }
            } else {
                policy = RedactionPolicyFile.builtInDefault
            }
            let model: BotModel
            do {
                model = tenant.knowledgeBase == "demo" ? try RelayDemo.demoModel.get()
                    : BotModel(knowledgeBase: try KnowledgeBase.load(path: tenant.knowledgeBase))
            } catch {
                throw RelayConfigError(file: file, line: nil, field: field + ".knowledge_base", reason: "\(error)")
            }
            let hasher = BLAKE2bKeyedHasher(guardedKey: try await store.purposeKey(tenant: tenant.id, .tokenisation))
            let orders: any OrderSource
            let redactor: Redactor
            var plainKeys: [String] = []
            switch tenant.orders {
            case .demo?:
                let demoOrders = DemoOrders.generate(now: Date())
                plainKeys = demoOrders.flatMap(\.cardKeys)
                redactor = try Redactor(policy: policy, issuedKeys: IssuedKeySet(keys: demoOrders.flatMap(\.cardKeys), hasher: hasher),
                                        tokenizer: hasher)
                orders = try DemoOrderStore.seeded(orders: demoOrders, tokenizer: RedactorContactTokenizer(redactor: redactor),
                                                   keyHasher: hasher)
            case .http(let url, let tokenFile, let timeout)?:
                redactor = try Redactor(policy: policy, issuedKeys: nil, tokenizer: hasher)
                let token = try Self.readToken(tokenFile, file: file, field: field + ".orders.token_file")
                var http = HTTPOrderSourceConfiguration(baseURL: url, authHeader: ("Authorization", "Bearer " + token))
                http.timeout = timeout
                orders = HTTPOrderSource(configuration: http)
            case nil:
                redactor = try Redactor(policy: policy, issuedKeys: nil, tokenizer: hasher)
                orders = UnavailableOrderSource()
            }
            let runtime = TenantRuntime(id: tenant.id, hostnames: tenant.hostnames, redactor: redactor,
                                        bot: SupportBot(model: model, orders: orders), allowedOrigins: tenant.allowedOrigins)
            runtimes.append(runtime)
            issued.append(.init(runtime: runtime, hasher: hasher, plainKeys: plainKeys))
            certificates.append(TLSTenantCertificate(
                tenant: tenant.id, hostnames: tenant.hostnames,
                files: TLSCertificateFiles(certificateChainPath: tenant.certificate, privateKeyPath: tenant.privateKey)))
        }
        var tls = TLSServerConfiguration(defaultCertificate: nil, tenants: certificates, profile: config.profile)
        tls.unknownServerName = .reject
        var server = RelayServerConfiguration(host: config.host, port: config.port, tls: tls, httpPort: config.httpPort)
        server.addresses = config.addresses
        server.publicPort = config.publicPort
        server.limits = config.limits
        server.erasureCheckInterval = .seconds(config.retention.erasureCheckSeconds)
        let state = try RelayStateStore.open(dataDirectory: config.dataDirectory, keys: store)
        let issuedKeys = IssuedKeysReloader(state: state, tenants: issued)
        try await issuedKeys.loadAll()
        return RelayConfigured(store: store, state: state, tenants: runtimes, server: server, issuedKeys: issuedKeys)
    }

    /// The order backend's bearer token: the file's first line (a trailing newline is fine).
    static func readToken(_ path: String, file: String, field: String) throws(RelayConfigError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw RelayConfigError(file: file, line: nil, field: field, reason: "cannot read \(path)")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw RelayConfigError(file: file, line: nil, field: field, reason: "\(path) must hold the token on its first line (printable ASCII)")
        }
        return token
    }
}

/// For tenants without an order source: every look-up fails cleanly, so the bot hands off.
struct UnavailableOrderSource: OrderSource {
    func order(number: String) async throws(OrderSourceError) -> OrderSummary? { throw .unavailable(reason: "no order source configured") }
    func verify(number: String, contactToken: String) async throws(OrderSourceError) -> Bool {
        throw .unavailable(reason: "no order source configured")
    }
    func recentOrders(contactToken: String, limit: Int) async throws(OrderSourceError) -> [OrderSummary] {
        throw .unavailable(reason: "no order source configured")
    }
    func resendCardKeys(number: String) async throws(OrderSourceError) -> ResendReceipt {
        throw .unavailable(reason: "no order source configured")
    }
}
