import Foundation
import Relay
import Testing
import TLSProbe
#if canImport(Glibc)
import Glibc
#endif

/// Connections that never finish the TLS handshake — a load balancer's TCP check, a port scan,
/// an old client with no shared cipher — are routine for a public server: they must not fill
/// the log with error-level lines. A failed handshake is noted at info level with OpenSSL's reason.
@Suite struct HandshakeNoiseTests {
    @Test func connectionsThatNeverCompleteTheHandshakeAreNotErrors() async throws {
        let relay = try await RelayHarness.start()
        let port = relay.port, root = relay.demo.rootCertificatePath
        try await offPool {
            for _ in 0..<3 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = ipv4Address(inet_addr("127.0.0.1"), port: port)
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
                }
                #expect(connected)
                close(fd)
            }
            // TLS 1.2 with only a cipher the relay does not offer: the handshake fails.
            let old = try TLSProbeContext(versions: .tls1_2 ... .tls1_2, tls12Ciphers: "AES128-SHA256", trustedCertificatesFile: root)
            #expect(throws: (any Error).self) {
                _ = try BlockingTLSClient(port: port, context: old, serverName: "localhost", timeoutSeconds: 10)
            }
            // The relay still serves.
            let ws = try TestWebSocket(port: port, rootCA: root)
            try ws.send(["type": "hello"])
            #expect(try ws.receive(until: "welcome").frame["session"] != nil)
            ws.close()
        }
        let logs = relay.logs
        let noted = try await eventually { logs.text.contains("tls.handshake_failed") }
        #expect(noted, "the failed handshake is noted")
        try await relay.shutdown()
        let lines = relay.logs.text.split(separator: "\n")
        #expect(lines.first { $0.hasPrefix("info tls.handshake_failed") }?.contains("cipher") == true, "\(lines.filter { $0.contains("tls.") })")
        #expect(!lines.contains { $0.hasPrefix("error ") }, "\(lines.filter { $0.hasPrefix("error ") })")
        try? FileManager.default.removeItem(atPath: (relay.directory as NSString).deletingLastPathComponent)
    }
}
