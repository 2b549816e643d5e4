import CSodium

/// Argon2id (libsodium `crypto_pwhash`, `ALG_ARGON2ID13`) with explicit, stored parameters.
public struct Argon2idParameters: Sendable, Hashable, Codable {
    /// Passes over memory.
    public var opsLimit: UInt64
    /// Memory in bytes.
    public var memLimit: UInt64

    public init(opsLimit: UInt64, memLimit: UInt64) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    /// libsodium's MODERATE profile (≈0.6 s, 256 MiB): the default for the master key.
    public static let moderate = Argon2idParameters(opsLimit: UInt64(crypto_pwhash_opslimit_moderate()),
                                                   memLimit: UInt64(crypto_pwhash_memlimit_moderate()))
    /// libsodium's INTERACTIVE profile (≈60 ms, 64 MiB).
    public static let interactive = Argon2idParameters(opsLimit: UInt64(crypto_pwhash_opslimit_interactive()),
                                                      memLimit: UInt64(crypto_pwhash_memlimit_interactive()))
    /// The smallest parameters libsodium accepts; for tests only.
    public static let minimumForTests = Argon2idParameters(opsLimit: UInt64(crypto_pwhash_opslimit_min()),
                                                          memLimit: UInt64(crypto_pwhash_memlimit_min()))

    /// Whether libsodium accepts these parameters (a damaged key file may carry absurd ones).
    public var isAcceptable: Bool {
        opsLimit >= UInt64(crypto_pwhash_opslimit_min()) && opsLimit <= 64
            && memLimit >= UInt64(crypto_pwhash_memlimit_min()) && memLimit <= 4 << 30
    }
}

public enum PasswordKDF {
    /// Salt length in bytes (16).
    public static let saltLength = Int(crypto_pwhash_saltbytes())

    /// Derives a 32-byte key from a passphrase into guarded memory.
    public static func deriveKey(passphrase: [UInt8], salt: [UInt8], parameters: Argon2idParameters) throws(SealingError) -> GuardedKey {
        Sodium.ensureInitialised()
        guard salt.count == saltLength, parameters.isAcceptable else { throw .passwordHashingFailed }
        do {
            return try GuardedKey(count: 32) { out in
                // A NUL-padded copy so an empty passphrase still has a valid pointer; zeroed after.
                var buffer = passphrase.map { CChar(bitPattern: $0) } + [0]
                defer { buffer.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) } }
                let rc = crypto_pwhash(out.baseAddress!.assumingMemoryBound(to: UInt8.self), 32,
                                       buffer, UInt64(passphrase.count), salt,
                                       parameters.opsLimit, Int(parameters.memLimit), crypto_pwhash_ALG_ARGON2ID13)
                if rc != 0 { throw SealingError.passwordHashingFailed }
            }
        } catch { throw .passwordHashingFailed }
    }
}
