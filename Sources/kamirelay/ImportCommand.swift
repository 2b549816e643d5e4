import ArgumentParser
import Foundation
import Redaction
import Relay
import Sealing
import TranscriptStore

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import plaintext chat logs (JSON lines) into the sealed store, redacting every message.",
        discussion: """
        One JSON object per line:
          {"session":"s-1","time":"2024-05-01T10:00:00Z","role":"customer","text":"…",
           "email":"a@example.com","phone":"13812345678","order":"K7Q2M9X4B1C8D3F5"}
        role is customer, bot, agent or system; time is ISO 8601 or Unix seconds; email, phone, \
        order (and channel) are optional and link the session to its data subject through blind \
        indexes — they are never stored in clear.

        Every message is redacted with the tenant's policy (--policy, else \
        <data-dir>/policies/ID.yaml, else the built-in default) before it is sealed. Bad lines \
        are reported by line number and skipped; the rest imports. Running the same file again \
        imports nothing twice.
        """)

    @OptionGroup var store: StoreOptions
    @Option(help: "The tenant.") var tenant: String
    @Option(help: "A redaction policy file overriding the tenant's.") var policy: String?
    @Option(name: .customLong("batch-size"), help: "Messages per transaction.") var batchSize = 500
    @Flag(help: "Print 'committed through line N' after every durable batch.") var verbose = false
    @Argument(help: "The JSON-lines file.") var file: String

    func run() async throws {
        let policy = try tenantPolicy(store: store, tenant: tenant, override: self.policy)
        let s = try store.openStore()
        let tokenKey = try await s.purposeKey(tenant: tenant, .tokenisation)
        let hasher = BLAKE2bKeyedHasher(guardedKey: tokenKey)
        // The shop's issued card keys (`tenants issued-keys add`), so imported logs mask them too.
        var issued: IssuedKeySet? = nil
        if FileManager.default.fileExists(atPath: store.resolvedDataDir + "/relay.sqlite") {
            let digests = try await RelayStateStore.open(dataDirectory: store.resolvedDataDir, keys: s).issuedKeys(tenant: tenant)
            if !digests.isEmpty { issued = IssuedKeySet(digests: digests, keys: [String](), hasher: hasher) }
        }
        let redactor: Redactor
        do { redactor = try Redactor(policy: policy, issuedKeys: issued, tokenizer: hasher) }
        catch { throw CLIError("policy: \(error)") }
        let importer = ChatLogImporter(store: s, tenant: tenant, redactor: redactor,
                                       dedupKey: try await s.purposeKey(tenant: tenant, .importDedup), batchSize: batchSize)
        let bar = ProgressBar("import")
        let verbose = self.verbose
        let summary = try await importer.run(path: file) { p in
            if verbose { FileHandle.standardOutput.write(Data("committed through line \(p.committedThroughLine)\n".utf8)) }
            bar.update(done: p.bytesRead, total: p.totalBytes)
        }
        bar.finish()
        for bad in summary.badLines {
            FileHandle.standardError.write(Data("\(file):\(bad.line): \(bad.reason)\n".utf8))
        }
        print("imported \(summary.imported) message(s) in \(summary.sessions) session(s); \(summary.duplicates) already imported; \(summary.badLines.count) bad line(s)")
        if !summary.badLines.isEmpty { throw ExitCode(2) }
    }
}
