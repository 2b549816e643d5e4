import ArgumentParser
import Foundation
import PolicyFiles
import Redaction
import TranscriptStore

struct TenantsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants",
        abstract: "Register shops (tenants), each with its own keys and redaction policy.",
        subcommands: [TenantsAdd.self, TenantsList.self, TenantsAPIKey.self, TenantsIssuedKeys.self]
    )
}

struct TenantsAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a tenant with a fresh random key (version 1).",
        discussion: """
        With --policy, the YAML redaction policy is checked and copied to \
        <data-dir>/policies/ID.yaml, which `kamirelay import` then uses for this tenant (edit or \
        replace that file to change it). Without it the built-in default policy applies.
        """)
    @OptionGroup var store: StoreOptions
    @Argument(help: "The tenant id: 1-64 characters a-z, 0-9, '-', '_', '.'.") var id: String
    @Option(help: "The tenant's redaction policy file (YAML).") var policy: String?

    func run() async throws {
        var policyText: Data? = nil
        if let policy {
            do { _ = try RedactionPolicyFile.load(path: policy) } catch { throw CLIError("policy: \(error)") }
            policyText = FileManager.default.contents(atPath: policy)
        }
        let s = try store.openStore()
        try await s.addTenant(id)
        if let policyText {
            try FileManager.default.createDirectory(atPath: store.policiesDir, withIntermediateDirectories: true)
            let dest = store.policiesDir + "/\(id).yaml"
            guard FileManager.default.createFile(atPath: dest, contents: policyText) else {
                throw CLIError("tenant \(id) was added, but its policy could not be written to \(dest); copy the file there by hand")
            }
            print("tenant \(id) added with key version 1 and policy \(dest)")
        } else {
            print("tenant \(id) added with key version 1 (built-in redaction policy)")
        }
    }
}

struct TenantsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tenants.")
    @OptionGroup var store: StoreOptions

    func run() async throws {
        for t in try await store.openStore().tenants() {
            let policy = FileManager.default.fileExists(atPath: store.policiesDir + "/\(t).yaml") ? store.policiesDir + "/\(t).yaml" : "built-in policy"
            print("\(t)\t\(policy)")
        }
    }
}

/// The tenant's redaction policy: an explicit file, else <data-dir>/policies/ID.yaml, else the built-in default.
func tenantPolicy(store: StoreOptions, tenant: String, override: String?) throws -> RedactionPolicy {
    let path = override ?? store.policiesDir + "/\(tenant).yaml"
    if override == nil && !FileManager.default.fileExists(atPath: path) { return RedactionPolicyFile.builtInDefault }
    do { return try RedactionPolicyFile.load(path: path) } catch { throw CLIError("policy: \(error)") }
}
