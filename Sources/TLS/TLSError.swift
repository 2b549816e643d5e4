import COpenSSL

/// Errors raised by a TLS connection. None of them carries key material or application data:
/// only OpenSSL's reason strings (from its error queue) and short descriptions.
public enum TLSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The handshake failed; `reasons` are OpenSSL's reason strings, oldest first.
    case handshakeFailed(reasons: [String])
    /// The peer closed the TCP connection during the handshake.
    case eofDuringHandshake
    /// The handshake did not complete within the configured timeout.
    case handshakeTimedOut
    /// The peer closed the TCP connection without sending close_notify: the data received may be
    /// truncated. Raised once, before the channel goes inactive.
    case uncleanShutdown
    /// Reading or writing application data failed.
    case ioFailed(reasons: [String])
    /// The peer's close_notify did not arrive within the shutdown timeout after ours was sent.
    case shutdownTimedOut
    /// A write was attempted after the connection started closing.
    case writeAfterClose

    public var description: String {
        switch self {
        case .handshakeFailed(let r): return "TLS handshake failed: \(r.isEmpty ? "unknown reason" : r.joined(separator: "; "))"
        case .eofDuringHandshake: return "TLS handshake failed: the peer closed the connection"
        case .handshakeTimedOut: return "TLS handshake timed out"
        case .uncleanShutdown: return "TLS connection closed without close_notify (data may be truncated)"
        case .ioFailed(let r): return "TLS read/write failed: \(r.isEmpty ? "unknown reason" : r.joined(separator: "; "))"
        case .shutdownTimedOut: return "TLS shutdown timed out waiting for the peer's close_notify"
        case .writeAfterClose: return "write on a TLS connection that is closing"
        }
    }
}

/// Errors loading certificates or building a server context. Paths are included; file contents never.
public enum TLSConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)
    case noCertificateInFile(path: String)
    case invalidPrivateKey(path: String, reasons: [String])
    case keyDoesNotMatchCertificate(certificatePath: String, keyPath: String)
    case certificateExpired(path: String, notAfter: String)
    case certificateNotYetValid(path: String, notBefore: String)
    case unsupportedKey(path: String, detail: String)
    case noCertificates
    case duplicateHostname(String)
    case invalidHostname(String)
    case openSSLFailure(operation: String, reasons: [String])

    public var description: String {
        switch self {
        case .unreadableFile(let p, let r): return "cannot read \(p): \(r)"
        case .noCertificateInFile(let p): return "no PEM certificate found in \(p)"
        case .invalidPrivateKey(let p, let r):
            return "cannot load the private key in \(p) (PEM, unencrypted expected)\(r.isEmpty ? "" : ": " + r.joined(separator: "; "))"
        case .keyDoesNotMatchCertificate(let c, let k): return "the private key \(k) does not match the certificate \(c)"
        case .certificateExpired(let p, let d): return "the certificate \(p) expired on \(d)"
        case .certificateNotYetValid(let p, let d): return "the certificate \(p) is not valid before \(d)"
        case .unsupportedKey(let p, let d): return "unsupported key in \(p): \(d) (use ECDSA P-256/P-384 or RSA with at least 2048 bits)"
        case .noCertificates: return "no certificate configured: give a default certificate or at least one tenant"
        case .duplicateHostname(let h): return "hostname \(h) is claimed by more than one tenant"
        case .invalidHostname(let h): return "invalid hostname \(h.debugDescription)"
        case .openSSLFailure(let op, let r): return "OpenSSL \(op) failed\(r.isEmpty ? "" : ": " + r.joined(separator: "; "))"
        }
    }
}

/// OpenSSL's per-thread error queue. Drained after every failing call so that one connection's
/// errors never leak into the next call on the same event-loop thread.
enum OpenSSLErrorQueue {
    /// Removes every entry from this thread's queue and returns the reason strings, oldest first.
    static func drain() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if reasons.count >= 8 { continue }  // keep draining, but report a bounded list
            if let r = ERR_reason_error_string(code) {
                reasons.append(String(cString: r))
            } else {
                reasons.append("error \(kamirelay_ERR_GET_LIB(code)):\(kamirelay_ERR_GET_REASON(code))")
            }
        }
        return reasons
    }

    static func clear() { ERR_clear_error() }
}
