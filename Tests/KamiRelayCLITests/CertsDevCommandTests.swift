import Foundation
import Testing
import TLS
@testable import kamirelay

@Suite("kamirelay certs dev")
struct CertsDevCommandTests {
    @Test("writes a loadable certificate and a 0600 key, and refuses to overwrite without --force")
    func writesCertificateAndKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("certs-dev-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }

        try CertsDevCommand.parse(["--host", "localhost", "--host", "127.0.0.1", "--out", dir]).run()
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/key.pem")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let pem = try String(contentsOfFile: dir + "/cert.pem", encoding: .utf8)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        // The pair loads into a server context (key matches, P-256, in date).
        _ = try TLSServerContext(configuration: TLSServerConfiguration(
            defaultCertificate: TLSCertificateFiles(certificateChainPath: dir + "/cert.pem", privateKeyPath: dir + "/key.pem")))

        #expect(throws: CertsError.self) {
            try CertsDevCommand.parse(["--out", dir]).run()
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/key.pem"))
        try CertsDevCommand.parse(["--out", dir, "--force"]).run()
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/key.pem")) != before)
    }

    @Test("rejects invalid hostnames with a clear error")
    func invalidHostname() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("certs-dev-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect {
            try CertsDevCommand.parse(["--host", "not a host", "--out", dir]).run()
        } throws: { error in
            String(describing: error).contains("invalid hostname")
        }
    }
}
