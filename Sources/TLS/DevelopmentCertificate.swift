import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors from generating or writing development certificates.
public enum CertificateGenerationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidHostname(String)
    case openSSLFailure(operation: String, reasons: [String])
    case fileExists(path: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidHostname(let h): return "invalid hostname or IP address \(h.debugDescription)"
        case .openSSLFailure(let op, let r): return "OpenSSL \(op) failed\(r.isEmpty ? "" : ": " + r.joined(separator: "; "))"
        case .fileExists(let p): return "\(p) already exists (use --force to replace it)"
        case .cannotWrite(let p, let r): return "cannot write \(p): \(r)"
        }
    }
}

/// A freshly generated key pair and X.509 certificate, made with the OpenSSL API. For
/// development and tests: a self-signed leaf (`kamirelay certs dev`), or a small CA hierarchy.
///
/// The private key never leaves OpenSSL memory except through `writePrivateKey(to:)`, which
/// creates the file with mode 0600.
public final class DevelopmentCertificate {
    public enum KeyType: Sendable, Hashable {
        case ecdsaP256
        case rsa(bits: Int)
    }

    let certificate: OpaquePointer  // X509*
    let privateKey: OpaquePointer   // EVP_PKEY*

    /// Generates a key and a certificate for `hostnames` (DNS names or IP addresses, put in
    /// subjectAltName; the first is also the common name).
    ///
    /// - Parameters:
    ///   - issuer: signs the certificate; `nil` makes it self-signed.
    ///   - isCertificateAuthority: a CA certificate (may sign others) instead of a server leaf.
    ///   - notBeforeOffset / lifetimeSeconds: validity relative to now (negative offsets and short
    ///     lifetimes make already-expired certificates, for tests).
    public init(
        hostnames: [String],
        commonName: String? = nil,
        keyType: KeyType = .ecdsaP256,
        issuer: DevelopmentCertificate? = nil,
        isCertificateAuthority: Bool = false,
        notBeforeOffset: Int = -3600,
        lifetimeSeconds: Int = 90 * 86_400
    ) throws {
        OpenSSLErrorQueue.clear()
        for name in hostnames where !Self.isIPAddress(name) {
            guard TLSServerContext.isValidHostnamePattern(name.lowercased()) else {
                throw CertificateGenerationError.invalidHostname(name)
            }
        }
        let key = try Self.generateKey(keyType)
        guard let x509 = X509_new() else {
            EVP_PKEY_free(key)
            throw CertificateGenerationError.openSSLFailure(operation: "X509_new", reasons: OpenSSLErrorQueue.drain())
        }
        certificate = x509
        privateKey = key
        // deinit frees both if anything below throws.

        func check(_ ok: Bool, _ operation: String) throws {
            if !ok { throw CertificateGenerationError.openSSLFailure(operation: operation, reasons: OpenSSLErrorQueue.drain()) }
        }
        try check(kamirelay_X509_set_version_v3(x509) == 1, "X509_set_version")

        var serial = [UInt8](repeating: 0, count: 16)
        try check(RAND_bytes(&serial, 16) == 1, "RAND_bytes")
        serial[0] &= 0x7f  // positive
        serial[0] |= 0x01  // and not shorter than 16 bytes
        let bn = BN_bin2bn(serial, 16, nil)
        defer { BN_free(bn) }
        try check(bn != nil && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509)) != nil, "serial number")

        try check(X509_gmtime_adj(X509_getm_notBefore(x509), notBeforeOffset) != nil, "notBefore")
        try check(X509_gmtime_adj(X509_getm_notAfter(x509), notBeforeOffset + lifetimeSeconds) != nil, "notAfter")

        let cn = commonName ?? hostnames.first ?? "KamiRelay development"
        let subject = kamirelay_X509_get_subject_name(x509)
        try check(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8, "KamiRelay development", -1, -1, 0) == 1, "subject O")
        try check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0) == 1, "subject CN")
        let issuerName = issuer.map { kamirelay_X509_get_subject_name($0.certificate) } ?? subject
        try check(X509_set_issuer_name(x509, issuerName) == 1, "X509_set_issuer_name")
        try check(X509_set_pubkey(x509, key) == 1, "X509_set_pubkey")

        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, issuer?.certificate ?? x509, x509, nil, nil, 0)
        func addExtension(_ nid: CInt, _ value: String) throws {
            guard let ext = X509V3_EXT_conf_nid(nil, &v3, nid, value) else {
                throw CertificateGenerationError.openSSLFailure(operation: "extension \(value)", reasons: OpenSSLErrorQueue.drain())
            }
            defer { X509_EXTENSION_free(ext) }
            try check(X509_add_ext(x509, ext, -1) == 1, "X509_add_ext")
        }
        if isCertificateAuthority {
            try addExtension(kamirelay_NID_basic_constraints(), "critical,CA:TRUE")
            try addExtension(kamirelay_NID_key_usage(), "critical,keyCertSign,cRLSign")
        } else {
            try addExtension(kamirelay_NID_basic_constraints(), "critical,CA:FALSE")
            let usage = keyType == .ecdsaP256 ? "critical,digitalSignature" : "critical,digitalSignature,keyEncipherment"
            try addExtension(kamirelay_NID_key_usage(), usage)
            try addExtension(kamirelay_NID_ext_key_usage(), "serverAuth")
        }
        if !hostnames.isEmpty {
            let names = hostnames.map { Self.isIPAddress($0) ? "IP:\($0)" : "DNS:\($0)" }
            try addExtension(kamirelay_NID_subject_alt_name(), names.joined(separator: ","))
        }
        try addExtension(kamirelay_NID_subject_key_identifier(), "hash")
        if issuer != nil { try addExtension(kamirelay_NID_authority_key_identifier(), "keyid:always") }

        try check(X509_sign(x509, issuer?.privateKey ?? key, EVP_sha256()) > 0, "X509_sign")
    }

    deinit {
        X509_free(certificate)
        EVP_PKEY_free(privateKey)
    }

    /// The certificate in PEM.
    public func certificatePEM() throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CertificateGenerationError.openSSLFailure(operation: "BIO_new", reasons: []) }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, certificate) == 1 else {
            throw CertificateGenerationError.openSSLFailure(operation: "PEM_write_bio_X509", reasons: OpenSSLErrorQueue.drain())
        }
        var pointer: UnsafeMutablePointer<CChar>? = nil
        let length = kamirelay_BIO_get_mem_data(bio, &pointer)
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: max(0, length)), as: UTF8.self)
    }

    /// SHA-256 fingerprint of the DER certificate, as colon-separated hex.
    public func sha256Fingerprint() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: CUnsignedInt = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 else { OpenSSLErrorQueue.clear(); return "?" }
        return digest.prefix(Int(length)).map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined(separator: ":")
    }

    /// The certificate's notAfter, human-readable.
    public var notAfter: String { CertificateChain.timeString(X509_get0_notAfter(certificate)) }

    /// Writes one or more certificates (leaf first) as a PEM chain; mode 0644.
    public static func writeChain(_ chain: [DevelopmentCertificate], to path: String, overwrite: Bool = false) throws {
        let pem = try chain.map { try $0.certificatePEM() }.joined()
        try writeFile(path: path, bytes: Array(pem.utf8), mode: 0o644, overwrite: overwrite)
    }

    /// Writes the private key as unencrypted PKCS#8 PEM, in a file created with mode 0600. The
    /// PEM passes through OpenSSL's secure (cleansed-on-free) memory only.
    public func writePrivateKey(to path: String, overwrite: Bool = false) throws {
        guard let bio = BIO_new(BIO_s_secmem()) else { throw CertificateGenerationError.openSSLFailure(operation: "BIO_new", reasons: []) }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, privateKey, nil, nil, 0, nil, nil) == 1 else {
            throw CertificateGenerationError.openSSLFailure(operation: "PEM_write_bio_PrivateKey", reasons: OpenSSLErrorQueue.drain())
        }
        var pointer: UnsafeMutablePointer<CChar>? = nil
        let length = kamirelay_BIO_get_mem_data(bio, &pointer)
        try Self.writeFile(path: path, bytes: UnsafeRawBufferPointer(start: pointer, count: max(0, length)), mode: 0o600, overwrite: overwrite)
    }

    private static func writeFile(path: String, bytes: [UInt8], mode: mode_t, overwrite: Bool) throws {
        try bytes.withUnsafeBytes { try writeFile(path: path, bytes: $0, mode: mode, overwrite: overwrite) }
    }

    private static func writeFile(path: String, bytes: UnsafeRawBufferPointer, mode: mode_t, overwrite: Bool) throws {
        if overwrite { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            if errno == EEXIST { throw CertificateGenerationError.fileExists(path: path) }
            throw CertificateGenerationError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        _ = fchmod(fd, mode)  // exact mode, whatever the umask
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw CertificateGenerationError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            offset += n
        }
        guard fsync(fd) == 0 else { throw CertificateGenerationError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
    }

    private static func generateKey(_ type: KeyType) throws -> OpaquePointer {
        let algorithm: String
        switch type {
        case .ecdsaP256: algorithm = "EC"
        case .rsa: algorithm = "RSA"
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw CertificateGenerationError.openSSLFailure(operation: "EVP_PKEY_CTX_new_from_name", reasons: OpenSSLErrorQueue.drain())
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var ok = EVP_PKEY_keygen_init(ctx) == 1
        switch type {
        case .ecdsaP256: ok = ok && EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1
        case .rsa(let bits): ok = ok && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, CInt(bits)) == 1
        }
        var key: OpaquePointer? = nil
        guard ok, EVP_PKEY_generate(ctx, &key) == 1, let key else {
            throw CertificateGenerationError.openSSLFailure(operation: "key generation", reasons: OpenSSLErrorQueue.drain())
        }
        return key
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
