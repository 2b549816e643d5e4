import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A certificate chain and private key loaded from PEM files and checked: readable, the key
/// matches the leaf, the key type is allowed, and (depending on policy) the leaf is in date.
final class CertificateChain {
    let leaf: OpaquePointer          // X509*
    let intermediates: [OpaquePointer]  // X509*
    let privateKey: OpaquePointer    // EVP_PKEY*
    /// Human-readable notAfter of the leaf (for logs).
    let notAfter: String
    /// Set when the leaf is outside its validity period but the policy said `warn`.
    let validityWarning: TLSConfigurationError?

    init(files: TLSCertificateFiles, expired: TLSServerConfiguration.ExpiredCertificatePolicy) throws {
        OpenSSLErrorQueue.clear()
        let certs = try Self.readCertificates(path: files.certificateChainPath)
        guard let first = certs.first else { throw TLSConfigurationError.noCertificateInFile(path: files.certificateChainPath) }
        let key: OpaquePointer
        do {
            key = try Self.readPrivateKey(path: files.privateKeyPath)
        } catch {
            certs.forEach { X509_free($0) }
            throw error
        }
        leaf = first
        intermediates = Array(certs.dropFirst())
        privateKey = key
        notAfter = Self.timeString(X509_get0_notAfter(first))

        // From here on, deinit frees everything if a check throws.
        guard X509_check_private_key(first, key) == 1 else {
            OpenSSLErrorQueue.clear()
            throw TLSConfigurationError.keyDoesNotMatchCertificate(
                certificatePath: files.certificateChainPath, keyPath: files.privateKeyPath)
        }
        try Self.checkKeyType(key, path: files.privateKeyPath)

        var warning: TLSConfigurationError? = nil
        if X509_cmp_current_time(X509_get0_notAfter(first)) < 0 {
            warning = .certificateExpired(path: files.certificateChainPath, notAfter: notAfter)
        } else if X509_cmp_current_time(X509_get0_notBefore(first)) > 0 {
            warning = .certificateNotYetValid(path: files.certificateChainPath,
                                              notBefore: Self.timeString(X509_get0_notBefore(first)))
        }
        if let warning, expired == .refuse { throw warning }
        validityWarning = warning
    }

    deinit {
        X509_free(leaf)
        intermediates.forEach { X509_free($0) }
        EVP_PKEY_free(privateKey)
    }

    private static func openFile(_ path: String) throws -> OpaquePointer {
        errno = 0
        guard let bio = BIO_new_file(path, "r") else {
            let code = errno
            OpenSSLErrorQueue.clear()
            let reason = code != 0 ? String(cString: strerror(code)) : "cannot open"
            throw TLSConfigurationError.unreadableFile(path: path, reason: reason)
        }
        return bio
    }

    private static func readCertificates(path: String) throws -> [OpaquePointer] {
        let bio = try openFile(path)
        defer { BIO_free(bio) }
        var certs: [OpaquePointer] = []
        while let cert = kamirelay_PEM_read_bio_X509(bio) {
            certs.append(cert)
            if certs.count > 16 { break }  // a chain longer than this is a mistake
        }
        OpenSSLErrorQueue.clear()  // the final "no start line" is how the loop ends
        return certs
    }

    private static func readPrivateKey(path: String) throws -> OpaquePointer {
        let bio = try openFile(path)
        defer { BIO_free(bio) }
        guard let key = kamirelay_PEM_read_bio_PrivateKey(bio) else {
            throw TLSConfigurationError.invalidPrivateKey(path: path, reasons: OpenSSLErrorQueue.drain())
        }
        return key
    }

    private static func checkKeyType(_ key: OpaquePointer, path: String) throws {
        let id = EVP_PKEY_get_base_id(key)
        if id == kamirelay_EVP_PKEY_RSA() {
            let bits = EVP_PKEY_get_bits(key)
            guard bits >= 2048 else { throw TLSConfigurationError.unsupportedKey(path: path, detail: "RSA-\(bits)") }
        } else if id == kamirelay_EVP_PKEY_EC() {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else {
                OpenSSLErrorQueue.clear()
                throw TLSConfigurationError.unsupportedKey(path: path, detail: "EC key without a named curve")
            }
            let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard curve == "prime256v1" || curve == "P-256" || curve == "secp384r1" || curve == "P-384" else {
                throw TLSConfigurationError.unsupportedKey(path: path, detail: "EC curve \(curve)")
            }
        } else {
            throw TLSConfigurationError.unsupportedKey(path: path, detail: "key type \(id)")
        }
    }

    static func timeString(_ time: UnsafePointer<ASN1_TIME>?) -> String {
        guard let time, let bio = BIO_new(BIO_s_mem()) else { return "?" }
        defer { BIO_free(bio) }
        guard ASN1_TIME_print(bio, time) == 1 else { OpenSSLErrorQueue.clear(); return "?" }
        var pointer: UnsafeMutablePointer<CChar>? = nil
        let length = kamirelay_BIO_get_mem_data(bio, &pointer)
        guard let pointer, length > 0 else { return "?" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}
