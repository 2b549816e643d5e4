import CSodium
import Redaction

/// Keyed BLAKE2b (libsodium `crypto_generichash`) as the redactor's ``KeyedHasher``:
/// blind indexes, card-key hashes and redaction tokens.
///
/// The key lives in libsodium guarded memory (see ``GuardedKey``), read-only for its lifetime
/// because it is used on every message, and is zeroed when the last reference goes away.
public struct BLAKE2bKeyedHasher: KeyedHasher {
    private let key: GuardedKey
    /// Digest length in bytes (16...64).
    public let outputLength: Int

    /// - Parameter key: 16...64 bytes of key material; copied into guarded memory.
    public init(key: [UInt8], outputLength: Int = 16) {
        precondition((16...64).contains(key.count), "BLAKE2b keys are 16...64 bytes")
        precondition((16...64).contains(outputLength), "BLAKE2b outputs are 16...64 bytes")
        self.key = GuardedKey(copying: key, access: .readOnly)
        self.outputLength = outputLength
    }

    /// A hasher under a fresh random key (for one process run, e.g. the CLI).
    public static func random() -> BLAKE2bKeyedHasher {
        var key = Sodium.randomBytes(32)
        defer { key.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) } }
        return BLAKE2bKeyedHasher(key: key)
    }

    public func digest(_ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputLength)
        // An empty message still needs a valid pointer for the C call.
        let input = message.isEmpty ? [0] : message
        key.withUnsafeBytes { k in
            input.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    _ = crypto_generichash(o.baseAddress!, outputLength, m.baseAddress!,
                                           UInt64(message.count),
                                           k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count)
                }
            }
        }
        return out
    }
}
