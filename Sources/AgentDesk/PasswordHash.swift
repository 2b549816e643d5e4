import CSodium
import Sealing

/// Password hashes for agent accounts: libsodium `crypto_pwhash_str_alg` with Argon2id13. The
/// stored string (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`) carries its own salt and cost, so
/// the cost can be raised later without breaking existing accounts.
public enum PasswordHash {
    /// Shortest accepted password, in Unicode scalars.
    public static let minimumLength = 12
    /// Longest accepted password, in bytes (Argon2 takes any length; this bounds the work).
    public static let maximumBytes = 1_024

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case tooShort(minimum: Int)
        case tooLong(maximumBytes: Int)
        case hashingFailed
        public var description: String {
            switch self {
            case .tooShort(let n): return "the password must be at least \(n) characters long"
            case .tooLong(let n): return "the password must be at most \(n) bytes long"
            case .hashingFailed: return "password hashing failed (out of memory?)"
            }
        }
    }

    /// Checks length rules (the only rules: long passphrases beat composition rules).
    public static func validate(_ password: [UInt8]) throws(Failure) {
        guard password.count <= maximumBytes else { throw .tooLong(maximumBytes: maximumBytes) }
        let scalars = String(decoding: password, as: UTF8.self).unicodeScalars.count
        guard scalars >= minimumLength else { throw .tooShort(minimum: minimumLength) }
    }

    /// Hashes a password (after ``validate(_:)``). `parameters` default to libsodium's
    /// INTERACTIVE cost (≈60 ms, 64 MiB), suitable for a login form.
    public static func hash(_ password: [UInt8], parameters: Argon2idParameters = .interactive) throws(Failure) -> String {
        try validate(password)
        Sodium.ensureInitialised()
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()))
        var buffer = password.map { CChar(bitPattern: $0) } + [0]
        defer { buffer.withUnsafeMutableBytes { Sodium.zero($0) } }
        let rc = crypto_pwhash_str_alg(&out, buffer, UInt64(password.count), parameters.opsLimit, Int(parameters.memLimit),
                                       crypto_pwhash_ALG_ARGON2ID13)
        guard rc == 0 else { throw .hashingFailed }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `password` matches `stored`. Runs the full Argon2id computation either way.
    public static func verify(_ password: [UInt8], against stored: String) -> Bool {
        guard password.count <= maximumBytes, stored.hasPrefix("$argon2id$") else { return false }
        Sodium.ensureInitialised()
        var buffer = password.map { CChar(bitPattern: $0) } + [0]
        defer { buffer.withUnsafeMutableBytes { Sodium.zero($0) } }
        var hash = Array(stored.utf8CString)
        guard hash.count <= Int(crypto_pwhash_strbytes()) else { return false }
        hash += [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()) - hash.count)
        return crypto_pwhash_str_verify(hash, buffer, UInt64(password.count)) == 0
    }
}
