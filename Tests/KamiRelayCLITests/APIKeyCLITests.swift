import Foundation
import Testing

/// `kamirelay tenants api-key create|list|revoke`, run as an operator would.
@Suite(.serialized) struct APIKeyCLITests {
    @Test func createListRevokeAndTheKeyIsNeverStored() async throws {
        let cli = try StoreCLI()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "shop1"]).status == 0)
        let created = try await cli.run(["tenants", "api-key", "create", "--tenant", "shop1", "--label", "crm"])
        #expect(created.status == 0, "\(created.stderr)")
        let key = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.range(of: "^kr_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$", options: .regularExpression) != nil, "one key on stdout")
        let id = String(key.dropFirst(3).prefix(16))
        #expect(created.stderr.contains("shown only now"))

        let listed = try await cli.run(["tenants", "api-key", "list", "--tenant", "shop1"])
        #expect(listed.status == 0 && listed.stdout.contains(id) && listed.stdout.contains("active") && listed.stdout.contains("crm"))
        #expect(!listed.all.contains(String(key.suffix(43))), "list never shows the secret")

        let revoked = try await cli.run(["tenants", "api-key", "revoke", "--tenant", "shop1", id])
        #expect(revoked.status == 0 && revoked.stdout.contains("revoked"))
        #expect(try await cli.run(["tenants", "api-key", "list"]).stdout.contains("revoked"))
        let again = try await cli.run(["tenants", "api-key", "revoke", "--tenant", "shop1", id])
        #expect(again.status != 0 && again.stderr.contains("no active API key \(id) for tenant shop1"))
        let unknown = try await cli.run(["tenants", "api-key", "create", "--tenant", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown tenant 'nope'"))

        let database = try Data(contentsOf: URL(fileURLWithPath: cli.root + "/data/relay.sqlite"))
            + ((try? Data(contentsOf: URL(fileURLWithPath: cli.root + "/data/relay.sqlite-wal"))) ?? Data())
        #expect(database.range(of: Data(key.suffix(43).utf8)) == nil, "only a keyed hash of the key is stored")
        #expect(database.range(of: Data(id.utf8)) != nil, "the id is stored, for list and revoke")
    }

    /// A key the audit log could not record is never shown and does not stay active.
    @Test func aKeyTheAuditLogCannotRecordIsRevoked() async throws {
        let cli = try StoreCLI()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "shop1"]).status == 0)
        // The audit log cannot be opened: a directory stands where its database file goes.
        let ledger = cli.root + "/data/compliance.sqlite"
        try? FileManager.default.removeItem(atPath: ledger)
        try FileManager.default.createDirectory(atPath: ledger, withIntermediateDirectories: false)
        let created = try await cli.run(["tenants", "api-key", "create", "--tenant", "shop1", "--label", "crm"])
        #expect(created.status != 0)
        #expect(created.stderr.contains("the audit log could not record the new key, so it was revoked"), "\(created.stderr)")
        #expect(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no key is printed")
        try FileManager.default.removeItem(atPath: ledger)
        let listed = try await cli.run(["tenants", "api-key", "list", "--tenant", "shop1"])
        let rows = listed.stdout.split(separator: "\n")
        #expect(rows.count == 1 && rows[0].contains("crm") && rows[0].contains("revoked"), "\(listed.all)")
        #expect(!listed.stdout.contains("active"))
    }
}
