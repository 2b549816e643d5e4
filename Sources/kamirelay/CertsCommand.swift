import ArgumentParser
import Foundation
import TLS

struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "TLS certificates: development certificates (production ones come from your CA).",
        subcommands: [CertsDevCommand.self]
    )
}

struct CertsDevCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Generate a self-signed ECDSA P-256 certificate for local development.",
        discussion: """
        Writes DIR/cert.pem (the certificate) and DIR/key.pem (its private key, mode 0600). The \
        certificate names every --host in subjectAltName (DNS names or IP addresses). Browsers \
        and curl will not trust it unless told to: `curl --cacert DIR/cert.pem https://localhost:PORT/`. \
        Never use it in production.
        """
    )

    @Option(name: .customLong("host"), help: "A hostname or IP address the certificate is for (repeatable).")
    var hosts: [String] = ["localhost"]

    @Option(name: .customLong("out"), help: "Directory to write cert.pem and key.pem into (created if missing).")
    var outputDirectory: String = "certs/dev"

    @Option(help: "Days the certificate stays valid.")
    var days: Int = 30

    @Flag(help: "Replace existing cert.pem/key.pem.")
    var force = false

    func validate() throws {
        guard !hosts.isEmpty else { throw ValidationError("give at least one --host") }
        guard (1...825).contains(days) else { throw ValidationError("--days must be between 1 and 825") }
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let certificatePath = outputDirectory + "/cert.pem"
        let keyPath = outputDirectory + "/key.pem"
        if !force {
            for path in [certificatePath, keyPath] where FileManager.default.fileExists(atPath: path) {
                throw CertsError(description: "\(path) already exists (use --force to replace it)")
            }
        }
        let certificate: DevelopmentCertificate
        do {
            certificate = try DevelopmentCertificate(hostnames: hosts, lifetimeSeconds: days * 86_400 + 3600)
            try certificate.writePrivateKey(to: keyPath, overwrite: force)
            try DevelopmentCertificate.writeChain([certificate], to: certificatePath, overwrite: force)
        } catch let error as CertificateGenerationError {
            throw CertsError(description: error.description)
        }
        print("""
        Wrote a self-signed ECDSA P-256 development certificate:
          certificate  \(certificatePath)
          private key  \(keyPath) (mode 0600)
          names        \(hosts.joined(separator: ", "))
          valid until  \(certificate.notAfter)
          SHA-256      \(certificate.sha256Fingerprint())
        """)
    }
}

/// A failure after the arguments were accepted: printed as `Error: …`, without the usage text.
struct CertsError: Error, CustomStringConvertible {
    let description: String
}
