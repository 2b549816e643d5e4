import CSodium

/// libsodium, initialised once per process.
public enum Sodium {
    /// `sodium_init` has run (it is idempotent and thread-safe; a failure is fatal because
    /// nothing cryptographic may proceed without a working RNG).
    private static let initialised: Bool = {
        guard sodium_init() >= 0 else { fatalError("libsodium failed to initialise") }
        return true
    }()

    /// Call before any libsodium use; cheap after the first call.
    @inline(__always) public static func ensureInitialised() { _ = initialised }

    /// The linked libsodium version string, e.g. `1.0.18`.
    public static var version: String {
        ensureInitialised()
        return String(cString: sodium_version_string())
    }

    /// Cryptographically secure random bytes.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialised()
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
        return bytes
    }

    /// Zeroes memory in a way the compiler may not optimise away (`sodium_memzero`), e.g. a
    /// passphrase buffer after use.
    public static func zero(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    /// Constant-time comparison of two byte strings of equal length (false when lengths differ).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in
            sodium_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 } }
    }
}
