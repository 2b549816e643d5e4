import ArgumentParser
import COpenSSL
import Sealing

enum KamiRelayVersion {
    static let string = "0.1.0"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the KamiRelay version and the system libraries it runs on."
    )

    func run() {
        print("kamirelay \(KamiRelayVersion.string)")
        print("libsodium \(Sodium.version) (system)")
        print("\(String(cString: OpenSSL_version(OPENSSL_VERSION))) (system)")
    }
}
