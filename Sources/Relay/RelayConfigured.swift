import Foundation
import PolicyFiles
import Redaction
import Sealing
import SupportBot
import SupportBotDemoStore
import TLS
import TranscriptStore

/// Opens what a configuration file describes: the store under the unlocked master keys, each
/// tenant's redactor (policy + the tenant's tokenisation key), bot and order source, and the TLS
/// certificates. Clients whose SNI names no tenant are refused in the handshake.
public struct RelayConfigured: Sendable {
    public let store: SQLiteTranscriptStore
    public let tenants: [TenantRuntime]
    public let server: RelayServerConfiguration

    public static func open(_ config: RelayConfigFile, file: String, masterKeys: MasterKeyring) async throws -> RelayConfigured {
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let store = try SQLiteTranscriptStore(path: config.dataDirectory + "/transcripts.sqlite", masterKeys: masterKeys)
        let known = Set(try await store.tenants())
        var runtimes: [TenantRuntime] = []
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
            if tenant.orders == "demo" {
                let demoOrders = DemoOrders.generate(now: Date())
                redactor = try Redactor(policy: policy, issuedKeys: IssuedKeySet(keys: demoOrders.flatMap(\.cardKeys), hasher: hasher),
                                        tokenizer: hasher)
                orders = try DemoOrderStore.seeded(orders: demoOrders, tokenizer: RedactorContactTokenizer(redactor: redactor),
                                                   keyHasher: hasher)
            } else {
                redactor = try Redactor(policy: policy, issuedKeys: nil, tokenizer: hasher)
                orders = UnavailableOrderSource()
            }
            runtimes.append(TenantRuntime(id: tenant.id, hostnames: tenant.hostnames, redactor: redactor,
                                          bot: SupportBot(model: model, orders: orders)))
            certificates.append(TLSTenantCertificate(
                tenant: tenant.id, hostnames: tenant.hostnames,
                files: TLSCertificateFiles(certificateChainPath: tenant.certificate, privateKeyPath: tenant.privateKey)))
        }
        var tls = TLSServerConfiguration(defaultCertificate: nil, tenants: certificates, profile: config.profile)
        tls.unknownServerName = .reject
        var server = RelayServerConfiguration(host: config.host, port: config.port, tls: tls)
        server.limits = config.limits
        return RelayConfigured(store: store, tenants: runtimes, server: server)
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
