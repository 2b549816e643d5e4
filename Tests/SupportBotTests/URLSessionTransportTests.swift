import Foundation
import SupportBot
import SupportBotHTTPOrders
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-shot HTTP server on 127.0.0.1 (blocking POSIX sockets on its own thread): answers
/// `count` requests with `response` and records the raw requests.
final class OneShotHTTPServer: @unchecked Sendable {
    // @unchecked Sendable: `requests` is only touched under `lock`; the socket is owned by the
    // server thread after `start()` and closed by it.
    let port: UInt16
    private let socketFD: Int32
    private let lock = NSLock()
    private var received: [String] = []

    var requests: [String] { lock.lock(); defer { lock.unlock() }; return received }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        socketFD = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    func start(count: Int, status: Int, body: String) {
        let thread = Thread { [self] in
            for _ in 0..<count {
                let client = accept(socketFD, nil, nil)
                guard client >= 0 else { break }
                var buffer = [UInt8](repeating: 0, count: 65_536)
                var request = Data()
                // Read until the end of the headers plus any Content-Length body.
                while true {
                    let n = read(client, &buffer, buffer.count)
                    if n <= 0 { break }
                    request.append(contentsOf: buffer[0..<n])
                    let text = String(decoding: request, as: UTF8.self)
                    if let end = text.range(of: "\r\n\r\n") {
                        let headers = text[..<end.lowerBound].lowercased()
                        let length = headers.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                        if text.utf8.count - text[..<end.upperBound].utf8.count >= length { break }
                    }
                }
                lock.lock(); received.append(String(decoding: request, as: UTF8.self)); lock.unlock()
                let payload = Array(body.utf8)
                let head = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
                let bytes = Array(head.utf8) + payload
                _ = bytes.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                close(client)
            }
            close(self.socketFD)
        }
        thread.start()
    }
}

@Suite struct URLSessionTransportTests {
    @Test func realHTTPRoundTripWithAuthHeader() async throws {
        let server = try OneShotHTTPServer()
        server.start(count: 1, status: 200, body: HTTPOrderSourceTests.orderJSON)
        var configuration = HTTPOrderSourceConfiguration(baseURL: URL(string: "http://127.0.0.1:\(server.port)/api")!,
                                                         authHeader: ("Authorization", "Bearer local-test"))
        configuration.maxRetries = 0
        configuration.timeout = 60  // a bound on a hang: a loaded machine can delay the server thread for seconds
        let order = try await HTTPOrderSource(configuration: configuration).order(number: "E7ZK3QX9M2PLA1B4")
        #expect(order?.number == "E7ZK3QX9M2PLA1B4")
        #expect(order?.status == .completed)
        let request = try #require(server.requests.first)
        #expect(request.hasPrefix("GET /api/orders/E7ZK3QX9M2PLA1B4 HTTP/1.1"))
        #expect(request.lowercased().contains("authorization: bearer local-test"))
    }

    @Test func connectionRefusedIsUnavailable() async throws {
        // A port that is bound but not listening, held for the whole test: connecting is refused,
        // and no other process can start listening there meanwhile. (Closing a listener and
        // sleeping 50 ms raced with the thread that closed it, and the port could be reused.)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let port = UInt16(bigEndian: address.sin_port)
        var configuration = HTTPOrderSourceConfiguration(baseURL: URL(string: "http://127.0.0.1:\(port)/api")!)
        configuration.maxRetries = 0
        configuration.timeout = 2
        do {
            _ = try await HTTPOrderSource(configuration: configuration).order(number: "E7ZK3QX9M2PLA1B4")
            Issue.record("expected the call to fail")
        } catch {
            guard case .unavailable = error else { Issue.record("wrong error \(error)"); return }
        }
    }
}
