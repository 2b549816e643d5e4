import Foundation
import Testing

/// Unattended servers: the master key handed over as a file (or /dev/fd/N) instead of a passphrase.
@Suite(.serialized) struct MasterKeyFileCLITests {
    @Test func exportedMasterKeyOpensTheStoreWithoutAPassphrase() async throws {
        let cli = try StoreCLI()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "shop1"]).status == 0)
        let exported = cli.root + "/master.export"
        let export = try await cli.run(["keys", "export-master", "--out", exported])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stderr.contains("in the clear"))
        let mode = (try FileManager.default.attributesOfItem(atPath: exported)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        // Refuses to overwrite.
        #expect(try await cli.run(["keys", "export-master", "--out", exported]).status != 0)

        // No passphrase anywhere: the key file alone opens the store, by flag or by environment.
        let byFlag = try await cli.run(["keys", "status", "--master-key-file", exported], env: ["KAMIRELAY_PASSPHRASE": ""])
        #expect(byFlag.status == 0, "\(byFlag.stderr)")
        #expect(byFlag.stdout.contains("shop1"))
        let byEnv = try await cli.run(["keys", "status"], env: ["KAMIRELAY_PASSPHRASE": "", "KAMIRELAY_MASTER_KEY_FILE": exported])
        #expect(byEnv.status == 0, "\(byEnv.stderr)")
        // Nothing of the key is printed.
        let keyText = try String(contentsOfFile: exported, encoding: .utf8).split(separator: " ").last!
        #expect(!(byFlag.all + byEnv.all + export.all).contains(keyText.trimmingCharacters(in: .whitespacesAndNewlines)))

        // A damaged file or another installation's key is a clear error.
        let garbage = cli.root + "/garbage"
        try "kamirelay-master-key v1 abc not-base64\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let bad = try await cli.run(["keys", "status", "--master-key-file", garbage], env: ["KAMIRELAY_PASSPHRASE": ""])
        #expect(bad.status != 0 && bad.stderr.contains("not a master key file"))
        let other = cli.root + "/other"
        try "kamirelay-master-key v1 someoneelse \(Data(repeating: 7, count: 32).base64EncodedString())\n"
            .write(toFile: other, atomically: true, encoding: .utf8)
        let mismatch = try await cli.run(["keys", "status", "--master-key-file", other], env: ["KAMIRELAY_PASSPHRASE": ""])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("holds master key someoneelse"))
    }
}
