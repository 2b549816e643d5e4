import Foundation
import Sealing
import Testing
import TranscriptStore

/// Runs the built `kamirelay` binary as an operator would.
final class StoreCLI: Sendable {
    let root: String
    let env: [String: String]

    static let binary: String? = {
        // The test bundle and the executable are built into the same directory.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        if dir.pathExtension == "xctest" || dir.lastPathComponent == "MacOS" { dir = dir.deletingLastPathComponent() }
        for candidate in [dir.path + "/kamirelay", dir.deletingLastPathComponent().path + "/kamirelay",
                          FileManager.default.currentDirectoryPath + "/.build/debug/kamirelay"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return nil
    }()

    init() throws {
        root = NSTemporaryDirectory() + "kr-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        env = ["KAMIRELAY_DATA": root + "/data", "KAMIRELAY_KEYS": root + "/keys",
               "KAMIRELAY_PASSPHRASE": "correct horse battery staple", "PATH": "/usr/bin:/bin", "USER": "ops-test"]
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    struct Output { var status: Int32; var stdout: String; var stderr: String; var all: String { stdout + stderr } }

    func process(_ args: [String], env extra: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        guard let binary = StoreCLI.binary else { throw StoreCLIError("kamirelay binary not found next to the tests") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.environment = env.merging(extra) { $1 }
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    /// Runs the binary to its end, on a thread of its own (see ``offPool(_:)``).
    @discardableResult
    func run(_ args: [String], env extra: [String: String] = [:]) async throws -> Output {
        try await offPool { try self.runBlocking(args, env: extra) }
    }

    /// ``run(_:env:)``, recording a test issue (at the caller) when the command fails.
    @discardableResult
    func ok(_ args: [String], env extra: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> Output {
        let r = try await run(args, env: extra)
        #expect(r.status == 0, "\(args.joined(separator: " ")) failed: \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    /// ``run(_:env:)`` for code already on its own thread.
    func runBlocking(_ args: [String], env extra: [String: String] = [:]) throws -> Output {
        let (p, out, err) = try process(args, env: extra)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Starts `kamirelay ARGS` (a `serve`), runs `whileRunning` against it, then stops it with
    /// SIGTERM as an operator would and waits for the exit: what `whileRunning` returned and the
    /// process's output. Blocks: call it inside ``offPool(_:)``.
    func serving<T>(_ args: [String], env extra: [String: String] = [:],
                    _ whileRunning: (Process) throws -> T) throws -> (value: T, output: Output) {
        let (p, out, err) = try process(args, env: extra)
        let value: T
        do { value = try whileRunning(p) } catch {
            p.terminate()
            p.waitUntilExit()
            throw error
        }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        p.waitUntilExit()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        return (value, Output(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self)))
    }

    /// Whether `process` wrote `portFile` (it listens) before exiting; polls up to `seconds`,
    /// which only bounds a hang (a loaded machine can take long to start the relay).
    func waitForPortFile(_ portFile: String, of process: Process, seconds: Double = 180) -> Bool {
        _ = waitUntil(seconds: seconds, every: 0.1) { FileManager.default.fileExists(atPath: portFile) || !process.isRunning }
        return FileManager.default.fileExists(atPath: portFile)
    }

    func masterKey() throws -> (id: String, key: GuardedKey) {
        let file = try MasterKeyFile(contentsOf: root + "/keys/master.key")
        return (file.keyID, try file.unlock(passphrase: Array(env["KAMIRELAY_PASSPHRASE"]!.utf8)))
    }

    func openStore() throws -> SQLiteTranscriptStore {
        let (id, key) = try masterKey()
        return try SQLiteTranscriptStore(path: root + "/data/transcripts.sqlite", masterKeys: MasterKeyring(currentID: id, key: key))
    }
}

struct StoreCLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

@Suite(.serialized) struct StoreCLITests {
    @Test func binaryIsBuilt() {
        #expect(StoreCLI.binary != nil, "the kamirelay executable must be built next to the tests")
    }

    @Test func operatorWorkflowAndNoKeyMaterialInOutput() async throws {
        let cli = try StoreCLI()
        var outputs: [String] = []
        func ok(_ args: [String]) async throws -> StoreCLI.Output {
            let r = try await cli.run(args)
            outputs.append(r.all)
            #expect(r.status == 0, "\(args.joined(separator: " ")) failed: \(r.stderr)")
            return r
        }
        _ = try await ok(["keys", "init", "--kdf", "interactive"])
        let again = try await cli.run(["keys", "init", "--kdf", "interactive"])
        outputs.append(again.all)
        #expect(again.status != 0 && again.stderr.contains("refusing to overwrite"))
        let (firstID, firstMaster) = try cli.masterKey()

        _ = try await ok(["tenants", "add", "shop1"])
        let log = cli.root + "/chat.jsonl"
        try """
        {"session":"s-1","time":"2024-05-01T10:00:00Z","role":"customer","text":"我的手机13812345678，卡密 ABCD-EFGH-JKLM-NPQR 无效","email":"alice@example.com"}
        {"session":"s-1","time":"2024-05-01T10:00:04Z","role":"bot","text":"已收到"}
        {"session":"s-2","time":"2024-05-01T11:00:00Z","role":"customer","text":"email me: alice@example.com","phone":"13812345678","email":"Alice@example.com"}
        this line is broken
        """.write(toFile: log, atomically: true, encoding: .utf8)
        let imported = try await cli.run(["import", "--tenant", "shop1", log])
        outputs.append(imported.all)
        #expect(imported.status == 2)  // bad lines are reported, the rest imports
        #expect(imported.stderr.contains("chat.jsonl:4: not a JSON object"))
        #expect(imported.stdout.contains("imported 3 message(s)"))
        let reimport = try await cli.run(["import", "--tenant", "shop1", log])
        #expect(reimport.stdout.contains("imported 0 message(s)") && reimport.stdout.contains("3 already imported"))

        let show = try await ok(["transcripts", "show", "--tenant", "shop1", "--session", "s-1"])
        #expect(show.stdout.contains("customer: 我的手机[PHONE]，卡密 [CARD_KEY] 无效"))
        let bySubject = try await ok(["transcripts", "show", "--tenant", "shop1", "--subject", "phone:+86 138 1234 5678", "--operator", "auditor"])
        #expect(bySubject.stdout.contains("== session s-1") && bySubject.stdout.contains("== session s-2"))
        #expect(!bySubject.stdout.contains("13812345678") && !bySubject.stdout.contains("alice@example.com"))

        _ = try await ok(["keys", "rotate", "--tenant", "shop1"])
        let refused = try await cli.run(["keys", "trim", "--tenant", "shop1", "--below", "2"])
        #expect(refused.status != 0 && refused.stderr.contains("still depend"))
        _ = try await ok(["keys", "rewrap", "--tenant", "shop1"])
        _ = try await ok(["keys", "trim", "--tenant", "shop1", "--below", "2"])
        let status = try await ok(["keys", "status"])
        #expect(status.stdout.contains("tenant shop1: current v2, decrypts from v2"))
        #expect(status.stdout.contains("v2") && !status.stdout.contains("  v1 "))
        _ = try await ok(["keys", "rotate-master"])
        let (secondID, secondMaster) = try cli.masterKey()
        #expect(firstID != secondID)
        let after = try await ok(["transcripts", "show", "--tenant", "shop1", "--session", "s-2"])
        #expect(after.stdout.contains("customer: email me: [EMAIL]"))

        let wrong = try await cli.run(["keys", "status"], env: ["KAMIRELAY_PASSPHRASE": "not the passphrase"])
        outputs.append(wrong.all)
        #expect(wrong.status != 0 && wrong.stderr.contains("wrong passphrase"))
        let noPass = try await cli.run(["keys", "status"], env: ["KAMIRELAY_PASSPHRASE": ""])
        #expect(noPass.status != 0 && noPass.stderr.contains("no passphrase"))
        let passFile = cli.root + "/pass.txt"
        try "correct horse battery staple\n".write(toFile: passFile, atomically: true, encoding: .utf8)
        let viaFile = try await cli.run(["keys", "status", "--passphrase-file", passFile], env: ["KAMIRELAY_PASSPHRASE": ""])
        #expect(viaFile.status == 0)

        let audit = try await ok(["transcripts", "access-log"])
        let auditLines = audit.stdout.split(separator: "\n")
        #expect(auditLines.count == 3)
        #expect(auditLines[1].contains("auditor") && auditLines[1].contains("subject:phone:"))
        #expect(!audit.stdout.contains("13812345678") && !audit.stdout.contains("8613812345678"))

        // No key material anywhere in what the StoreCLI printed.
        let store = try cli.openStore()
        var secrets: [[UInt8]] = [firstMaster.withUnsafeBytes { Array($0) }, secondMaster.withUnsafeBytes { Array($0) }]
        for p in KeyPurpose.allCases { secrets.append(try await store.purposeKey(tenant: "shop1", p).withUnsafeBytes { Array($0) }) }
        let printed = outputs.joined(separator: "\n").lowercased()
        for s in secrets {
            #expect(!printed.contains(hexString(s)))
            #expect(!printed.contains(Data(s).base64EncodedString().lowercased()))
            #expect(!printed.contains(hexString(Array(s.prefix(8)))))
        }
        #expect(!printed.contains("correct horse"))
    }

    @Test func operatorRotatesWhileAServerProcessWrites() async throws {
        // This process plays the relay (its own store handle, key cache and writes); the CLI
        // rotates, re-wraps and trims from another process at the same time.
        let cli = try StoreCLI()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "shop1"]).status == 0)
        let server = try cli.openStore()
        for s in 0..<50 {
            try await server.openSession(tenant: "shop1", session: "early\(s)", channel: "web", identifiers: [], at: Date())
            _ = try await server.append([PendingMessage(tenant: "shop1", session: "early\(s)", role: .customer, text: "early \(s)")])
        }
        let stop = StopFlag()
        let writer = Task {
            var written = 0
            while !stop.isSet || written < 200 {
                let session = "live\(written % 40)"
                try await server.openSession(tenant: "shop1", session: session, channel: "web", identifiers: [], at: Date())
                _ = try await server.append([PendingMessage(tenant: "shop1", session: session, role: .customer, text: "live \(written)"),
                                             PendingMessage(tenant: "shop1", session: "early\(written % 50)", role: .agent, text: "reply \(written)")])
                written += 1
            }
            return written
        }
        for args in [["keys", "rotate", "--tenant", "shop1"], ["keys", "rewrap", "--tenant", "shop1", "--batch-size", "7"],
                     ["keys", "rotate", "--tenant", "shop1"], ["keys", "rewrap", "--tenant", "shop1", "--batch-size", "7"]] {
            let r = try await cli.run(args)
            #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.stderr)")
        }
        stop.set()  // not Task.cancel(): GRDB's async calls rightly stop on cancellation
        let written = try await writer.value
        // Subject keys the server created under v2 after the last rewrap began are moved too.
        #expect(try await cli.run(["keys", "rewrap", "--tenant", "shop1"]).status == 0)
        let trim = try await cli.run(["keys", "trim", "--tenant", "shop1", "--below", "3"])
        #expect(trim.status == 0, "\(trim.stderr)")

        let fresh = try cli.openStore()
        var live = Set<String>(), replies = 0
        for s in 0..<40 { for m in try await fresh.transcript(tenant: "shop1", session: "live\(s)") { live.insert(m.text) } }
        for s in 0..<50 {
            let texts = try await fresh.transcript(tenant: "shop1", session: "early\(s)").map(\.text)
            #expect(texts.first == "early \(s)")
            replies += texts.count - 1
        }
        #expect(live.count == written)
        #expect(replies == written)
        #expect(try await fresh.keyStatus(tenant: "shop1")[0].versions.map(\.version) == [3])
    }

    @Test func importRedactsWithEachTenantsOwnPolicy() async throws {
        let cli = try StoreCLI()
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "plain"]).status == 0)
        let demo = try await cli.run(["tenants", "add", "demo", "--policy", repo.path + "/policies/tenants/demo.yaml"])
        #expect(demo.status == 0, "\(demo.stderr)")
        let partial = cli.root + "/partial.yaml"
        try "version: 1\nextends: default\nactions:\n  phone: {action: partial, keep_last: 4}\n".write(toFile: partial, atomically: true, encoding: .utf8)
        #expect(try await cli.run(["tenants", "add", "partial", "--policy", partial]).status == 0)
        let broken = cli.root + "/broken.yaml"
        try "version: 1\nactions: {phone: shout}\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try await cli.run(["tenants", "add", "other", "--policy", broken])
        #expect(refused.status != 0 && refused.stderr.contains("broken.yaml"))
        #expect(!(try await cli.run(["tenants", "list"]).stdout.contains("other")))

        let log = cli.root + "/chat.jsonl"
        try #"{"session":"s-1","time":1714557600,"role":"customer","text":"电话13812345678，我买的 GC-AB12-CD34-EF56 不能用"}"#
            .write(toFile: log, atomically: true, encoding: .utf8)
        var shown: [String: String] = [:]
        for tenant in ["plain", "demo", "partial"] {
            #expect(try await cli.run(["import", "--tenant", tenant, log]).status == 0)
            shown[tenant] = try await cli.run(["transcripts", "show", "--tenant", tenant, "--session", "s-1"]).stdout
        }
        for out in shown.values {
            #expect(!out.contains("13812345678") && !out.contains("AB12-CD34-EF56"))
        }
        #expect(shown["plain"]!.contains("电话[PHONE]"))
        #expect(shown["partial"]!.contains("电话[PHONE:…"))  // partial: the last digits stay
        #expect(shown["demo"]!.contains("我买的 [CARD_KEY] 不能用"))  // the shop's declared gift-card format
    }

    @Test func interruptedMasterRotationIsFinishedByRunningItAgain() async throws {
        let cli = try StoreCLI()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "shop1"]).status == 0)
        let log = cli.root + "/chat.jsonl"
        try #"{"session":"s-1","time":1714557600,"role":"customer","text":"hello"}"#.write(toFile: log, atomically: true, encoding: .utf8)
        #expect(try await cli.run(["import", "--tenant", "shop1", log]).status == 0)
        // A rotation that died right after writing master.key.next.
        let next = GuardedKey(randomCount: 32)
        let nextID = try MasterKeyFile.create(at: cli.root + "/keys/master.key.next", masterKey: next,
                                              passphrase: Array(cli.env["KAMIRELAY_PASSPHRASE"]!.utf8), parameters: .interactive)
        let status = try await cli.run(["keys", "status"])
        #expect(status.status == 0 && status.stderr.contains("interrupted `kamirelay keys rotate-master`"))
        let resumed = try await cli.run(["keys", "rotate-master"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("master key \(nextID) is now current"))
        #expect(!FileManager.default.fileExists(atPath: cli.root + "/keys/master.key.next"))
        #expect(try cli.masterKey().id == nextID)
        #expect(try cli.masterKey().key.constantTimeEquals(next))
        let show = try await cli.run(["transcripts", "show", "--tenant", "shop1", "--session", "s-1"])
        #expect(show.status == 0 && show.stdout.contains("customer: hello"))
    }

    @Test func killedImportLosesNoAcknowledgedMessageAndWritesNothingHalfway() async throws {
        let cli = try StoreCLI()
        #expect(try await cli.run(["keys", "init", "--kdf", "interactive"]).status == 0)
        #expect(try await cli.run(["tenants", "add", "shop1"]).status == 0)
        let lines = 8_000, batch = 50, sessions = 40
        var text = ""
        for i in 1...lines {
            text += #"{"session":"s\#(i % sessions)","time":\#(1_714_557_600 + i),"role":"customer","text":"line \#(i) 手机13812345678"}"# + "\n"
        }
        let log = cli.root + "/big.jsonl"
        try text.write(toFile: log, atomically: true, encoding: .utf8)

        let (acknowledged, killed) = try await offPool { () -> (Int, Bool) in
            let (p, out, _) = try cli.process(["import", "--tenant", "shop1", "--batch-size", "\(batch)", "--verbose", log])
            var acknowledged = 0, acks = 0, buffer = Data()
            let reader = out.fileHandleForReading
            while acks < 5 {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let nl = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[..<nl], as: UTF8.self)
                    buffer.removeSubrange(...nl)
                    if line.hasPrefix("committed through line "), let n = Int(line.dropFirst("committed through line ".count)) {
                        acknowledged = max(acknowledged, n)
                        acks += 1
                    }
                }
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return (acknowledged, p.terminationReason == .uncaughtSignal)
        }
        #expect(killed, "the import finished before it could be killed")
        #expect(acknowledged >= batch)

        // Reopen: every acknowledged line is there, and only whole batches.
        let store = try cli.openStore()
        var found: [Int] = []
        for s in 0..<sessions {
            for m in try await store.transcript(tenant: "shop1", session: "s\(s)") {
                #expect(m.text.hasSuffix(" 手机[PHONE]"))
                found.append(Int(m.text.split(separator: " ")[1])!)
            }
        }
        found.sort()
        #expect(found.count >= acknowledged)
        // Contiguous from line 1: no acknowledged batch missing, no gap.
        #expect(found == (found.isEmpty ? [] : Array(1...found.count)))
        #expect(found.count % batch == 0, "a batch was half-written")

        // Running it again completes the import without duplicates.
        let rerun = try await cli.run(["import", "--tenant", "shop1", "--batch-size", "500", log])
        #expect(rerun.status == 0)
        #expect(rerun.stdout.contains("imported \(lines - found.count) message(s)"))
        var total = 0
        for s in 0..<sessions { total += try await store.transcript(tenant: "shop1", session: "s\(s)").count }
        #expect(total == lines)
    }
}

/// A flag one task sets and another polls.
final class StopFlag: @unchecked Sendable {
    // @unchecked: `value` is only accessed under `lock`.
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
