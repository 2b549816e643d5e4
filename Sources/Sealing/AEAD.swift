import CSodium

/// XChaCha20-Poly1305 (IETF) authenticated encryption, libsodium's
/// `crypto_aead_xchacha20poly1305_ietf_*`. 24-byte random nonces are safe to draw at random for
/// any realistic number of messages under one key.
public enum XChaCha20Poly1305 {
    /// Key length in bytes (32).
    public static let keyLength = Int(crypto_aead_xchacha20poly1305_ietf_keybytes())
    /// Nonce length in bytes (24).
    public static let nonceLength = Int(crypto_aead_xchacha20poly1305_ietf_npubbytes())
    /// Tag length in bytes (16).
    public static let tagLength = Int(crypto_aead_xchacha20poly1305_ietf_abytes())

    /// Encrypts `plaintext` into `output` (which must have room for `plaintext.count + tagLength`).
    /// Raw form for callers that already hold the key bytes (batch paths).
    @inlinable
    public static func seal(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                            plaintext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                            into output: UnsafeMutableRawBufferPointer) {
        precondition(key.count == keyLength && nonce.count == nonceLength)
        precondition(output.count >= plaintext.count + tagLength)
        var outLength: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            output.baseAddress!.assumingMemoryBound(to: UInt8.self), &outLength,
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
            aad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(aad.count), nil,
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
            key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// Decrypts and verifies; returns false (and leaves `output` zeroed) when the tag does not verify.
    @inlinable
    public static func open(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                            ciphertext: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                            into output: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(key.count == keyLength && nonce.count == nonceLength)
        guard ciphertext.count >= tagLength else { return false }
        precondition(output.count >= ciphertext.count - tagLength)
        var outLength: UInt64 = 0
        let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
            output.baseAddress?.assumingMemoryBound(to: UInt8.self), &outLength, nil,
            ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count),
            aad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(aad.count),
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
            key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        if rc != 0 {
            if output.count > 0 { sodium_memzero(output.baseAddress!, output.count) }
            return false
        }
        return true
    }

    /// Seals `plaintext` under `key` with a fresh random nonce: returns `nonce ‖ ciphertext ‖ tag`.
    public static func seal(_ plaintext: [UInt8], aad: [UInt8], key: GuardedKey) -> [UInt8] {
        precondition(key.count == keyLength, "XChaCha20-Poly1305 keys are 32 bytes")
        var out = [UInt8](repeating: 0, count: nonceLength + plaintext.count + tagLength)
        out.withUnsafeMutableBytes { o in
            randombytes_buf(o.baseAddress!, nonceLength)
            key.withUnsafeBytes { k in
                plaintext.withUnsafeBytes { p in aad.withUnsafeBytes { a in
                    seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: o[0..<nonceLength]), plaintext: p, aad: a,
                         into: UnsafeMutableRawBufferPointer(rebasing: o[nonceLength...]))
                } }
            }
        }
        return out
    }

    /// Opens `nonce ‖ ciphertext ‖ tag` made by ``seal(_:aad:key:)``; nil when it does not verify.
    public static func open(_ box: [UInt8], aad: [UInt8], key: GuardedKey) -> [UInt8]? {
        precondition(key.count == keyLength, "XChaCha20-Poly1305 keys are 32 bytes")
        guard box.count >= nonceLength + tagLength else { return nil }
        var out = [UInt8](repeating: 0, count: box.count - nonceLength - tagLength)
        let ok = box.withUnsafeBytes { b in
            aad.withUnsafeBytes { a in out.withUnsafeMutableBytes { o in key.withUnsafeBytes { k in
                open(key: k, nonce: UnsafeRawBufferPointer(rebasing: b[0..<nonceLength]),
                     ciphertext: UnsafeRawBufferPointer(rebasing: b[nonceLength...]), aad: a, into: o)
            } } }
        }
        return ok ? out : nil
    }
}
