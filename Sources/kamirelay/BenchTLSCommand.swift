import ArgumentParser
import COpenSSL
import Foundation
import NIOConcurrencyHelpers
import TLS
import TLSProbe

/// `kamirelay bench tls`: full TLS 1.3 handshakes/s (ECDSA P-256) and bulk MB/s through the
/// handler, against `openssl s_server` (the same libssl, no Swift) on the same machine, in one run.
struct BenchTLSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "TLS handshakes/s and bulk MB/s through the handler vs openssl s_server.",
        discussion: """
        Starts each server as its own process on 127.0.0.1 — `kamirelay tls-selftest-server` with 1 \
        and with 2 event loops, and `openssl s_server` — and drives it with the same blocking \
        OpenSSL client threads (TLS 1.3, X25519, no resumption, no certificate verification). \
        Handshake: connect, handshake, close_notify, wait for the server's close. Bulk: one \
        connection uploads --megabytes in 64 KiB writes; the server decrypts and discards. The \
        servers are measured in turn for --rounds rounds and the best round of each is reported. \
        Client and server share this machine's cores, so besides wall-clock rates the benchmark \
        reports the server process's own CPU time (/proc/PID/stat) per handshake and per MB: the \
        fairer comparison on a small machine. Finally it holds --idle-connections connections open \
        after a 64 KiB burst each and reports the server's memory growth per idle connection. Also runs `openssl speed` for ECDSA P-256 signing and \
        AES-256-GCM. Use a release build.
        """
    )

    @Option(help: "Seconds per handshake measurement.") var seconds: Double = 3
    @Option(help: "Client threads for the handshake measurement.") var clients: Int = 2
    @Option(help: "Megabytes uploaded per bulk measurement.") var megabytes: Int = 1024
    @Option(help: "Idle connections for the memory measurement.") var idleConnections: Int = 500
    @Option(help: "Rounds; each figure is the best round (the servers are measured in turn each round).") var rounds: Int = 3

    struct Figures {
        var name: String
        var handshakesPerSecond = 0.0
        var handshakesPerServerCPUSecond = 0.0
        var megabytesPerSecond = 0.0
        var megabytesPerServerCPUSecond = 0.0
    }

    func run() throws {
        #if DEBUG
        print("warning: this is a debug build; figures are only meaningful from `swift build -c release`.")
        #endif
        let work = NSTemporaryDirectory() + "kamirelay-bench-tls-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let certificate = try DevelopmentCertificate(hostnames: ["localhost", "127.0.0.1"])
        try DevelopmentCertificate.writeChain([certificate], to: work + "/cert.pem")
        try certificate.writePrivateKey(to: work + "/key.pem")
        let client = try TLSProbeContext(versions: .tls1_3 ... .tls1_3)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

        print("TLS benchmark: ECDSA P-256 certificate, TLS 1.3, \(clients) client thread(s), \(Int(seconds)) s per handshake run, \(megabytes) MB per bulk run")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(String(cString: OpenSSL_version(OPENSSL_VERSION)))")
        // All three servers run for the whole benchmark; rounds interleave them so that load from
        // elsewhere on the machine spreads over all three, and each figure is the best of the rounds.
        var servers: [(name: String, process: Process, port: Int)] = []
        defer { servers.forEach { stop($0.process) } }
        for threads in [1, 2] {
            let port = try freePort()
            let process = try startProcess(executable, [
                "tls-selftest-server", "--dir", work + "/kr\(threads)", "--cert", work + "/cert.pem", "--key", work + "/key.pem",
                "--port", "\(port)", "--threads", "\(threads)", "--app", "discard", "--max-seconds", "3600",
            ])
            servers.append(("kamirelay TLS handler, \(threads) event loop\(threads == 1 ? "" : "s")", process, port))
        }
        let port = try freePort()
        let reference = try startProcess("/usr/bin/openssl", [
            "s_server", "-accept", "\(port)", "-cert", work + "/cert.pem", "-key", work + "/key.pem", "-quiet",
        ], keepStdinOpen: true)
        servers.append(("openssl s_server (1 thread)", reference, port))
        for server in servers { try waitForListener(port: server.port) }

        var results = servers.map { Figures(name: $0.name) }
        for round in 1...rounds {
            print("round \(round) of \(rounds)")
            for (i, server) in servers.enumerated() {
                let figures = try measure(name: server.name, server: server.process, port: server.port, client: client)
                results[i].handshakesPerSecond = max(results[i].handshakesPerSecond, figures.handshakesPerSecond)
                results[i].handshakesPerServerCPUSecond = max(results[i].handshakesPerServerCPUSecond, figures.handshakesPerServerCPUSecond)
                results[i].megabytesPerSecond = max(results[i].megabytesPerSecond, figures.megabytesPerSecond)
                results[i].megabytesPerServerCPUSecond = max(results[i].megabytesPerServerCPUSecond, figures.megabytesPerServerCPUSecond)
            }
        }

        print("")
        print(pad("server", 42) + pad("hs/s", 10) + pad("hs/CPU-s", 11) + pad("MB/s", 9) + "MB/CPU-s")
        for r in results {
            print(pad(r.name, 42) + pad(String(format: "%.0f", r.handshakesPerSecond), 10)
                  + pad(String(format: "%.0f", r.handshakesPerServerCPUSecond), 11)
                  + pad(String(format: "%.0f", r.megabytesPerSecond), 9) + String(format: "%.0f", r.megabytesPerServerCPUSecond))
        }
        let best = results[results.count - 1]
        print("")
        print("best of \(rounds) rounds each:")
        for r in results.dropLast() {
            print("\(r.name) vs openssl s_server:")
            print(String(format: "  handshakes  %.0f%% wall-clock, %.0f%% per server CPU-second (target ≥ 70%%)",
                         100 * r.handshakesPerSecond / best.handshakesPerSecond,
                         100 * r.handshakesPerServerCPUSecond / best.handshakesPerServerCPUSecond))
            print(String(format: "  bulk        %.0f%% wall-clock, %.0f%% per server CPU-second (target ≥ 80%%)",
                         100 * r.megabytesPerSecond / best.megabytesPerSecond,
                         100 * r.megabytesPerServerCPUSecond / best.megabytesPerServerCPUSecond))
        }
        print("")
        let idle = try idleConnectionMemory(server: servers[0].process, port: servers[0].port, client: client, count: idleConnections)
        print(String(format: "idle connections: %.1f KiB of server memory (RSS) each, after a 64 KiB burst each (%d connections)",
                     idle, idleConnections))
        print("")
        print("openssl speed (same libssl, one core, no TLS framing):")
        for line in opensslSpeed(["-seconds", "2", "ecdsap256"]).filter({ $0.contains("256 bits ecdsa") }) {
            print("  " + line.trimmingCharacters(in: .whitespaces))
        }
        for line in opensslSpeed(["-seconds", "2", "-bytes", "16384", "-evp", "aes-256-gcm"]).filter({ $0.hasPrefix("AES-256-GCM") }) {
            print("  AES-256-GCM, 16 KiB blocks (kB/s): " + line.dropFirst("AES-256-GCM".count).trimmingCharacters(in: .whitespaces))
        }
        print("")
        print("reproduce: swift build -c release && $(swift build -c release --show-bin-path)/kamirelay bench tls "
              + "--seconds \(Int(seconds)) --clients \(clients) --megabytes \(megabytes) --rounds \(rounds) --idle-connections \(idleConnections)")
    }

    // MARK: Measurements

    private func measure(name: String, server: Process, port: Int, client: TLSProbeContext) throws -> Figures {
        print("- \(name): ", terminator: "")
        fflush(nil)
        var figures = Figures(name: name)

        // Warm-up, then handshakes.
        _ = try handshakes(port: port, client: client, threads: clients, seconds: 0.5)
        let cpu0 = cpuSeconds(server.processIdentifier)
        let start = Date()
        let count = try handshakes(port: port, client: client, threads: clients, seconds: seconds)
        let elapsed = Date().timeIntervalSince(start)
        let cpu = cpuSeconds(server.processIdentifier) - cpu0
        figures.handshakesPerSecond = Double(count) / elapsed
        figures.handshakesPerServerCPUSecond = cpu > 0 ? Double(count) / cpu : 0
        print(String(format: "%d handshakes in %.2f s (server CPU %.2f s); ", count, elapsed, cpu), terminator: "")
        fflush(nil)

        // Bulk upload.
        let bulkCPU0 = cpuSeconds(server.processIdentifier)
        let bulkStart = Date()
        try upload(port: port, client: client, megabytes: megabytes)
        let bulkElapsed = Date().timeIntervalSince(bulkStart)
        let bulkCPU = cpuSeconds(server.processIdentifier) - bulkCPU0
        figures.megabytesPerSecond = Double(megabytes) / bulkElapsed
        figures.megabytesPerServerCPUSecond = bulkCPU > 0 ? Double(megabytes) / bulkCPU : 0
        print(String(format: "%d MB in %.2f s (server CPU %.2f s)", megabytes, bulkElapsed, bulkCPU))
        fflush(nil)
        return figures
    }

    /// Opens `count` connections, sends 64 KiB on each (so record buffers grow), leaves them idle,
    /// and returns the server's resident-memory growth per connection in KiB.
    private func idleConnectionMemory(server: Process, port: Int, client: TLSProbeContext, count: Int) throws -> Double {
        let before = residentKiB(server.processIdentifier)
        var connections: [BlockingTLSClient] = []
        let burst = [UInt8](repeating: 0x5a, count: 65_536)
        for _ in 0..<count {
            let connection = try BlockingTLSClient(port: port, context: client)
            try connection.write(burst)
            connections.append(connection)
        }
        Thread.sleep(forTimeInterval: 0.5)  // let the server drain every burst
        let after = residentKiB(server.processIdentifier)
        connections.forEach { $0.close() }
        return Double(after - before) / Double(count)
    }

    private func residentKiB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }

    private func handshakes(port: Int, client: TLSProbeContext, threads: Int, seconds: Double) throws -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        let counts = LockedCounter()
        let group = DispatchGroup()
        for _ in 0..<max(1, threads) {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var n = 0
                while Date() < deadline {
                    do {
                        let connection = try BlockingTLSClient(port: port, context: client)
                        connection.sendCloseNotify()
                        while (try? connection.read()) != nil {}  // tickets, then the server's close
                        connection.close()
                        n += 1
                    } catch {
                        counts.recordFailure()
                    }
                }
                counts.add(n)
            }
        }
        group.wait()
        if counts.failures > 0 { print("(\(counts.failures) failed connections) ", terminator: "") }
        return counts.value
    }

    private func upload(port: Int, client: TLSProbeContext, megabytes: Int) throws {
        let connection = try BlockingTLSClient(port: port, context: client, timeoutSeconds: 60)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        for i in chunk.indices { chunk[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 17) }
        try chunk.withUnsafeBytes { bytes in
            for _ in 0..<(megabytes * 16) { try connection.write(bytes) }
        }
        connection.sendCloseNotify()
        while (try? connection.read()) != nil {}  // the server has read everything once it closes
        connection.close()
    }

    // MARK: Processes

    private func startProcess(_ path: String, _ arguments: [String], keepStdinOpen: Bool = false) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = keepStdinOpen ? Pipe() : FileHandle.nullDevice  // s_server quits on stdin EOF
        try withUnblockedSignals { try process.run() }
        return process
    }

    private func stop(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Runs `body` (a spawn) with no signals blocked on this thread. Dispatch worker threads block
    /// most signals and a child inherits the spawning thread's mask: `openssl speed` would then
    /// never see its SIGALRM, and servers would ignore SIGTERM.
    private func withUnblockedSignals<R>(_ body: () throws -> R) rethrows -> R {
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try body()
    }

    private func waitForListener(port: Int) throws {
        for _ in 0..<200 {
            if let probe = try? BlockingTLSClient(port: port, context: TLSProbeContext()) {
                probe.close()
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw BenchError(description: "server on port \(port) did not start")
    }

    private func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw BenchError(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// User + system CPU seconds of a process, all threads, from /proc/PID/stat.
    private func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime field 14, stime field 15 (1-based).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func opensslSpeed(_ arguments: [String]) -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["speed"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        // `openssl speed` times its runs with SIGALRM: it must not inherit a blocked mask.
        guard (try? withUnblockedSignals { try process.run() }) != nil else { return ["(openssl speed failed to start)"] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

/// Counters shared by client threads.
final class LockedCounter: Sendable {
    private let state = NIOLockedValueBox((total: 0, failed: 0))
    func add(_ n: Int) { state.withLockedValue { $0.total += n } }
    func recordFailure() { state.withLockedValue { $0.failed += 1 } }
    var value: Int { state.withLockedValue { $0.total } }
    var failures: Int { state.withLockedValue { $0.failed } }
}
