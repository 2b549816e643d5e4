import CSodium

/// Purpose keys derived from a root key with `crypto_kdf_derive_from_key` (keyed BLAKE2b with a
/// subkey id and an 8-byte context; libsodium 1.0.18 has no HKDF). Each purpose has its own
/// context, so a key derived for one purpose is unrelated to every other.
public enum KeyPurpose: String, Sendable, CaseIterable {
    /// Blind indexes of subject identifiers (e-mail, phone, order number).
    case blindIndex = "KRbindex"
    /// Redaction tokens (the `token` action's keyed pseudonyms).
    case tokenisation = "KRtoken_"
    /// The access audit log (pseudonymised subjects; the later hash chain's MAC key).
    case audit = "KRaudit_"
    /// De-duplication of imported chat-log lines.
    case importDedup = "KRimport"
    /// The seed of the tenant's Ed25519 compliance signing key (erasure receipts, audit checkpoints).
    case complianceSigning = "KRsign__"
    /// The relay's chat state at rest (resume and HTTP-API sessions: sealed state, token hashes).
    case relayState = "KRrelay_"
    /// Keyed hashes of the tenant's HTTP API keys.
    case apiKeys = "KRapikey"
    /// Keyed hashes of agent-console login session tokens (and the CSRF tokens derived from them).
    case agentSessions = "KRagsess"
}

extension GuardedKey {
    /// Derives a 32-byte purpose key. `self` must be a 32-byte root key.
    public func derive(_ purpose: KeyPurpose, subkeyID: UInt64 = 1, length: Int = 32) -> GuardedKey {
        precondition(count == Int(crypto_kdf_keybytes()), "KDF root keys are 32 bytes")
        precondition(length >= Int(crypto_kdf_bytes_min()) && length <= Int(crypto_kdf_bytes_max()))
        let context = Array(purpose.rawValue.utf8).map { CChar(bitPattern: $0) }
        precondition(context.count == Int(crypto_kdf_contextbytes()))
        return GuardedKey(count: length) { out in
            withUnsafeBytes { root in
                _ = crypto_kdf_derive_from_key(out.baseAddress!.assumingMemoryBound(to: UInt8.self), length,
                                               subkeyID, context,
                                               root.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
    }
}

extension BLAKE2bKeyedHasher {
    /// A hasher whose key is a guarded purpose key (copied; the copy is zeroed when dropped).
    public init(guardedKey: GuardedKey, outputLength: Int = 16) {
        var bytes = guardedKey.withUnsafeBytes { Array($0) }
        defer { bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) } }
        self.init(key: bytes, outputLength: outputLength)
    }
}
