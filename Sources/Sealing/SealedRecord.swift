import CSodium

/// Who sent a message. Bound into each record's AAD so a customer line cannot be replayed as
/// an agent line.
public enum SenderRole: UInt8, Sendable, Hashable, CaseIterable, Codable {
    case customer = 1, bot = 2, agent = 3, system = 4

    /// The lower-case name used in files and on the CLI.
    public var name: String {
        switch self {
        case .customer: return "customer"
        case .bot: return "bot"
        case .agent: return "agent"
        case .system: return "system"
        }
    }

    public init?(name: String) {
        guard let role = SenderRole.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = role
    }
}

/// Where a record lives: bound into the AAD, so a record copied into another tenant, session,
/// position or sender role fails to open.
public struct RecordContext: Sendable, Hashable {
    public var tenant: String
    public var session: String
    public var sequence: UInt64
    public var role: SenderRole

    public init(tenant: String, session: String, sequence: UInt64, role: SenderRole) {
        self.tenant = tenant
        self.session = session
        self.sequence = sequence
        self.role = role
    }

    /// Unambiguous encoding: length-prefixed strings, fixed-width integers.
    func encode(into bytes: inout [UInt8]) {
        bytes.appendBigEndian(UInt32(tenant.utf8.count))
        bytes.append(contentsOf: tenant.utf8)
        bytes.appendBigEndian(UInt32(session.utf8.count))
        bytes.append(contentsOf: session.utf8)
        bytes.appendBigEndian(sequence)
        bytes.append(role.rawValue)
    }
}

/// The sealed message record:
///
/// ```
/// version(1) = 1 ‖ algorithm(1) = 1 (XChaCha20-Poly1305-IETF) ‖ key id(8, big-endian)
///   ‖ context fingerprint(4) ‖ plaintext length(4) ‖ nonce(24) ‖ ciphertext ‖ tag(16)
/// AAD = "KRrec" ‖ header without nonce ‖ tenant ‖ session ‖ sequence ‖ sender role
/// ```
///
/// The key id names the subject key. The context fingerprint (SipHash-2-4 under a fixed public
/// key over the context, which is non-secret metadata stored beside the record anyway) and the length only make errors
/// precise — a moved record reports ``SealingError/contextMismatch``, a cut one
/// ``SealingError/truncatedRecord(length:)``; authenticity comes from the tag, which covers both.
public enum SealedRecord {
    public static let formatVersion: UInt8 = 1
    public static let algorithmXChaCha20Poly1305: UInt8 = 1
    static let fingerprintOffset = 10
    static let lengthOffset = 14
    static let nonceOffset = 18
    /// Header bytes before the ciphertext.
    public static let headerLength = 18 + 24
    /// Bytes a record adds to its plaintext.
    public static let overhead = headerLength + 16
    static let aadLabel: [UInt8] = Array("KRrec".utf8)

    /// The key id a record names, read from its header (to pick the key before opening).
    public static func keyID(of record: [UInt8]) throws(SealingError) -> UInt64 {
        try checkHeader(record)
        return record.readBigEndianUInt64(at: 2)
    }

    static func checkHeader(_ record: [UInt8]) throws(SealingError) {
        guard record.count >= 2 else { throw .truncatedRecord(length: record.count) }
        guard record[0] == formatVersion else { throw .unsupportedRecordVersion(record[0]) }
        guard record[1] == algorithmXChaCha20Poly1305 else { throw .unsupportedAlgorithm(record[1]) }
        guard record.count >= overhead else { throw .truncatedRecord(length: record.count) }
        let length = Int(record.readBigEndianUInt32(at: lengthOffset))
        guard record.count >= overhead + length else { throw .truncatedRecord(length: record.count) }
    }

    /// The context fingerprint is SipHash-2-4 (`crypto_shorthash`) under this fixed, public key:
    /// a checksum for precise errors, not a secret and not the authenticator.
    static let fingerprintKey: [UInt8] = Array("KamiRelay ctx fp".utf8)

    /// Offset of the header inside the AAD (after the label).
    static let aadHeaderOffset = 5

    /// `"KRrec" ‖ header without nonce ‖ encoded context`, with the context fingerprint filled
    /// into the header part. One allocation.
    static func makeAAD(keyID: UInt64, length: Int, context: RecordContext) -> [UInt8] {
        var aad: [UInt8] = []
        aad.reserveCapacity(aadHeaderOffset + nonceOffset + 21 + context.tenant.utf8.count + context.session.utf8.count)
        aad.append(contentsOf: aadLabel)
        aad.append(formatVersion)
        aad.append(algorithmXChaCha20Poly1305)
        aad.appendBigEndian(keyID)
        aad.append(contentsOf: [0, 0, 0, 0])
        aad.appendBigEndian(UInt32(length))
        let contextStart = aad.count
        context.encode(into: &aad)
        aad.withUnsafeMutableBufferPointer { p in
            var digest = UInt64(0)
            withUnsafeMutableBytes(of: &digest) { d in
                fingerprintKey.withUnsafeBufferPointer { k in
                    _ = crypto_shorthash(d.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                         p.baseAddress! + contextStart, UInt64(p.count - contextStart), k.baseAddress!)
                }
                for i in 0..<4 { p[aadHeaderOffset + fingerprintOffset + i] = d[i] }
            }
        }
        return aad
    }

    /// Seals one message under the subject key `key` (id `keyID`).
    public static func seal(_ plaintext: [UInt8], context: RecordContext, keyID: UInt64, key: GuardedKey) -> [UInt8] {
        key.withUnsafeBytes { k in seal(plaintext, context: context, keyID: keyID, rawKey: k) }
    }

    /// Seals many messages under one key, opening the guarded key once for the whole batch.
    public static func seal(batch: [(plaintext: [UInt8], context: RecordContext)], keyID: UInt64, key: GuardedKey) -> [[UInt8]] {
        key.withUnsafeBytes { k in batch.map { seal($0.plaintext, context: $0.context, keyID: keyID, rawKey: k) } }
    }

    static func seal(_ plaintext: [UInt8], context: RecordContext, keyID: UInt64, rawKey k: UnsafeRawBufferPointer) -> [UInt8] {
        let aad = makeAAD(keyID: keyID, length: plaintext.count, context: context)
        return [UInt8](unsafeUninitializedCapacity: overhead + plaintext.count) { r, initialized in
            let raw = UnsafeMutableRawBufferPointer(r)
            aad.withUnsafeBytes { a in
                raw.baseAddress!.copyMemory(from: a.baseAddress! + aadHeaderOffset, byteCount: nonceOffset)
                randombytes_buf(raw.baseAddress! + nonceOffset, 24)
                plaintext.withUnsafeBytes { p in
                    XChaCha20Poly1305.seal(key: k, nonce: UnsafeRawBufferPointer(rebasing: raw[nonceOffset..<headerLength]),
                                           plaintext: p, aad: a, into: UnsafeMutableRawBufferPointer(rebasing: raw[headerLength...]))
                }
            }
            initialized = overhead + plaintext.count
        }
    }

    /// Opens a record read from `context`, under the subject key `key` with id `keyID`.
    public static func open(_ record: [UInt8], context: RecordContext, keyID: UInt64, key: GuardedKey) throws(SealingError) -> [UInt8] {
        try checkHeader(record)
        let result = key.withUnsafeBytes { k in
            Result { () throws(SealingError) in try open(record, context: context, keyID: keyID, rawKey: k) }
        }
        return try result.get()
    }

    /// Opens many records of one key, opening the guarded key once.
    public static func open(batch: [(record: [UInt8], context: RecordContext)], keyID: UInt64, key: GuardedKey) -> [Result<[UInt8], SealingError>] {
        key.withUnsafeBytes { k in
            batch.map { item in
                do throws(SealingError) {
                    try checkHeader(item.record)
                    return .success(try open(item.record, context: item.context, keyID: keyID, rawKey: k))
                } catch { return .failure(error) }
            }
        }
    }

    static func open(_ record: [UInt8], context: RecordContext, keyID: UInt64, rawKey k: UnsafeRawBufferPointer) throws(SealingError) -> [UInt8] {
        let found = record.readBigEndianUInt64(at: 2)
        guard found == keyID else { throw .keyIDMismatch(expected: keyID, found: found) }
        let length = Int(record.readBigEndianUInt32(at: lengthOffset))
        let aad = makeAAD(keyID: keyID, length: length, context: context)
        let fingerprintMatches = aad.withUnsafeBytes { a in record.withUnsafeBytes { r in
            sodium_memcmp(a.baseAddress! + aadHeaderOffset + fingerprintOffset, r.baseAddress! + fingerprintOffset, 4) == 0
        } }
        guard fingerprintMatches else { throw .contextMismatch }
        guard record.count == overhead + length else { throw .authenticationFailed }
        var plaintext = [UInt8](repeating: 0, count: length)
        let ok = record.withUnsafeBytes { r in aad.withUnsafeBytes { a in plaintext.withUnsafeMutableBytes { p in
            XChaCha20Poly1305.open(key: k, nonce: UnsafeRawBufferPointer(rebasing: r[nonceOffset..<headerLength]),
                                   ciphertext: UnsafeRawBufferPointer(rebasing: r[headerLength...]), aad: a, into: p)
        } } }
        guard ok else { throw .authenticationFailed }
        return plaintext
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
    mutating func writeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.bigEndian) { b in for i in 0..<b.count { self[offset + i] = b[i] } }
    }
    func readBigEndianUInt64(at offset: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(self[offset + i]) }
        return v
    }
    func readBigEndianUInt32(at offset: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(self[offset + i]) }
        return v
    }
}
