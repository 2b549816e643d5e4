import CSodium

/// Ed25519 signatures (libsodium `crypto_sign_*`), e.g. for erasure receipts and audit checkpoints.
public struct Ed25519SigningKey: Sendable {
    /// The 64-byte libsodium secret key (seed ‖ public key) in guarded memory.
    private let secret: GuardedKey
    /// The 32-byte public key.
    public let publicKey: [UInt8]

    /// A fresh random key pair.
    public init() {
        Sodium.ensureInitialised()
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_publickeybytes()))
        secret = GuardedKey(count: Int(crypto_sign_secretkeybytes())) { sk in
            _ = crypto_sign_keypair(&pk, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        publicKey = pk
    }

    /// The key pair derived from a 32-byte seed (e.g. a ``KeyPurpose/complianceSigning`` key):
    /// the same seed always gives the same pair, so the key need not be stored.
    public init(seed: GuardedKey) {
        precondition(seed.count == Int(crypto_sign_seedbytes()), "Ed25519 seeds are 32 bytes")
        Sodium.ensureInitialised()
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_publickeybytes()))
        secret = GuardedKey(count: Int(crypto_sign_secretkeybytes())) { sk in
            seed.withUnsafeBytes { s in
                _ = crypto_sign_seed_keypair(&pk, sk.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                             s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        publicKey = pk
    }

    /// A 64-byte detached signature.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Int(crypto_sign_bytes()))
        secret.withUnsafeBytes { sk in
            _ = crypto_sign_detached(&sig, nil, message, UInt64(message.count), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return sig
    }

    /// Verifies a detached signature against a public key.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ensureInitialised()
        guard signature.count == Int(crypto_sign_bytes()), publicKey.count == Int(crypto_sign_publickeybytes()) else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}
