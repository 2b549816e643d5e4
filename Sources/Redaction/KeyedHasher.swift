/// A keyed hash (a PRF), supplied by the caller so this target needs no crypto library.
///
/// KamiRelay's implementation is keyed BLAKE2b over libsodium (`Sealing.BLAKE2bKeyedHasher`).
/// The redactor uses it for two things: to hold the shop's issued card keys as hashes rather
/// than plaintext, and to derive stable pseudonyms for the `token` action. It never stores the key.
public protocol KeyedHasher: Sendable {
    /// Returns a keyed digest of `message`, at least 16 bytes long.
    func digest(_ message: [UInt8]) -> [UInt8]
}
