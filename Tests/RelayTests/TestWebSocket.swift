import Foundation
import TLSProbe

/// A small, independent WebSocket client (RFC 6455, client side) over the blocking OpenSSL
/// client: it writes the frames itself, so tests can also send what a good client never would
/// (oversized frames, invalid UTF-8, binary frames).
final class TestWebSocket {
    let tls: BlockingTLSClient
    private var buffer: [UInt8] = []
    private(set) var responseHead = ""

    struct UpgradeRefused: Error, CustomStringConvertible {
        let status: Int
        var head = ""
        var description: String { "upgrade refused with HTTP \(status)" }
    }

    /// Connects over TLS and upgrades `path`. Throws ``UpgradeRefused`` unless the server answers 101.
    init(host: String = "127.0.0.1", port: Int, rootCA: String, hostHeader: String = "localhost", serverName: String? = "localhost",
         path: String = "/chat", origin: String? = nil, receiveBufferBytes: Int? = nil,
         extraHeaders: [String: String] = [:]) throws {
        let context = try TLSProbeContext(trustedCertificatesFile: rootCA)
        tls = try BlockingTLSClient(host: host, port: port, context: context, serverName: serverName, timeoutSeconds: clientTimeoutSeconds,
                                    receiveBufferBytes: receiveBufferBytes)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = "GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n" + (origin.map { "Origin: \($0)\r\n" } ?? "")
            + extraHeaders.map { "\($0.key): \($0.value)\r\n" }.joined() + "\r\n"
        try tls.write(Array(request.utf8))
        while true {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                responseHead = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<end.upperBound)
                break
            }
            guard let more = try tls.read() else { throw UpgradeRefused(status: 0) }
            buffer += more
        }
        let status = Int(responseHead.split(separator: " ").dropFirst().first ?? "") ?? 0
        guard status == 101 else { throw UpgradeRefused(status: status, head: responseHead) }
    }

    /// Sends one frame, masked as a client must.
    func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true) throws {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try tls.write(frame)
    }

    func sendText(_ text: String) throws { try sendFrame(opcode: 1, payload: Array(text.utf8)) }

    func send(_ object: [String: Any]) throws {
        try sendText(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    private func take(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard let more = try tls.read() else { throw TestFailure("connection closed by the server") }
            buffer += more
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }

    /// The next frame from the server (pings are answered and skipped).
    func receiveFrame() throws -> (opcode: UInt8, payload: [UInt8]) {
        while true {
            let head = try take(2)
            let opcode = head[0] & 0x0F
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                length = try take(2).reduce(0) { $0 << 8 | Int($1) }
            } else if length == 127 {
                length = try take(8).reduce(0) { $0 << 8 | Int($1) }
            }
            let payload = try take(length)
            if opcode == 9 { try sendFrame(opcode: 10, payload: payload); continue }
            return (opcode, payload)
        }
    }

    /// The next JSON text frame from the server.
    func receive() throws -> [String: Any] {
        let frame = try receiveFrame()
        guard frame.opcode == 1 else {
            throw TestFailure("expected a text frame, got opcode \(frame.opcode) (close code \(Self.closeCode(frame.payload) ?? 0))")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(frame.payload)) as? [String: Any] else {
            throw TestFailure("not a JSON object")
        }
        return object
    }

    /// Frames until one of `type` (returned) — the ones before it are returned too.
    func receive(until type: String) throws -> (frame: [String: Any], before: [[String: Any]]) {
        var before: [[String: Any]] = []
        while true {
            let frame = try receive()
            if frame["type"] as? String == type { return (frame, before) }
            before.append(frame)
        }
    }

    /// Waits for the server's close frame; answers it; returns its code.
    func receiveClose() throws -> Int? {
        while true {
            let frame = try receiveFrame()
            if frame.opcode == 8 {
                try? sendFrame(opcode: 8, payload: Array(frame.payload.prefix(2)))
                return Self.closeCode(frame.payload)
            }
        }
    }

    static func closeCode(_ payload: [UInt8]) -> Int? {
        payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil
    }

    func close() { tls.close() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs blocking client code on its own thread, so it never holds a Swift concurrency thread
/// the server under test needs.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// How long a test client waits for the relay before giving up. Only a bound on a hang: the
/// relay's handlers run on the Swift concurrency pool, which has one thread per core (two in
/// CI), and other tests in the same process keep it busy for up to about a minute at the start
/// of a loaded run (measured: 31 s and 51 s without a single pool job of another test finishing).
let clientTimeoutSeconds = 120

/// Polls `condition` every `interval` until it holds (true) or `seconds` pass (false); for code
/// on its own thread (``offPool(_:)``). The deadline only bounds a hang, so it is generous.
func waitUntil(seconds: Double = 120, every interval: TimeInterval = 0.02, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
}

/// ``waitUntil(seconds:every:_:)`` from async code: polls on a thread of its own, so a busy
/// concurrency pool cannot delay the polling past its deadline (a `Task.sleep` loop there can
/// wake only after the deadline and report a timeout for a condition that held long before).
func eventually(seconds: Double = 120, _ condition: @escaping @Sendable () throws -> Bool) async throws -> Bool {
    try await offPool { try waitUntil(seconds: seconds, condition) }
}
