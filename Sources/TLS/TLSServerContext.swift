import COpenSSL

/// Ex-data slot on every `SSL_CTX` we build: an unretained pointer to its `TLSServerContext`.
let serverContextExIndex: CInt = kamirelay_SSL_CTX_get_ex_new_index()
/// Ex-data slot on every `SSL`: an unretained pointer to its `OpenSSLServerConnection`.
let connectionExIndex: CInt = kamirelay_SSL_get_ex_new_index()

/// What the layers above learn about a connection once its handshake completed.
public struct TLSConnectionInfo: Sendable, Hashable {
    /// The tenant whose certificate the handshake used (`nil`: the default certificate).
    public var tenant: String?
    /// The SNI name the client sent, lower-cased.
    public var serverName: String?
    /// `TLSv1.2` or `TLSv1.3`.
    public var protocolVersion: String
    public var cipherSuite: String
    /// The ALPN protocol agreed on, if any.
    public var applicationProtocol: String?
    /// Whether the session was resumed from a ticket.
    public var resumed: Bool
}

/// An immutable, validated set of OpenSSL server contexts: one per certificate, with SNI
/// picking the tenant's. Build a new one to change certificates (see `TLSServerContextProvider`);
/// connections keep the context they started with.
///
/// `@unchecked Sendable` is sound: every `SSL_CTX` is fully configured in `init` and never
/// mutated afterwards; OpenSSL documents `SSL_new` on a shared, unchanging `SSL_CTX` as
/// thread-safe. The ticket-key store synchronises itself.
public final class TLSServerContext: @unchecked Sendable {
    public let configuration: TLSServerConfiguration
    /// Certificates loaded outside their validity period under the `warn` policy.
    public let warnings: [TLSConfigurationError]

    /// The context every `SSL` starts from: the default certificate (if any) and the callbacks.
    let baseContext: OpaquePointer
    private let tenantContexts: [OpaquePointer]
    private let tenantNames: [String]
    private let exactNames: [String: Int]
    private let wildcardSuffixes: [String: Int]
    private let hasDefaultCertificate: Bool
    private let alpnWire: UnsafeMutableBufferPointer<UInt8>
    let ticketKeys: SessionTicketKeys?

    /// Loads and checks every certificate; throws `TLSConfigurationError` on the first problem.
    public init(configuration: TLSServerConfiguration) throws {
        guard configuration.defaultCertificate != nil || !configuration.tenants.isEmpty else {
            throw TLSConfigurationError.noCertificates
        }
        self.configuration = configuration

        var exact: [String: Int] = [:]
        var wildcards: [String: Int] = [:]
        for (index, tenant) in configuration.tenants.enumerated() {
            for raw in tenant.hostnames {
                let name = Self.normalise(raw)
                guard Self.isValidHostnamePattern(name) else { throw TLSConfigurationError.invalidHostname(raw) }
                if name.hasPrefix("*.") {
                    let suffix = String(name.dropFirst(1))  // ".example.com"
                    guard wildcards[suffix] == nil || wildcards[suffix] == index else { throw TLSConfigurationError.duplicateHostname(raw) }
                    wildcards[suffix] = index
                } else {
                    guard exact[name] == nil || exact[name] == index else { throw TLSConfigurationError.duplicateHostname(raw) }
                    exact[name] = index
                }
            }
        }
        exactNames = exact
        wildcardSuffixes = wildcards
        tenantNames = configuration.tenants.map(\.tenant)
        hasDefaultCertificate = configuration.defaultCertificate != nil

        var wire: [UInt8] = []
        for proto in configuration.applicationProtocols where !proto.isEmpty && proto.utf8.count < 256 {
            wire.append(UInt8(proto.utf8.count))
            wire.append(contentsOf: proto.utf8)
        }
        alpnWire = .allocate(capacity: max(1, wire.count))
        _ = alpnWire.initialize(from: wire)
        if wire.isEmpty { alpnWire[0] = 0 }

        if case .rotating(let interval) = configuration.sessionTickets {
            ticketKeys = SessionTicketKeys(rotationInterval: interval)
        } else {
            ticketKeys = nil
        }

        // Load every chain before touching OpenSSL contexts, so a bad file fails fast.
        var warnings: [TLSConfigurationError] = []
        let defaultChain = try configuration.defaultCertificate.map {
            try CertificateChain(files: $0, expired: configuration.expiredCertificates)
        }
        let tenantChains = try configuration.tenants.map {
            try CertificateChain(files: $0.files, expired: configuration.expiredCertificates)
        }
        warnings += ([defaultChain] + tenantChains).compactMap { $0?.validityWarning }
        self.warnings = warnings

        var built: [OpaquePointer] = []
        do {
            let base = try Self.makeContext(configuration, sessionIDContext: "default")
            built.append(base)
            if let defaultChain { try Self.install(defaultChain, in: base) }
            for (tenant, chain) in zip(configuration.tenants, tenantChains) {
                let ctx = try Self.makeContext(configuration, sessionIDContext: "tenant:" + tenant.tenant)
                built.append(ctx)
                try Self.install(chain, in: ctx)
            }
        } catch {
            built.forEach { SSL_CTX_free($0) }
            alpnWire.deallocate()
            throw error
        }
        baseContext = built[0]
        tenantContexts = Array(built.dropFirst())

        // Callbacks find this object through ex-data. The pointer is unretained: every SSL_CTX
        // is freed in deinit, and every connection retains this object while its SSL lives.
        let me = Unmanaged.passUnretained(self).toOpaque()
        for ctx in built {
            SSL_CTX_set_ex_data(ctx, serverContextExIndex, me)
            _ = kamirelay_SSL_CTX_set_tlsext_servername_callback(ctx, serverNameCallback)
            SSL_CTX_set_alpn_select_cb(ctx, alpnCallback, nil)
            if ticketKeys != nil {
                SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticketKeyCallback)
            }
        }
    }

    deinit {
        SSL_CTX_free(baseContext)
        tenantContexts.forEach { SSL_CTX_free($0) }
        alpnWire.deallocate()
    }

    /// Tenants and the hostnames they answer for (for logs and `--help`-style summaries).
    public var summary: String {
        let tenants = configuration.tenants.map { "\($0.tenant) [\($0.hostnames.joined(separator: ", "))]" }
        let fallback = hasDefaultCertificate && configuration.unknownServerName == .useDefaultCertificate
            ? "default certificate" : "reject"
        return "profile \(configuration.profile.rawValue); tenants: \(tenants.isEmpty ? "none" : tenants.joined(separator: "; ")); unknown names: \(fallback)"
    }

    /// The tenant a hostname maps to, or nil (exact names first, then one-label wildcards).
    public func tenant(forServerName name: String) -> String? {
        tenantIndex(forServerName: Self.normalise(name)).map { tenantNames[$0] }
    }

    private func tenantIndex(forServerName name: String) -> Int? {
        if let i = exactNames[name] { return i }
        if let dot = name.firstIndex(of: "."), let i = wildcardSuffixes[String(name[dot...])] { return i }
        return nil
    }

    // MARK: - Callbacks (run on the event loop, inside SSL_do_handshake)

    fileprivate func selectCertificate(_ ssl: OpaquePointer, alert: UnsafeMutablePointer<CInt>?) -> CInt {
        let connection = SSL_get_ex_data(ssl, connectionExIndex).map {
            Unmanaged<OpenSSLServerConnection>.fromOpaque($0).takeUnretainedValue()
        }
        var name: String? = nil
        if let raw = SSL_get_servername(ssl, kamirelay_TLSEXT_NAMETYPE_host_name()) {
            name = Self.normalise(String(cString: raw))
        }
        connection?.serverName = name
        if let name, let index = tenantIndex(forServerName: name) {
            guard SSL_set_SSL_CTX(ssl, tenantContexts[index]) != nil else {
                alert?.pointee = 80  // internal_error
                return kamirelay_SSL_TLSEXT_ERR_ALERT_FATAL()
            }
            connection?.tenant = tenantNames[index]
            return kamirelay_SSL_TLSEXT_ERR_OK()
        }
        if hasDefaultCertificate && configuration.unknownServerName == .useDefaultCertificate {
            return kamirelay_SSL_TLSEXT_ERR_OK()
        }
        connection?.rejectedServerName = true
        alert?.pointee = kamirelay_SSL_AD_UNRECOGNIZED_NAME()
        return kamirelay_SSL_TLSEXT_ERR_ALERT_FATAL()
    }

    fileprivate func selectApplicationProtocol(
        _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<UInt8>?,
        _ offered: UnsafePointer<UInt8>?, _ offeredLength: CUnsignedInt
    ) -> CInt {
        guard let out, let outLength, let offered, alpnWire[0] != 0 else { return kamirelay_SSL_TLSEXT_ERR_NOACK() }
        var selected: UnsafeMutablePointer<UInt8>? = nil
        var selectedLength: UInt8 = 0
        let rc = SSL_select_next_proto(&selected, &selectedLength, alpnWire.baseAddress, CUnsignedInt(alpnWire.count),
                                       offered, offeredLength)
        guard rc == OPENSSL_NPN_NEGOTIATED, let selected else { return kamirelay_SSL_TLSEXT_ERR_NOACK() }
        out.pointee = UnsafePointer(selected)
        outLength.pointee = selectedLength
        return kamirelay_SSL_TLSEXT_ERR_OK()
    }

    // MARK: - Building contexts

    private static func makeContext(_ configuration: TLSServerConfiguration, sessionIDContext: String) throws -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSConfigurationError.openSSLFailure(operation: "SSL_CTX_new", reasons: OpenSSLErrorQueue.drain())
        }
        func check(_ ok: Bool, _ operation: String) throws {
            if !ok {
                SSL_CTX_free(ctx)
                throw TLSConfigurationError.openSSLFailure(operation: operation, reasons: OpenSSLErrorQueue.drain())
            }
        }
        let minimum = configuration.profile == .modern ? kamirelay_TLS1_3_VERSION() : kamirelay_TLS1_2_VERSION()
        try check(kamirelay_SSL_CTX_set_min_proto_version(ctx, minimum) == 1, "set_min_proto_version")
        try check(kamirelay_SSL_CTX_set_max_proto_version(ctx, kamirelay_TLS1_3_VERSION()) == 1, "set_max_proto_version")
        try check(SSL_CTX_set_ciphersuites(ctx, TLSProfile.tls13Suites) == 1, "set_ciphersuites")
        try check(SSL_CTX_set_cipher_list(ctx, TLSProfile.tls12Ciphers) == 1, "set_cipher_list")
        try check(kamirelay_SSL_CTX_set1_groups_list(ctx, TLSProfile.groups) == 1, "set1_groups_list")

        // No renegotiation, no compression, client's cipher order (Mozilla: server preference off).
        var options = kamirelay_SSL_OP_NO_RENEGOTIATION() | kamirelay_SSL_OP_NO_COMPRESSION()
        _ = SSL_CTX_clear_options(ctx, kamirelay_SSL_OP_CIPHER_SERVER_PREFERENCE())
        switch configuration.sessionTickets {
        case .disabled:
            options |= kamirelay_SSL_OP_NO_TICKET()
            _ = kamirelay_SSL_CTX_set_session_cache_mode_off(ctx)
            _ = SSL_CTX_set_num_tickets(ctx, 0)
        case .rotating(let interval):
            // Stateless tickets only: no server-side session cache to grow or to leak.
            _ = kamirelay_SSL_CTX_set_session_cache_mode_off(ctx)
            _ = SSL_CTX_set_timeout(ctx, Int(max(1, interval)))
        }
        _ = SSL_CTX_set_options(ctx, options)
        // Idle connections give their 16 KiB+ record buffers back.
        _ = kamirelay_SSL_CTX_set_mode(ctx, kamirelay_SSL_MODE_RELEASE_BUFFERS())

        // Bind sessions to the certificate context, so a ticket from one tenant never resumes
        // on another tenant's name.
        var digest = [UInt8](repeating: 0, count: 32)
        var digestLength: CUnsignedInt = 0
        let input = Array(sessionIDContext.utf8)
        try check(EVP_Digest(input, input.count, &digest, &digestLength, EVP_sha256(), nil) == 1, "EVP_Digest")
        try check(SSL_CTX_set_session_id_context(ctx, digest, digestLength) == 1, "set_session_id_context")
        return ctx
    }

    private static func install(_ chain: CertificateChain, in ctx: OpaquePointer) throws {
        func check(_ ok: Bool, _ operation: String) throws {
            if !ok { throw TLSConfigurationError.openSSLFailure(operation: operation, reasons: OpenSSLErrorQueue.drain()) }
        }
        try check(SSL_CTX_use_certificate(ctx, chain.leaf) == 1, "use_certificate")
        for intermediate in chain.intermediates {
            try check(kamirelay_SSL_CTX_add1_chain_cert(ctx, intermediate) == 1, "add1_chain_cert")
        }
        try check(SSL_CTX_use_PrivateKey(ctx, chain.privateKey) == 1, "use_PrivateKey")
        try check(SSL_CTX_check_private_key(ctx) == 1, "check_private_key")
    }

    static func normalise(_ name: String) -> String {
        var n = name.lowercased()
        if n.hasSuffix(".") { n.removeLast() }
        return n
    }

    static func isValidHostnamePattern(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for (i, label) in labels.enumerated() {
            if label == "*" && i == 0 && labels.count > 2 { continue }
            guard !label.isEmpty, label.utf8.count <= 63,
                  label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d })
            else { return false }
        }
        return true
    }
}

private func serverContext(of ssl: OpaquePointer) -> TLSServerContext? {
    guard let ctx = SSL_get_SSL_CTX(ssl), let raw = SSL_CTX_get_ex_data(ctx, serverContextExIndex) else { return nil }
    return Unmanaged<TLSServerContext>.fromOpaque(raw).takeUnretainedValue()
}

private let serverNameCallback: kamirelay_servername_cb = { ssl, alert, _ in
    guard let ssl, let server = serverContext(of: ssl) else { return kamirelay_SSL_TLSEXT_ERR_ALERT_FATAL() }
    return server.selectCertificate(ssl, alert: alert)
}

private let alpnCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
    UnsafePointer<UInt8>?, CUnsignedInt, UnsafeMutableRawPointer?
) -> CInt = { ssl, out, outLength, offered, offeredLength, _ in
    guard let ssl, let server = serverContext(of: ssl) else { return kamirelay_SSL_TLSEXT_ERR_NOACK() }
    return server.selectApplicationProtocol(out, outLength, offered, offeredLength)
}

private let ticketKeyCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, CInt
) -> CInt = { ssl, keyName, iv, cipher, mac, encrypt in
    guard let ssl, let keyName, let iv, let cipher, let mac,
          let keys = serverContext(of: ssl)?.ticketKeys else { return -1 }
    return keys.handle(keyName: keyName, iv: iv, cipher: cipher, mac: mac, encrypt: encrypt == 1)
}
