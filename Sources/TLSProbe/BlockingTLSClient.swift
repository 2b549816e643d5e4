import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain, blocking OpenSSL client on a real TCP socket: the independent peer that tests, the
/// TLS check and the benchmark talk to a server with. It shares no code with the server
/// handler (socket BIO, `SSL_connect`), so it does not share its bugs.
public enum TLSProbeError: Error, Equatable, Sendable, CustomStringConvertible {
    case connectFailed(String)
    case handshakeFailed([String])
    case ioFailed([String])
    /// TCP closed without close_notify.
    case unexpectedEOF
    case timedOut

    public var description: String {
        switch self {
        case .connectFailed(let r): return "connect failed: \(r)"
        case .handshakeFailed(let r): return "handshake failed: \(r.joined(separator: "; "))"
        case .ioFailed(let r): return "I/O failed: \(r.joined(separator: "; "))"
        case .unexpectedEOF: return "connection closed without close_notify"
        case .timedOut: return "timed out"
        }
    }
}

/// Client settings shared by many connections (one `SSL_CTX`).
///
/// `@unchecked Sendable` is sound: the `SSL_CTX` is configured in `init` only and never mutated
/// afterwards; `SSL_new` on an unchanging context is thread-safe.
public final class TLSProbeContext: @unchecked Sendable {
    public enum Version: Sendable { case tls1, tls1_1, tls1_2, tls1_3 }
    let ctx: OpaquePointer

    /// - Parameters:
    ///   - versions: minimum and maximum protocol version (default: OpenSSL's).
    ///   - tls12Ciphers / tls13Suites: OpenSSL cipher strings to offer (default: OpenSSL's).
    ///   - trustedCertificatesFile: verify the server's chain against these roots; `nil`: no verification.
    public init(versions: ClosedRange<Version>? = nil, tls12Ciphers: String? = nil, tls13Suites: String? = nil,
                trustedCertificatesFile: String? = nil, applicationProtocols: [String] = []) throws {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSProbeError.handshakeFailed(Self.drain()) }
        self.ctx = ctx
        if let versions {
            if versions.lowerBound < .tls1_2 { SSL_CTX_set_security_level(ctx, 0) }  // let old versions be *offered*
            _ = kamirelay_SSL_CTX_set_min_proto_version(ctx, versions.lowerBound.code)
            _ = kamirelay_SSL_CTX_set_max_proto_version(ctx, versions.upperBound.code)
        }
        if let tls12Ciphers, SSL_CTX_set_cipher_list(ctx, tls12Ciphers) != 1 { throw TLSProbeError.handshakeFailed(Self.drain()) }
        if let tls13Suites, SSL_CTX_set_ciphersuites(ctx, tls13Suites) != 1 { throw TLSProbeError.handshakeFailed(Self.drain()) }
        if let trustedCertificatesFile {
            guard SSL_CTX_load_verify_locations(ctx, trustedCertificatesFile, nil) == 1 else { throw TLSProbeError.handshakeFailed(Self.drain()) }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        }
        if !applicationProtocols.isEmpty {
            var wire: [UInt8] = []
            for p in applicationProtocols { wire.append(UInt8(p.utf8.count)); wire += p.utf8 }
            _ = SSL_CTX_set_alpn_protos(ctx, wire, CUnsignedInt(wire.count))
        }
    }

    deinit { SSL_CTX_free(ctx) }

    static func drain() -> [String] {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            if let r = ERR_reason_error_string(code) { reasons.append(String(cString: r)) }
        }
        return reasons
    }
}

extension TLSProbeContext.Version: Comparable {
    var code: CInt {
        switch self {
        case .tls1: return 0x0301
        case .tls1_1: return 0x0302
        case .tls1_2: return 0x0303
        case .tls1_3: return 0x0304
        }
    }
    public static func < (a: Self, b: Self) -> Bool { a.code < b.code }
}

/// A resumable session taken from a finished connection.
///
/// `@unchecked Sendable` is sound: an `SSL_SESSION` is reference-counted by OpenSSL and only
/// read (by `SSL_set_session`) after it is captured.
public final class TLSProbeSession: @unchecked Sendable {
    let session: OpaquePointer
    init(_ s: OpaquePointer) { session = s }
    deinit { SSL_SESSION_free(session) }
}

/// One blocking client connection.
public final class BlockingTLSClient {
    private let fd: CInt
    private let ssl: OpaquePointer
    private var closed = false

    /// Connects to `host:port` over TCP (`host`: an IPv4 or IPv6 literal) and completes the handshake.
    /// - Parameters:
    ///   - timeoutSeconds: applies to every later read and write as well.
    ///   - receiveBufferBytes: a small socket receive buffer (set before connecting, so the TCP
    ///     window stays small), to play a slow reader; nil: the system default.
    public init(host: String = "127.0.0.1", port: Int, context: TLSProbeContext, serverName: String? = nil,
                session: TLSProbeSession? = nil, timeoutSeconds: Int = 5, receiveBufferBytes: Int? = nil) throws {
        let isIPv6 = host.contains(":")  // an IPv6 literal such as ::1 (no brackets)
        let fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw TLSProbeError.connectFailed(String(cString: strerror(errno))) }
        if let receiveBufferBytes {
            var size = CInt(receiveBufferBytes)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<CInt>.size))
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: CInt = 1
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        let rc: CInt
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &address.sin_addr)
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            closeSocket(fd)
            throw TLSProbeError.connectFailed(reason)
        }
        guard let ssl = SSL_new(context.ctx) else { closeSocket(fd); throw TLSProbeError.handshakeFailed(TLSProbeContext.drain()) }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        if let serverName { _ = kamirelay_SSL_set_tlsext_host_name(ssl, serverName) }
        if let session { SSL_set_session(ssl, session.session) }
        ERR_clear_error()
        if SSL_connect(ssl) != 1 {
            let reasons = TLSProbeContext.drain()
            closeSocket(fd)
            closed = true  // deinit still runs (all properties are set) and frees the SSL
            throw TLSProbeError.handshakeFailed(reasons.isEmpty ? ["connection closed or timed out"] : reasons)
        }
    }

    deinit {
        if !closed { closeSocket(fd) }
        SSL_free(ssl)
    }

    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }
    public var cipher: String { SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "" }
    public var sessionReused: Bool { SSL_session_reused(ssl) == 1 }
    public var applicationProtocol: String? {
        var p: UnsafePointer<UInt8>? = nil
        var n: CUnsignedInt = 0
        SSL_get0_alpn_selected(ssl, &p, &n)
        guard let p, n > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: p, count: Int(n)), as: UTF8.self)
    }

    /// Common names of the certificates the server sent, leaf first.
    public var peerCertificateCommonNames: [String] {
        guard let chain = SSL_get_peer_cert_chain(ssl) else { return [] }
        var names: [String] = []
        for i in 0..<kamirelay_sk_X509_num(chain) {
            guard let cert = kamirelay_sk_X509_value(chain, i) else { continue }
            var buffer = [CChar](repeating: 0, count: 256)
            let n = X509_NAME_get_text_by_NID(kamirelay_X509_get_subject_name(cert), NID_commonName, &buffer, 256)
            names.append(n > 0 ? String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "")
        }
        return names
    }

    /// Chain verification result (`X509_V_OK` = 0) when the context trusts a CA file.
    public var verifyResult: Int { SSL_get_verify_result(ssl) }

    /// The session, for resuming a later connection (TLS 1.3 tickets arrive after the handshake:
    /// read some data first).
    public var session: TLSProbeSession? { SSL_get1_session(ssl).map(TLSProbeSession.init) }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = SSL_write(ssl, bytes.baseAddress! + offset, CInt(min(bytes.count - offset, 1 << 20)))
            guard n > 0 else { throw TLSProbeError.ioFailed(TLSProbeContext.drain()) }
            offset += Int(n)
        }
    }

    /// Reads up to `max` bytes. Returns `nil` on close_notify; throws `.unexpectedEOF` on a bare
    /// TCP close and `.timedOut` when nothing arrives within the timeout.
    public func read(max: Int = 65_536) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        ERR_clear_error()
        let n = SSL_read(ssl, &buffer, CInt(max))
        if n > 0 { return Array(buffer.prefix(Int(n))) }
        let savedErrno = errno
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_ZERO_RETURN: return nil
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: throw TLSProbeError.timedOut
        case SSL_ERROR_SYSCALL:
            if savedErrno == EAGAIN || savedErrno == EWOULDBLOCK { throw TLSProbeError.timedOut }
            throw TLSProbeError.unexpectedEOF
        default:
            let reasons = TLSProbeContext.drain()
            if reasons.contains(where: { $0.contains("unexpected eof") }) { throw TLSProbeError.unexpectedEOF }
            throw TLSProbeError.ioFailed(reasons)
        }
    }

    /// Reads exactly `count` bytes (fails on EOF before that).
    public func read(exactly count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            guard let chunk = try read(max: min(65_536, count - out.count)) else { throw TLSProbeError.unexpectedEOF }
            out += chunk
        }
        return out
    }

    /// Reads and discards exactly `count` bytes; returns their FNV-1a hash (order-sensitive).
    public func discard(count: Int, hashing: Bool = true) throws -> UInt64 {
        var remaining = count
        var sum: UInt64 = 0xcbf2_9ce4_8422_2325
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while remaining > 0 {
            ERR_clear_error()
            let n = SSL_read(ssl, &buffer, CInt(min(buffer.count, remaining)))
            guard n > 0 else { throw TLSProbeError.unexpectedEOF }
            if hashing {
                buffer.withUnsafeBufferPointer { b in
                    for i in 0..<Int(n) { sum = (sum ^ UInt64(b[i])) &* 0x100_0000_01b3 }
                }
            }
            remaining -= Int(n)
        }
        return sum
    }

    /// Asks the server to renegotiate (TLS 1.2 only). Returns true if a new handshake completed.
    public func renegotiate() -> Bool {
        ERR_clear_error()
        guard SSL_renegotiate(ssl) == 1 else { ERR_clear_error(); return false }
        let ok = SSL_do_handshake(ssl) == 1 && SSL_renegotiate_pending(ssl) == 0
        ERR_clear_error()
        return ok
    }

    /// Sends close_notify (the write side of TLS is then closed; reading goes on).
    public func sendCloseNotify() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Closes the TCP connection without close_notify (a truncation attack, or a crash).
    public func closeAbruptly() {
        guard !closed else { return }
        closed = true
        closeSocket(fd)
    }

    /// Closes cleanly: close_notify, then the socket.
    public func close() {
        guard !closed else { return }
        sendCloseNotify()
        closed = true
        closeSocket(fd)
    }
}

@available(*, unavailable)
extension BlockingTLSClient: Sendable {}

private func closeSocket(_ fd: CInt) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}
