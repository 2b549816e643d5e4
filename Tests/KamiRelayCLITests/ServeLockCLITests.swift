import Foundation
import Testing

/// A running relay keeps its master key in memory: the commands that replace the master key
/// refuse while it runs, and work once it has stopped.
@Suite(.serialized) struct ServeLockCLITests {
    @Test func masterKeyReplacementWaitsForTheRelayToStop() async throws {
        let cli = try StoreCLI()
        let data = cli.root + "/demo"
        let store = ["--data-dir", data, "--keys-dir", data + "/keys"]
        let demoPassphrase = ["KAMIRELAY_PASSPHRASE": "kamirelay-demo-NOT-FOR-PRODUCTION"]
        let portFile = cli.root + "/port"
        // The live relay is driven from a thread of its own (see offPool): waiting for processes
        // on the concurrency pool would stall the other tests of this process.
        _ = try await offPool {
            try cli.serving(["serve", "--demo", "--data-dir", data, "--port", "0", "--port-file", portFile]) { server in
                #expect(cli.waitForPortFile(portFile, of: server), "the demo relay started")

                let rotate = try cli.runBlocking(["keys", "rotate-master"] + store, env: demoPassphrase)
                #expect(rotate.status != 0 && rotate.stderr.contains("is running on") && rotate.stderr.contains("Stop it first"), "\(rotate.all)")
                let epoch = try cli.runBlocking(["epoch", "run", "--now"] + store, env: demoPassphrase)
                #expect(epoch.status != 0 && epoch.stderr.contains("is running on"), "\(epoch.all)")
                #expect(server.isRunning, "the relay is untouched by the refusals")
            }
        }
        let rotated = try await cli.run(["keys", "rotate-master"] + store, env: demoPassphrase)
        #expect(rotated.status == 0 && rotated.stdout.contains("is now current"), "\(rotated.all)")
    }
}
