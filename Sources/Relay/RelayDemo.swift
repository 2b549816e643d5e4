import Foundation
import Redaction
import Sealing
import SupportBot
import SupportBotDemoStore
import TLS
import TranscriptStore

/// `kamirelay serve --demo`: everything a first run needs, created in one data directory.
///
/// - `keys/master.key`: a **development** master key sealed with the publicly known passphrase
///   ``developmentPassphrase`` (so `kamirelay transcripts` can read the demo's transcripts).
///   Anyone with the directory can decrypt it: never use it for real customers.
/// - `tls/root.pem` (the development CA to trust), `tls/server.pem` + `tls/server.key` (a leaf
///   for `localhost` and `127.0.0.1`).
/// - `transcripts.sqlite`: the sealed store, with the tenant `demo`; `relay.sqlite`: sealed
///   resume state and API keys.
/// - the demo shop's knowledge base and 60 fake orders (in memory, seeded the same way each run).
public struct RelayDemo: Sendable {
    /// The development master key's passphrase. Public on purpose: the demo is not for production.
    public static let developmentPassphrase = "kamirelay-demo-NOT-FOR-PRODUCTION"
    public static let tenant = DemoKnowledgeBase.tenant
    public static let hostnames = ["localhost", "127.0.0.1"]

    public let dataDirectory: String
    public let store: SQLiteTranscriptStore
    /// Sealed resume / API-session state and API keys (`relay.sqlite`).
    public let state: RelayStateStore
    public let tenantRuntime: TenantRuntime
    /// The demo orders' card keys plus any added with `kamirelay tenants issued-keys add`.
    public let issuedKeys: IssuedKeysReloader
    public let tls: TLSServerConfiguration
    /// The development CA certificate a client must trust (or the browser warning to accept).
    public let rootCertificatePath: String
    public let orders: [DemoOrder]
    /// What was created on this run (empty when everything already existed).
    public let created: [String]

    public var keysDirectory: String { dataDirectory + "/keys" }

    /// The demo knowledge base's trained model, trained once per process (training is
    /// deterministic, so every tenant using `demo` gets the same model).
    static let demoModel = Result { () throws -> BotModel in BotModel(knowledgeBase: try KnowledgeBase.demo()) }

    /// Creates what is missing in `dataDirectory` and opens it.
    public static func prepare(dataDirectory: String, kdf: Argon2idParameters = .interactive) async throws -> RelayDemo {
        var created: [String] = []
        let fm = FileManager.default
        try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let keysDir = dataDirectory + "/keys", tlsDir = dataDirectory + "/tls"
        try fm.createDirectory(atPath: keysDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try fm.createDirectory(atPath: tlsDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        // Master key.
        let masterKeyPath = keysDir + "/master.key"
        let passphrase = Array(developmentPassphrase.utf8)
        if !fm.fileExists(atPath: masterKeyPath) {
            try MasterKeyFile.create(at: masterKeyPath, masterKey: GuardedKey(randomCount: 32), passphrase: passphrase, parameters: kdf)
            created.append("development master key \(masterKeyPath)")
        }
        let file = try MasterKeyFile(contentsOf: masterKeyPath)
        let ring = MasterKeyring(currentID: file.keyID, key: try file.unlock(passphrase: passphrase))

        // Certificates: a development CA and a leaf for localhost / 127.0.0.1.
        let rootPath = tlsDir + "/root.pem", chainPath = tlsDir + "/server.pem", keyPath = tlsDir + "/server.key"
        if !(fm.fileExists(atPath: rootPath) && fm.fileExists(atPath: chainPath) && fm.fileExists(atPath: keyPath)) {
            let root = try DevelopmentCertificate(hostnames: [], commonName: "KamiRelay development CA (not trusted anywhere)",
                                                  isCertificateAuthority: true)
            let leaf = try DevelopmentCertificate(hostnames: hostnames, issuer: root)
            try DevelopmentCertificate.writeChain([root], to: rootPath, overwrite: true)
            try DevelopmentCertificate.writeChain([leaf], to: chainPath, overwrite: true)
            try leaf.writePrivateKey(to: keyPath, overwrite: true)
            created.append("development certificate \(chainPath) (CA: \(rootPath))")
        }
        let files = TLSCertificateFiles(certificateChainPath: chainPath, privateKeyPath: keyPath)
        var tls = TLSServerConfiguration(defaultCertificate: files,
                                         tenants: [TLSTenantCertificate(tenant: tenant, hostnames: ["localhost"], files: files)])
        tls.unknownServerName = .useDefaultCertificate  // clients of https://127.0.0.1 send no SNI

        // Store and tenant.
        let store = try SQLiteTranscriptStore(path: dataDirectory + "/transcripts.sqlite", masterKeys: ring)
        if !(try await store.tenants()).contains(tenant) {
            try await store.addTenant(tenant)
            created.append("tenant \(tenant)")
        }
        let orders = DemoOrders.generate(now: Date())
        let runtime = try await makeTenantRuntime(store: store, orders: orders)
        let state = try RelayStateStore.open(dataDirectory: dataDirectory, keys: store)
        let hasher = BLAKE2bKeyedHasher(guardedKey: try await store.purposeKey(tenant: tenant, .tokenisation))
        let issuedKeys = IssuedKeysReloader(state: state, tenants: [.init(runtime: runtime, hasher: hasher, plainKeys: orders.flatMap(\.cardKeys))])
        try await issuedKeys.loadAll()
        return RelayDemo(dataDirectory: dataDirectory, store: store, state: state, tenantRuntime: runtime, issuedKeys: issuedKeys, tls: tls,
                         rootCertificatePath: rootPath, orders: orders, created: created)
    }

    /// The demo tenant: built-in policy with e-mail and phone tokenised (so the bot can verify
    /// a customer against an order), the tenant's tokenisation key, the demo orders' card keys
    /// as issued keys, the demo knowledge base and order store.
    static func makeTenantRuntime(store: SQLiteTranscriptStore, orders: [DemoOrder]) async throws -> TenantRuntime {
        let tokenKey = try await store.purposeKey(tenant: tenant, .tokenisation)
        let hasher = BLAKE2bKeyedHasher(guardedKey: tokenKey)
        var policy = RedactionPolicy.default
        policy.rules[.email] = .init(action: .token)
        policy.rules[.phone] = .init(action: .token)
        let issued = IssuedKeySet(keys: orders.flatMap(\.cardKeys), hasher: hasher)
        let redactor = try Redactor(policy: policy, issuedKeys: issued, tokenizer: hasher)
        let orderStore = try DemoOrderStore.seeded(orders: orders, tokenizer: RedactorContactTokenizer(redactor: redactor),
                                                   keyHasher: hasher)
        let bot = SupportBot(model: try demoModel.get(), orders: orderStore)
        return TenantRuntime(id: tenant, hostnames: hostnames, redactor: redactor, bot: bot)
    }
}
