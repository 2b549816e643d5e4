/// Which TLS versions and cipher suites a server offers.
public enum TLSProfile: String, Sendable, CaseIterable {
    /// Mozilla "intermediate": TLS 1.2 and 1.3; TLS 1.2 only with ECDHE and AES-GCM or
    /// CHACHA20-POLY1305 (no CBC, no RSA key exchange, no DHE). The default.
    case intermediate
    /// Mozilla "modern": TLS 1.3 only.
    case modern

    /// TLS 1.3 suites, in Mozilla's order.
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// TLS 1.2 suites: ECDHE + AEAD only, in Mozilla's order.
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    /// Key-exchange groups: X25519, P-256, P-384.
    static let groups = "X25519:P-256:P-384"
}

/// A certificate chain and its private key, as PEM files.
public struct TLSCertificateFiles: Sendable, Hashable {
    /// PEM file: the leaf certificate first, then the intermediates (the root is not needed).
    public var certificateChainPath: String
    /// PEM file with the unencrypted private key (PKCS#8 or traditional). Should be mode 0600.
    public var privateKeyPath: String

    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }
}

/// One tenant's certificate and the hostnames (SNI) it answers for.
public struct TLSTenantCertificate: Sendable, Hashable {
    /// The tenant identifier handed to the layers above once the handshake picked this certificate.
    public var tenant: String
    /// Exact names (`shop.example.com`) or one-label wildcards (`*.example.com`), case-insensitive.
    public var hostnames: [String]
    public var files: TLSCertificateFiles

    public init(tenant: String, hostnames: [String], files: TLSCertificateFiles) {
        self.tenant = tenant
        self.hostnames = hostnames
        self.files = files
    }
}

/// Server-side TLS settings. The defaults are safe; most deployments only set certificates.
public struct TLSServerConfiguration: Sendable {
    /// What to do with a client whose SNI names no tenant (or that sends no SNI).
    public enum UnknownServerName: Sendable, Hashable {
        /// Serve `defaultCertificate` (the connection then has no tenant).
        case useDefaultCertificate
        /// Fail the handshake with an `unrecognized_name` alert.
        case reject
    }

    /// What to do with a certificate outside its validity period at load or reload time.
    public enum ExpiredCertificatePolicy: Sendable, Hashable {
        /// Refuse to load it (the default; on reload the old certificates stay in service).
        case refuse
        /// Load it and log a warning.
        case warn
    }

    /// TLS session resumption.
    public enum SessionTickets: Sendable, Hashable {
        /// Stateless tickets (RFC 5077 / TLS 1.3 PSK), encrypted under a key rotated every
        /// `rotationInterval` seconds; tickets under the previous key are still accepted (and
        /// renewed) for one more interval, then fail and cost a full handshake.
        case rotating(rotationInterval: Int64)
        /// No tickets and no session cache: every connection does a full handshake.
        case disabled
    }

    public var profile: TLSProfile = .intermediate
    /// Certificate for clients without SNI or with an unknown name, when `unknownServerName` allows it.
    public var defaultCertificate: TLSCertificateFiles?
    public var tenants: [TLSTenantCertificate] = []
    public var unknownServerName: UnknownServerName = .useDefaultCertificate
    public var expiredCertificates: ExpiredCertificatePolicy = .refuse
    public var sessionTickets: SessionTickets = .rotating(rotationInterval: 12 * 3600)
    /// ALPN protocols the server accepts, most preferred first. A client offering none of them
    /// proceeds without ALPN.
    public var applicationProtocols: [String] = ["http/1.1"]
    /// How long a connection may take from accept to a finished handshake (slowloris guard).
    public var handshakeTimeoutSeconds: Int64 = 10
    /// How long to wait for the peer's close_notify after sending ours before closing the socket.
    public var shutdownTimeoutSeconds: Int64 = 3
    /// How long, once a connection is closing, queued data and our close_notify may take to reach
    /// a peer that stopped reading before the socket is closed anyway.
    public var closeWriteTimeoutSeconds: Int64 = 30

    public init(
        defaultCertificate: TLSCertificateFiles? = nil,
        tenants: [TLSTenantCertificate] = [],
        profile: TLSProfile = .intermediate
    ) {
        self.defaultCertificate = defaultCertificate
        self.tenants = tenants
        self.profile = profile
    }
}
