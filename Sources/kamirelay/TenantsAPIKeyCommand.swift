import ArgumentParser
import Foundation
import Relay
import TranscriptStore

/// `kamirelay tenants api-key create|list|revoke --tenant T`: keys for the relay's HTTP API.
struct TenantsAPIKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Create, list and revoke a tenant's keys for the relay's HTTP API (POST /v1/messages).",
        discussion: """
        A key looks like kr_<16 hex id>_<secret>. It is printed once by `create` and never \
        stored: <data-dir>/relay.sqlite keeps its id and a keyed BLAKE2b hash (the tenant's own \
        key), so a lost key cannot be shown again — create a new one and revoke the old. A \
        running relay sees new and revoked keys at once. Send it as `Authorization: Bearer KEY` \
        to the tenant's host (Docs/openapi.yaml).
        """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a key; prints it once.")
        @OptionGroup var store: StoreOptions
        @Option(help: "The tenant the key acts for.") var tenant: String
        @OptionGroup var officer: OfficerOptions
        @Option(help: "A note for `list` (e.g. which system uses the key).") var label: String = ""

        func run() async throws {
            let actor = try officer.operatorActor(tenant: tenant, store: store)
            let opened = try store.openStore()
            let state = try RelayStateStore.open(dataDirectory: store.resolvedDataDir, keys: opened)
            let created: (id: String, key: String)
            do { created = try await state.createAPIKey(tenant: tenant, label: label) } catch let error as TranscriptStoreError {
                throw CLIError(error.description)
            }
            do {
                try await recordAudit(store, opened, tenant: tenant, action: "api-key.create", detail: ["key": created.id], actor: actor)
            } catch {
                // Never shown and never audited: the key must not stay active.
                _ = try? await state.revokeAPIKey(tenant: tenant, id: created.id)
                throw CLIError("the audit log could not record the new key, so it was revoked: \(error)")
            }
            Terminal.note("API key \(created.id) created for tenant \(tenant). It is shown only now; store it as a secret:")
            print(created.key)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys (ids, labels, dates; never secrets).")
        @OptionGroup var store: StoreOptions
        @Option(help: "Only this tenant's keys.") var tenant: String?

        func run() async throws {
            let state = try RelayStateStore.open(dataDirectory: store.resolvedDataDir, keys: try store.openStore())
            let formatter = ISO8601DateFormatter()
            let keys = try await state.listAPIKeys(tenant: tenant)
            if keys.isEmpty { Terminal.note("no API keys" + (tenant.map { " for tenant \($0)" } ?? "")) }
            for key in keys {
                let status = key.revokedAt.map { "revoked \(formatter.string(from: $0))" } ?? "active"
                print("\(key.id)\t\(key.tenant)\t\(formatter.string(from: key.createdAt))\t\(status)\t\(key.label)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a key at once (running relays included).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The tenant the key belongs to.") var tenant: String
        @OptionGroup var officer: OfficerOptions
        @Argument(help: "The key id (the 16 hex digits after kr_, as `list` shows).") var id: String

        func run() async throws {
            let actor = try officer.operatorActor(tenant: tenant, store: store)
            let opened = try store.openStore()
            let state = try RelayStateStore.open(dataDirectory: store.resolvedDataDir, keys: opened)
            guard try await state.revokeAPIKey(tenant: tenant, id: id) else {
                throw CLIError("no active API key \(id) for tenant \(tenant)")
            }
            try await recordAudit(store, opened, tenant: tenant, action: "api-key.revoke", detail: ["key": id], actor: actor)
            print("API key \(id) of tenant \(tenant) revoked")
        }
    }
}
