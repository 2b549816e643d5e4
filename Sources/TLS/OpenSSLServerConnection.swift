import COpenSSL
import NIOCore

/// One server-side `SSL` over a pair of memory BIOs: ciphertext from the network goes into the
/// read BIO, ciphertext for the network comes out of the write BIO. No socket I/O here.
/// Used only on its channel's event loop.
final class OpenSSLServerConnection {
    enum HandshakeResult { case complete, wantRead, failed([String]) }
    enum ReadResult { case bytes, wantRead, closeNotify, failed([String]) }

    private let ssl: OpaquePointer
    /// Kept alive for as long as this `SSL` exists: its `SSL_CTX`s and callbacks belong to it.
    let serverContext: TLSServerContext
    private var readBIO: OpaquePointer
    private var writeBIO: OpaquePointer
    /// Set by the SNI callback during the handshake.
    var tenant: String?
    var serverName: String?
    var rejectedServerName = false

    /// Largest plaintext handed to one `SSL_write`: four full records, so the write BIO stays small.
    static let writeChunk = 4 * 16_384

    init(context: TLSServerContext) throws {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.baseContext) else {
            throw TLSError.handshakeFailed(reasons: OpenSSLErrorQueue.drain())
        }
        guard let r = Self.makeMemoryBIO(), let w = Self.makeMemoryBIO() else {
            SSL_free(ssl)
            throw TLSError.handshakeFailed(reasons: OpenSSLErrorQueue.drain())
        }
        self.ssl = ssl
        self.serverContext = context
        self.readBIO = r
        self.writeBIO = w
        SSL_set_bio(ssl, r, w)  // the SSL owns both BIOs from here on
        SSL_set_accept_state(ssl)
        SSL_set_ex_data(ssl, connectionExIndex, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        SSL_free(ssl)
    }

    private static func makeMemoryBIO() -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        // An empty memory BIO must say "retry", not EOF: more bytes may come from the network.
        _ = kamirelay_BIO_set_mem_eof_return(bio, -1)
        return bio
    }

    /// Hands ciphertext from the network to OpenSSL.
    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, Int(Int32.max))
                let n = BIO_write(readBIO, bytes.baseAddress! + offset, CInt(chunk))
                guard n > 0 else { break }  // only on allocation failure; the handshake/read then fails
                offset += Int(n)
            }
        }
    }

    func handshake() -> HandshakeResult {
        OpenSSLErrorQueue.clear()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return .complete }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        default: return .failed(OpenSSLErrorQueue.drain())
        }
    }

    /// Decrypts one record's worth of application data into `buffer`.
    func read(into buffer: inout ByteBuffer) -> ReadResult {
        OpenSSLErrorQueue.clear()
        var rc: CInt = 0
        // SSL_read may return part of a record; OpenSSL keeps the rest for the next call.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1024) { out in
            rc = SSL_read(ssl, out.baseAddress, CInt(min(out.count, Int(Int32.max))))
            return rc > 0 ? Int(rc) : 0
        }
        if rc > 0 { return .bytes }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        case SSL_ERROR_ZERO_RETURN: return .closeNotify
        default: return .failed(OpenSSLErrorQueue.drain())
        }
    }

    /// Encrypts `bytes` (at most `writeChunk` of them) into the write BIO. Memory BIOs always
    /// accept, so a failure here is a real error.
    func write(_ bytes: UnsafeRawBufferPointer) -> [String]? {
        guard !bytes.isEmpty else { return nil }
        OpenSSLErrorQueue.clear()
        let rc = SSL_write(ssl, bytes.baseAddress, CInt(bytes.count))
        if rc == CInt(bytes.count) { return nil }
        let reasons = OpenSSLErrorQueue.drain()
        return reasons.isEmpty ? ["SSL_write wrote \(rc) of \(bytes.count) bytes"] : reasons
    }

    /// Queues our close_notify.
    func shutdown() {
        OpenSSLErrorQueue.clear()
        _ = SSL_shutdown(ssl)
        OpenSSLErrorQueue.clear()
    }

    var hasOutput: Bool { kamirelay_BIO_ctrl_pending(writeBIO) > 0 }

    /// Ciphertext received but not yet decrypted.
    var pendingCiphertext: Int { kamirelay_BIO_ctrl_pending(readBIO) }

    /// Takes every pending ciphertext byte out of the write BIO.
    func takeOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = kamirelay_BIO_ctrl_pending(writeBIO)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { out in
            let n = BIO_read(writeBIO, out.baseAddress, CInt(min(pending, Int(Int32.max))))
            return n > 0 ? Int(n) : 0
        }
        return buffer
    }

    /// Replaces drained memory BIOs that grew past `threshold` bytes with fresh ones: a memory
    /// BIO keeps its peak allocation after being emptied, so a connection that went idle after a
    /// burst would otherwise keep the burst's buffers (OpenSSL's own record buffers are released
    /// by `SSL_MODE_RELEASE_BUFFERS`).
    func releaseIdleBuffers(threshold: Int = 16_384) {
        if kamirelay_BIO_ctrl_pending(readBIO) == 0, kamirelay_BIO_mem_capacity(readBIO) > threshold,
           let fresh = Self.makeMemoryBIO() {
            SSL_set0_rbio(ssl, fresh)  // frees the old one
            readBIO = fresh
        }
        if kamirelay_BIO_ctrl_pending(writeBIO) == 0, kamirelay_BIO_mem_capacity(writeBIO) > threshold,
           let fresh = Self.makeMemoryBIO() {
            SSL_set0_wbio(ssl, fresh)
            writeBIO = fresh
        }
    }

    func info() -> TLSConnectionInfo {
        var alpn: UnsafePointer<UInt8>? = nil
        var alpnLength: CUnsignedInt = 0
        SSL_get0_alpn_selected(ssl, &alpn, &alpnLength)
        let applicationProtocol = alpn.flatMap { alpnLength > 0 ? String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) : nil }
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "?"
        return TLSConnectionInfo(
            tenant: tenant,
            serverName: serverName,
            protocolVersion: String(cString: SSL_get_version(ssl)),
            cipherSuite: cipher,
            applicationProtocol: applicationProtocol,
            resumed: SSL_session_reused(ssl) == 1
        )
    }
}
