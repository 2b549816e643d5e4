import ArgumentParser
import Foundation
import Logging
import Relay
import TLSProbe

/// `kamirelay bench relay`: whole-pipeline chat throughput and latency over real TLS WebSockets.
struct BenchRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Chat round trips through the whole relay (TLS, WebSocket, redaction, sealed store, bot).",
        discussion: """
        Starts the demo relay in this process (a temporary data directory, rate limits lifted) and \
        runs --clients blocking OpenSSL WebSocket clients on their own threads. Each sends \
        --messages messages (a mix of order questions, FAQ questions and messages with a phone \
        number and a card key) and waits for the bot's reply before the next. A round trip is \
        from sending a message to receiving the bot's reply: redaction, two durable sealed \
        writes (customer + bot; one message in five names a phone number and also links the \
        session to that subject: a third write) and the bot in between. Clients and server share the machine's \
        cores. Use a release build.
        """
    )

    @Option(help: "Concurrent chats.") var clients = 4
    @Option(help: "Messages per chat.") var messages = 200

    func run() async throws {
        let directory = NSTemporaryDirectory() + "kamirelay-bench-relay-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let demo = try await RelayDemo.prepare(dataDirectory: directory, kdf: .interactive)
        var configuration = RelayServerConfiguration(host: "127.0.0.1", port: 0, tls: demo.tls)
        configuration.limits.messageBurst = 1_000_000
        configuration.limits.messagesPerSecond = 1_000_000
        configuration.limits.maxSessionsPerIP = 10_000
        configuration.limits.maxConnectionsPerIP = 10_000
        var logger = Logger(label: "kamirelay.bench")
        logger.logLevel = .error
        let server = try RelayServer(configuration: configuration, tenants: TenantDirectory([demo.tenantRuntime]),
                                     store: demo.store, state: demo.state, logger: logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let group = server.makeServiceGroup(signals: []) { continuation.yield($0) }
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw BenchError(description: "the relay did not start") }

        let order = demo.orders.first { $0.status == .completed }?.number ?? "0OQDI7JTFU2CLARM"
        let texts = ["我的订单\(order)发货了吗？", "怎么退款？", "卡密QWER-TYUI-PASD-FGHJ用不了，我的手机13912345678",
                     "How do I pay with Alipay?", "谢谢"]
        let root = demo.rootCertificatePath, count = messages, clientCount = clients
        print("bench relay: \(clientCount) chats × \(count) messages over TLS WebSockets on 127.0.0.1 (clients in-process, own threads)")
        let started = Date()
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { tasks in
            for _ in 0..<clientCount {
                tasks.addTask {
                    try await onThread {
                        let ws = try BenchWebSocket(port: port, rootCA: root)
                        defer { ws.close() }
                        try ws.sendText(#"{"type":"hello","language":"zh"}"#)
                        _ = try ws.nextText(); _ = try ws.nextText()  // welcome, greeting
                        var result: [Double] = []
                        result.reserveCapacity(count)
                        for i in 0..<count {
                            let text = texts[i % texts.count]
                            let frame = String(decoding: try JSONSerialization.data(withJSONObject: ["type": "message", "client_id": "b\(i)", "text": text]), as: UTF8.self)
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            try ws.sendText(frame)
                            while true {
                                let reply = try ws.nextText()
                                if reply.contains(#""role":"bot""#) { break }
                            }
                            result.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                        }
                        return result
                    }
                }
            }
            var all: [Double] = []
            for try await part in tasks { all += part }
            return all.sorted()
        }
        let seconds = Date().timeIntervalSince(started)
        await group.triggerGracefulShutdown()
        try await running.value
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        print(String(format: "round trips: %d in %.2f s = %.0f messages/s (each: redaction, 2-3 durable writes, bot)",
                     latencies.count, seconds, Double(latencies.count) / seconds))
        print(String(format: "latency (send → bot reply): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
                     percentile(0.5), percentile(0.9), percentile(0.99), latencies.last ?? 0))
        print("reproduce: swift build -c release && $(swift build -c release --show-bin-path)/kamirelay bench relay --clients \(clientCount) --messages \(count)")
    }
}

/// Runs blocking client code on its own thread.
private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A minimal blocking WebSocket client (text frames only) over the OpenSSL probe client.
private final class BenchWebSocket {
    let tls: BlockingTLSClient
    private var buffer: [UInt8] = []

    init(port: Int, rootCA: String) throws {
        tls = try BlockingTLSClient(port: port, context: try TLSProbeContext(trustedCertificatesFile: rootCA), serverName: "localhost",
                                    timeoutSeconds: 30)
        try tls.write(Array("GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".utf8))
        while buffer.firstRange(of: Array("\r\n\r\n".utf8)) == nil {
            guard let more = try tls.read() else { throw BenchError(description: "upgrade failed") }
            buffer += more
        }
        let end = buffer.firstRange(of: Array("\r\n\r\n".utf8))!
        guard String(decoding: buffer[..<end.lowerBound], as: UTF8.self).hasPrefix("HTTP/1.1 101") else { throw BenchError(description: "upgrade refused") }
        buffer.removeSubrange(..<end.upperBound)
    }

    func sendText(_ text: String) throws {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 { frame.append(0x80 | UInt8(payload.count)) } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
        try tls.write(frame)
    }

    private func take(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard let more = try tls.read() else { throw BenchError(description: "connection closed") }
            buffer += more
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }

    /// The next text frame's text (pings are answered).
    func nextText() throws -> String {
        while true {
            let head = try take(2)
            var length = Int(head[1] & 0x7F)
            if length == 126 { length = try take(2).reduce(0) { $0 << 8 | Int($1) } } else if length == 127 {
                length = try take(8).reduce(0) { $0 << 8 | Int($1) }
            }
            let payload = try take(length)
            switch head[0] & 0x0F {
            case 1: return String(decoding: payload, as: UTF8.self)
            case 8: throw BenchError(description: "closed by the server")
            case 9:
                var pong: [UInt8] = [0x8A, 0x80 | UInt8(payload.count), 0, 0, 0, 0]
                pong += payload
                try tls.write(pong)
            default: continue
            }
        }
    }

    func close() { tls.close() }
}
