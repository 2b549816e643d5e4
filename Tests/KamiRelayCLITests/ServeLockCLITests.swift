import Foundation
import Testing

/// A running relay keeps its master key in memory: the commands that replace the master key
/// refuse while it runs, and work once it has stopped.
@Suite(.serialized) struct ServeLockCLITests {
    @Test func masterKeyReplacementWaitsForTheRelayToStop() throws {
        let cli = try StoreCLI()
        let data = cli.root + "/demo"
        let store = ["--data-dir", data, "--keys-dir", data + "/keys"]
        let demoPassphrase = ["KAMIRELAY_PASSPHRASE": "kamirelay-demo-NOT-FOR-PRODUCTION"]
        let portFile = cli.root + "/port"
        let (server, out, err) = try cli.process(["serve", "--demo", "--data-dir", data, "--port", "0", "--port-file", portFile])
        // Bounds a hang only: a loaded machine may take a while to start the relay.
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: portFile), server.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(FileManager.default.fileExists(atPath: portFile), "the demo relay started")

        let rotate = try cli.run(["keys", "rotate-master"] + store, env: demoPassphrase)
        #expect(rotate.status != 0 && rotate.stderr.contains("is running on") && rotate.stderr.contains("Stop it first"), "\(rotate.all)")
        let epoch = try cli.run(["epoch", "run", "--now"] + store, env: demoPassphrase)
        #expect(epoch.status != 0 && epoch.stderr.contains("is running on"), "\(epoch.all)")
        #expect(server.isRunning, "the relay is untouched by the refusals")

        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
        _ = out.fileHandleForReading.readDataToEndOfFile()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        let rotated = try cli.run(["keys", "rotate-master"] + store, env: demoPassphrase)
        #expect(rotated.status == 0 && rotated.stdout.contains("is now current"), "\(rotated.all)")
    }
}
