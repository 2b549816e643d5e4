import Foundation
import PolicyFiles
import Redaction
import Relay
import Sealing
import Testing

/// `kamirelay tenants issued-keys`: a shop's issued card keys become digests the redactor uses.
@Suite struct IssuedKeysCLITests {
    @Test func addStoresOnlyDigestsThatMaskTheKeys() async throws {
        let cli = try StoreCLI()
        _ = try await cli.ok(["keys", "init", "--kdf", "interactive"])
        _ = try await cli.ok(["tenants", "add", "shop1"])
        let keys = cli.root + "/issued.txt"
        try "# exported 2026-11-26\nsilverfox77\n\nPANDA-MOON-2026\r\nab\nhello-kitty-zone\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let added = try await cli.ok(["tenants", "issued-keys", "add", "--tenant", "shop1", keys])
        #expect(added.stdout.contains("3 new issued key(s) of 4 read; 3 held in all; 1 skipped (fewer than 4 letters and digits)"), "\(added.stdout)")
        let again = try await cli.ok(["tenants", "issued-keys", "add", "--tenant", "shop1", keys])
        #expect(again.stdout.contains("0 new issued key(s) of 4 read; 3 held in all"))

        // A line that is not UTF-8: a clear error naming it; the keys before it are kept.
        let broken = cli.root + "/broken.txt"
        try (Data("newkey2026x\n".utf8) + Data([0x66, 0xFF, 0x0A]) + Data("other2026y\n".utf8)).write(to: URL(fileURLWithPath: broken))
        let refused = try await cli.run(["tenants", "issued-keys", "add", "--tenant", "shop1", broken])
        #expect(refused.status != 0 && refused.stderr.contains("line 2 of \(broken) is not UTF-8; the 1 new key(s) before it were added"),
                "\(refused.stderr)")
        #expect(try await cli.ok(["tenants", "issued-keys", "status", "--tenant", "shop1"]).stdout.contains("4 issued key(s)"))
        let unknown = try await cli.run(["tenants", "issued-keys", "add", "--tenant", "nope", keys])
        #expect(unknown.status != 0 && unknown.stderr.contains("no tenant nope"))
        #expect(try await cli.ok(["audit", "show", "--tenant", "shop1"]).stdout.contains("issued-keys.add"))

        // What was stored are digests under the tenant's tokenisation key: a redactor built
        // from them masks every typed form of the keys; the keys are nowhere on disk.
        let store = try cli.openStore()
        let hasher = BLAKE2bKeyedHasher(guardedKey: try await store.purposeKey(tenant: "shop1", .tokenisation))
        let state = try RelayStateStore.open(dataDirectory: cli.root + "/data", keys: store)
        let redactor = try Redactor(policy: RedactionPolicyFile.builtInDefault, tokenizer: hasher)
            .replacingIssuedKeys(IssuedKeySet(digests: try await state.issuedKeys(tenant: "shop1"), keys: [String](), hasher: hasher))
        #expect(redactor.redact("我买的是 SilverFox77 不能用").text == "我买的是 [CARD_KEY] 不能用")
        #expect(redactor.redact("这个 panda-moon-2026 是啥").text == "这个 [CARD_KEY] 是啥")
        #expect(redactor.redact("newkey2026x 呢").text == "[CARD_KEY] 呢")
        var disk = Data()
        for file in try FileManager.default.contentsOfDirectory(atPath: cli.root + "/data") {
            disk += FileManager.default.contents(atPath: cli.root + "/data/" + file) ?? Data()
        }
        for key in ["silverfox77", "SILVERFOX77", "PANDA-MOON-2026", "PANDAMOON2026", "hello-kitty-zone", "HELLOKITTYZONE"] {
            #expect(disk.range(of: Data(key.utf8)) == nil, "\(key)")
        }

        // Imported chat logs are redacted with the same set.
        let log = cli.root + "/chat.jsonl"
        let recent = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3_600))
        try """
        {"session":"s-1","time":"\(recent)","role":"customer","text":"我买的是 SilverFox77 不能用"}
        """.write(toFile: log, atomically: true, encoding: .utf8)
        _ = try await cli.ok(["import", "--tenant", "shop1", log])
        let shown = try await cli.ok(["transcripts", "show", "--tenant", "shop1", "--session", "s-1"]).stdout
        #expect(shown.contains("我买的是 [CARD_KEY] 不能用") && !shown.contains("SilverFox77"), "\(shown)")

        let cleared = try await cli.ok(["tenants", "issued-keys", "clear", "--tenant", "shop1"])
        #expect(cleared.stdout.contains("4 issued-key digest(s) removed"))
    }
}
