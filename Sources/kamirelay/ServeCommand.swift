import ArgumentParser
import Foundation
import Logging
import Relay

/// `kamirelay serve --demo`: the relay server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay: HTTPS + WebSocket chat, redaction first, sealed transcripts, the support bot.",
        discussion: """
        --demo needs nothing prepared. In the data directory (default ./demo-data) it creates, \
        when missing: a DEVELOPMENT master key sealed with a publicly known passphrase, a \
        development CA and a certificate for localhost/127.0.0.1, the sealed transcript store with \
        the tenant `demo`; it loads the demo shop's FAQ and 60 fake orders, prints the URL and \
        serves until SIGTERM or SIGINT (Ctrl-C). Chat over wss://HOST:PORT/chat (protocol: \
        Docs/chat-protocol.md). SIGHUP reloads the certificate files.

        On shutdown open chats finish the message they are handling, get WebSocket close 1001, \
        and the store is flushed before the process exits.

        Configuration files (--config) for real tenants are not implemented yet: only --demo runs.
        """
    )

    @Flag(help: "Run the self-contained demo shop (development keys and certificate; not for production).")
    var demo = false

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Where the demo keeps its keys, certificate and transcripts.", valueName: "dir"))
    var dataDir: String = "demo-data"

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "TCP port (0: any free port).")
    var port: Int = 8443

    @Option(name: .customLong("port-file"), help: ArgumentHelp("Write the bound port to this file once listening (for scripts).", valueName: "file"))
    var portFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "notice"

    func validate() throws {
        guard demo else {
            throw ValidationError("only `kamirelay serve --demo` is available so far; configuration files (--config) are not implemented yet")
        }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        var logger = Logger(label: "kamirelay.relay")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        let dataDirectory = (dataDir as NSString).expandingTildeInPath

        Terminal.note("""

        ************************************************************************************
        *  DEMO MODE — NOT FOR PRODUCTION.                                                 *
        *  The master key in \(dataDirectory)/keys is sealed with a PUBLIC passphrase
        *  ("\(RelayDemo.developmentPassphrase)"): anyone with this directory can read
        *  every transcript. The certificate is a self-signed development certificate.      *
        ************************************************************************************

        """)
        Terminal.note("preparing \(dataDirectory) (keys, certificate, store, demo shop)…")
        let demo = try await RelayDemo.prepare(dataDirectory: dataDirectory)
        for item in demo.created { Terminal.note("  created \(item)") }

        var configuration = RelayServerConfiguration(host: host, port: port, tls: demo.tls)
        configuration.limits = RelayLimits()
        let server = try RelayServer(configuration: configuration, tenants: TenantDirectory([demo.tenantRuntime]),
                                     store: demo.store, logger: logger)
        let reload = server.tls.reloadOnHangupSignal()
        defer { reload.cancel() }

        let host = self.host, portFile = self.portFile
        let orders = demo.orders
        let group = server.makeServiceGroup(signals: [.sigterm, .sigint]) { port in
            if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            let shownHost = host == "0.0.0.0" || host == "::" || host == "127.0.0.1" ? "localhost" : host
            var shown = Set<Int>()
            var sample: [String] = []
            for order in orders where shown.insert(order.status.rawValue).inserted {
                sample.append("  \(order.number)  status \(order.status.rawValue)  \(order.email)")
            }
            print("""
            KamiRelay demo is running.
              open in a browser:       https://\(shownHost):\(port)/   (accept the development certificate)
              chat (WebSocket, JSON):  wss://\(shownHost):\(port)/chat   — protocol: Docs/chat-protocol.md
              health:                  https://\(shownHost):\(port)/healthz
              trust this CA or accept the browser warning: \(demo.rootCertificatePath)
            Demo orders you can ask about (fake data):
            \(sample.joined(separator: "\n"))
            Read a sealed transcript (session id from the chat's welcome frame):
              KAMIRELAY_PASSPHRASE='\(RelayDemo.developmentPassphrase)' kamirelay transcripts show --data-dir \(dataDirectory) --keys-dir \(dataDirectory)/keys --tenant demo --session SESSION
            Stop with Ctrl-C.
            """)
            fflush(nil)
        }
        try await group.run()
        Terminal.note("stopped; transcripts flushed to \(dataDirectory)/transcripts.sqlite")
    }
}
