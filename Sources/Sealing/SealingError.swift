/// Why a sealing operation failed. Every case is distinct so that operators and tests can tell a
/// corrupt record from a wrong key; no case carries key material or plaintext.
public enum SealingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The record is shorter than its header and tag: it was cut off.
    case truncatedRecord(length: Int)
    /// The record's format version byte is not one this build reads.
    case unsupportedRecordVersion(UInt8)
    /// The record names an algorithm this build does not implement.
    case unsupportedAlgorithm(UInt8)
    /// The record's key id is not the key offered to open it.
    case keyIDMismatch(expected: UInt64, found: UInt64)
    /// The record was sealed for a different tenant, session, position or sender role
    /// (its context fingerprint does not match the place it was read from).
    case contextMismatch
    /// The authentication tag does not verify: the ciphertext or header was altered, or the
    /// key is wrong.
    case authenticationFailed
    /// A wrapped key does not open under the wrapping key offered (wrong tenant key or master key).
    case keyUnwrapFailed
    /// The passphrase does not open the master key file.
    case wrongPassphrase
    /// The master key file is damaged or not a KamiRelay key file.
    case corruptKeyFile(String)
    /// Argon2id could not run with the stored parameters (usually: not enough memory).
    case passwordHashingFailed
    /// Key material of the wrong length was supplied.
    case invalidKeyLength(expected: Int, found: Int)

    public var description: String {
        switch self {
        case .truncatedRecord(let n): return "sealed record truncated (\(n) bytes)"
        case .unsupportedRecordVersion(let v): return "sealed record has unsupported format version \(v)"
        case .unsupportedAlgorithm(let a): return "sealed record uses unsupported algorithm \(a)"
        case .keyIDMismatch(let e, let f): return "sealed record is for key \(f), not key \(e)"
        case .contextMismatch:
            return "sealed record belongs to another tenant, session, position or sender (moved or copied record)"
        case .authenticationFailed: return "sealed record failed authentication (tampered or wrong key)"
        case .keyUnwrapFailed: return "wrapped key did not open under the given wrapping key (wrong key)"
        case .wrongPassphrase: return "wrong passphrase for the master key"
        case .corruptKeyFile(let why): return "master key file is corrupt: \(why)"
        case .passwordHashingFailed: return "Argon2id failed (not enough memory for the stored parameters?)"
        case .invalidKeyLength(let e, let f): return "key must be \(e) bytes, got \(f)"
        }
    }
}
