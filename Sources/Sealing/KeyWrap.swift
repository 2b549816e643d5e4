import CSodium

/// Wrapping keys under keys (master → tenant version, tenant version → subject key) with
/// XChaCha20-Poly1305. A wrapped key is `nonce(24) ‖ ciphertext(32) ‖ tag(16)`; the AAD names
/// the wrapped key (tenant, version or subject id) so a wrapped key moved to another row fails.
public enum KeyWrap {
    /// Length of a wrapped 32-byte key.
    public static let wrappedLength = XChaCha20Poly1305.nonceLength + 32 + XChaCha20Poly1305.tagLength

    /// Wraps `key` under `wrappingKey`.
    public static func wrap(_ key: GuardedKey, with wrappingKey: GuardedKey, aad: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { k in wrappingKey.withUnsafeBytes { w in wrap(rawKey: k, with: w, aad: aad) } }
    }

    static func wrap(rawKey k: UnsafeRawBufferPointer, with w: UnsafeRawBufferPointer, aad: [UInt8]) -> [UInt8] {
        let n = XChaCha20Poly1305.nonceLength
        var out = [UInt8](repeating: 0, count: n + k.count + XChaCha20Poly1305.tagLength)
        out.withUnsafeMutableBytes { o in
            randombytes_buf(o.baseAddress!, n)
            aad.withUnsafeBytes { a in
                XChaCha20Poly1305.seal(key: w, nonce: UnsafeRawBufferPointer(rebasing: o[0..<n]), plaintext: k,
                                       aad: a, into: UnsafeMutableRawBufferPointer(rebasing: o[n...]))
            }
        }
        return out
    }

    /// Unwraps into guarded memory. Throws ``SealingError/keyUnwrapFailed`` for a wrong key, a
    /// wrong AAD or an altered blob.
    /// - Parameter access: the unwrapped key's protection (``GuardedKey/Access``).
    public static func unwrap(_ wrapped: [UInt8], with wrappingKey: GuardedKey, aad: [UInt8],
                              access: GuardedKey.Access = .onDemand) throws(SealingError) -> GuardedKey {
        guard wrapped.count == wrappedLength else { throw .keyUnwrapFailed }
        do {
            return try GuardedKey(count: 32, access: access) { out in
                let ok = wrappingKey.withUnsafeBytes { w in wrapped.withUnsafeBytes { b in aad.withUnsafeBytes { a in
                    XChaCha20Poly1305.open(key: w, nonce: UnsafeRawBufferPointer(rebasing: b[0..<XChaCha20Poly1305.nonceLength]),
                                           ciphertext: UnsafeRawBufferPointer(rebasing: b[XChaCha20Poly1305.nonceLength...]),
                                           aad: a, into: out)
                } } }
                if !ok { throw SealingError.keyUnwrapFailed }
            }
        } catch { throw .keyUnwrapFailed }
    }

    /// One key to re-wrap: its wrapped form, the AAD it was wrapped with and the AAD to wrap it with.
    public struct RewrapItem: Sendable {
        public var wrapped: [UInt8]
        public var oldAAD: [UInt8]
        public var newAAD: [UInt8]
        public init(wrapped: [UInt8], oldAAD: [UInt8], newAAD: [UInt8]) {
            self.wrapped = wrapped; self.oldAAD = oldAAD; self.newAAD = newAAD
        }
    }

    /// Re-wraps many keys from `oldKey` to `newKey`. The unwrapped keys only ever exist in one
    /// guarded scratch buffer, zeroed after each key; the two wrapping keys are opened once per
    /// batch (not per key), which is what makes rewrap fast. Returns one result per item.
    public static func rewrap(_ items: [RewrapItem], from oldKey: GuardedKey, to newKey: GuardedKey) -> [Result<[UInt8], SealingError>] {
        let scratch = GuardedKey(randomCount: 32)
        let n = XChaCha20Poly1305.nonceLength
        return scratch.withUnsafeMutableBytes { s in
            oldKey.withUnsafeBytes { ok in newKey.withUnsafeBytes { nk in
                items.map { item -> Result<[UInt8], SealingError> in
                    defer { sodium_memzero(s.baseAddress!, s.count) }
                    guard item.wrapped.count == wrappedLength else { return .failure(.keyUnwrapFailed) }
                    let opened = item.wrapped.withUnsafeBytes { b in item.oldAAD.withUnsafeBytes { a in
                        XChaCha20Poly1305.open(key: ok, nonce: UnsafeRawBufferPointer(rebasing: b[0..<n]),
                                               ciphertext: UnsafeRawBufferPointer(rebasing: b[n...]), aad: a, into: s)
                    } }
                    guard opened else { return .failure(.keyUnwrapFailed) }
                    return .success(wrap(rawKey: UnsafeRawBufferPointer(s), with: nk, aad: item.newAAD))
                }
            } }
        }
    }
}
