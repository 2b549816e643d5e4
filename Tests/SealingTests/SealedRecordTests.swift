import Foundation
import Testing
@testable import Sealing

@Suite struct SealedRecordTests {
    let key = GuardedKey(randomCount: 32)
    let keyID: UInt64 = 42
    let context = RecordContext(tenant: "shop1", session: "s-1", sequence: 7, role: .customer)
    let message = Array("卡密无效，请帮我查一下".utf8)

    func sealed() -> [UInt8] { SealedRecord.seal(message, context: context, keyID: keyID, key: key) }

    func openError(_ record: [UInt8], context: RecordContext? = nil, keyID: UInt64? = nil, key: GuardedKey? = nil) -> SealingError? {
        do {
            _ = try SealedRecord.open(record, context: context ?? self.context, keyID: keyID ?? self.keyID, key: key ?? self.key)
            return nil
        } catch { return error }
    }

    @Test func roundTripAndLayout() throws {
        let record = sealed()
        #expect(record.count == message.count + SealedRecord.overhead)
        #expect(record[0] == 1 && record[1] == 1)
        #expect(try SealedRecord.keyID(of: record) == keyID)
        #expect(try SealedRecord.open(record, context: context, keyID: keyID, key: key) == message)
        // The plaintext does not appear in the record.
        #expect(Data(record).range(of: Data(message)) == nil)
    }

    @Test func emptyMessage() throws {
        let record = SealedRecord.seal([], context: context, keyID: keyID, key: key)
        #expect(try SealedRecord.open(record, context: context, keyID: keyID, key: key) == [])
    }

    @Test func tamperedCiphertextIsRejected() {
        for position in [SealedRecord.headerLength, SealedRecord.headerLength + 5, sealed().count - 1] {
            var record = sealed()
            record[position] ^= 0x01
            #expect(openError(record) == .authenticationFailed)
        }
        var nonceFlip = sealed()
        nonceFlip[SealedRecord.headerLength - 1] ^= 0x80
        #expect(openError(nonceFlip) == .authenticationFailed)
    }

    @Test func swappedAADFieldsAreRejected() {
        let record = sealed()
        var other = context; other.tenant = "shop2"
        #expect(openError(record, context: other) == .contextMismatch)
        other = context; other.session = "s-2"
        #expect(openError(record, context: other) == .contextMismatch)
        other = context; other.sequence = 8
        #expect(openError(record, context: other) == .contextMismatch)
        other = context; other.role = .agent
        #expect(openError(record, context: other) == .contextMismatch)
        // Length-prefixed fields: moving a character between tenant and session still fails.
        let a = RecordContext(tenant: "ab", session: "c", sequence: 1, role: .bot)
        let b = RecordContext(tenant: "a", session: "bc", sequence: 1, role: .bot)
        let r = SealedRecord.seal(message, context: a, keyID: keyID, key: key)
        #expect(openError(r, context: b) == .contextMismatch)
    }

    @Test func forgedFingerprintStillFailsAuthentication() {
        // An attacker who rewrites the (unkeyed) fingerprint to match the new place gains nothing.
        let record = sealed()
        var moved = context; moved.session = "s-2"
        var forged = SealedRecord.seal(message, context: moved, keyID: keyID, key: GuardedKey(randomCount: 32))
        forged.replaceSubrange(SealedRecord.headerLength..., with: record[SealedRecord.headerLength...])
        forged.replaceSubrange(SealedRecord.nonceOffset..<SealedRecord.headerLength, with: record[SealedRecord.nonceOffset..<SealedRecord.headerLength])
        #expect(openError(forged, context: moved) == .authenticationFailed)
    }

    @Test func wrongKeyAndWrongKeyID() {
        #expect(openError(sealed(), key: GuardedKey(randomCount: 32)) == .authenticationFailed)
        #expect(openError(sealed(), keyID: 43) == .keyIDMismatch(expected: 43, found: 42))
    }

    @Test func truncatedRecordsAreRejected() {
        let record = sealed()
        for length in [0, 1, 10, SealedRecord.headerLength, SealedRecord.overhead, record.count - 1] {
            #expect(openError(Array(record.prefix(length))) == .truncatedRecord(length: length), "length \(length)")
        }
    }

    @Test func unknownVersionAndAlgorithm() {
        var record = sealed()
        record[0] = 2
        #expect(openError(record) == .unsupportedRecordVersion(2))
        record = sealed()
        record[1] = 9
        #expect(openError(record) == .unsupportedAlgorithm(9))
    }

    @Test func batchSealAndOpenAgreeWithSingle() throws {
        let items = (0..<20).map { i in (plaintext: Array("m\(i)".utf8), context: RecordContext(tenant: "t", session: "s", sequence: UInt64(i), role: .bot)) }
        let records = SealedRecord.seal(batch: items, keyID: 9, key: key)
        for (i, r) in records.enumerated() {
            #expect(try SealedRecord.open(r, context: items[i].context, keyID: 9, key: key) == items[i].plaintext)
        }
        // Records 3 and 4 swap places; their contexts stay where they were.
        var swappedRecords = records
        swappedRecords.swapAt(3, 4)
        let swapped = zip(swappedRecords, items).map { (record: $0, context: $1.context) }
        let opened = SealedRecord.open(batch: swapped, keyID: 9, key: key)
        #expect(opened.filter { (try? $0.get()) == nil }.count == 2)
    }

    @Test func noNonceReuseAcrossOneMillionEncryptions() {
        struct Nonce: Hashable { var a: UInt64, b: UInt64, c: UInt64 }
        var seen = Set<Nonce>(minimumCapacity: 1_000_000)
        let ctx = RecordContext(tenant: "t", session: "s", sequence: 0, role: .customer)
        let batch = [(plaintext: [UInt8](repeating: 0x41, count: 8), context: ctx)]
        let chunk = Array(repeating: batch[0], count: 10_000)
        for _ in 0..<100 {
            for r in SealedRecord.seal(batch: chunk, keyID: 1, key: key) {
                let n = r[SealedRecord.nonceOffset..<SealedRecord.headerLength].withUnsafeBytes {
                    Nonce(a: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                          b: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                          c: $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
                }
                seen.insert(n)
            }
        }
        #expect(seen.count == 1_000_000)
    }
}

@Suite struct KeyWrapTests {
    @Test func wrapUnwrapAndWrongKey() throws {
        let tenantA = GuardedKey(randomCount: 32), tenantB = GuardedKey(randomCount: 32)
        let subject = GuardedKey(randomCount: 32)
        let wrapped = KeyWrap.wrap(subject, with: tenantA, aad: Array("subject 1".utf8))
        #expect(wrapped.count == KeyWrap.wrappedLength)
        #expect(try KeyWrap.unwrap(wrapped, with: tenantA, aad: Array("subject 1".utf8)).constantTimeEquals(subject))
        #expect(throws: SealingError.keyUnwrapFailed) { try KeyWrap.unwrap(wrapped, with: tenantB, aad: Array("subject 1".utf8)) }
        #expect(throws: SealingError.keyUnwrapFailed) { try KeyWrap.unwrap(wrapped, with: tenantA, aad: Array("subject 2".utf8)) }
        #expect(throws: SealingError.keyUnwrapFailed) { try KeyWrap.unwrap(Array(wrapped.dropLast()), with: tenantA, aad: Array("subject 1".utf8)) }
    }

    @Test func batchRewrapMovesKeysAndReportsBadItems() throws {
        let old = GuardedKey(randomCount: 32), new = GuardedKey(randomCount: 32)
        let subjects = (0..<5).map { _ in GuardedKey(randomCount: 32) }
        var items = subjects.enumerated().map { i, k in
            KeyWrap.RewrapItem(wrapped: KeyWrap.wrap(k, with: old, aad: [UInt8(i)]), oldAAD: [UInt8(i)], newAAD: [UInt8(i), 2])
        }
        items[3].wrapped[30] ^= 1
        let results = KeyWrap.rewrap(items, from: old, to: new)
        for (i, r) in results.enumerated() {
            if i == 3 {
                #expect(throws: SealingError.keyUnwrapFailed) { try r.get() }
            } else {
                let unwrapped = try KeyWrap.unwrap(try r.get(), with: new, aad: [UInt8(i), 2])
                #expect(unwrapped.constantTimeEquals(subjects[i]))
            }
        }
    }
}

@Suite struct MasterKeyFileTests {
    func tempDir() -> String {
        let dir = NSTemporaryDirectory() + "kr-sealing-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func createUnlockWrongPassphraseAndNoOverwrite() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/master.key"
        let master = GuardedKey(randomCount: 32)
        let id = try MasterKeyFile.create(at: path, masterKey: master, passphrase: Array("correct horse".utf8), parameters: .minimumForTests)
        let file = try MasterKeyFile(contentsOf: path)
        #expect(file.keyID == id)
        #expect(file.parameters == .minimumForTests)
        #expect(try file.unlock(passphrase: Array("correct horse".utf8)).constantTimeEquals(master))
        #expect(throws: SealingError.wrongPassphrase) { try file.unlock(passphrase: Array("correct horse!".utf8)) }
        #expect(throws: SealingError.wrongPassphrase) { try file.unlock(passphrase: []) }
        #expect(throws: DurableFile.Exists.self) {
            try MasterKeyFile.create(at: path, masterKey: GuardedKey(randomCount: 32), passphrase: Array("x".utf8), parameters: .minimumForTests)
        }
        // The original is intact after the refused overwrite.
        #expect(try MasterKeyFile(contentsOf: path).unlock(passphrase: Array("correct horse".utf8)).constantTimeEquals(master))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        // The key bytes are not in the file in any common encoding.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let raw = master.withUnsafeBytes { Array($0) }
        #expect(!text.contains(Data(raw).base64EncodedString()))
        #expect(!text.contains(raw.map { String(format: "%02x", $0) }.joined()))
    }

    @Test func tamperedAndCorruptFiles() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/master.key"
        try MasterKeyFile.create(at: path, masterKey: GuardedKey(randomCount: 32), passphrase: Array("pw-123456789".utf8), parameters: .minimumForTests)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        // Raising the stored cost changes the derived key: a clear wrong-passphrase, not garbage.
        json["opsLimit"] = (json["opsLimit"] as! Int) + 1
        let tampered = dir + "/tampered.key"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: tampered))
        #expect(throws: SealingError.wrongPassphrase) { try MasterKeyFile(contentsOf: tampered).unlock(passphrase: Array("pw-123456789".utf8)) }

        let garbage = dir + "/garbage.key"
        try Data("hello".utf8).write(to: URL(fileURLWithPath: garbage))
        #expect { try MasterKeyFile(contentsOf: garbage) } throws: { e in
            if case .corruptKeyFile = e as? SealingError { return true } else { return false }
        }
        json["opsLimit"] = 1_000_000
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: tampered))
        #expect { try MasterKeyFile(contentsOf: tampered) } throws: { e in
            if case .corruptKeyFile = e as? SealingError { return true } else { return false }
        }
        #expect { try MasterKeyFile(contentsOf: dir + "/missing.key") } throws: { e in
            if case .corruptKeyFile = e as? SealingError { return true } else { return false }
        }
    }
}

@Suite struct KeyMaterialTests {
    @Test func guardedKeyNeverPrintsItsBytes() {
        let bytes: [UInt8] = Array(repeating: 0xAB, count: 32)
        let key = GuardedKey(copying: bytes)
        var dumped = ""
        dump(key, to: &dumped)
        for text in ["\(key)", String(describing: key), String(reflecting: key), dumped] {
            #expect(!text.lowercased().contains("abab"))
            #expect(!text.contains("171"))
        }
        #expect("\(key)".contains("redacted"))
    }

    @Test func purposeKeysAreDistinctAndDeterministic() {
        let root = GuardedKey(randomCount: 32)
        let derived = KeyPurpose.allCases.map { root.derive($0).withUnsafeBytes { Array($0) } }
        #expect(Set(derived).count == KeyPurpose.allCases.count)
        #expect(root.derive(.blindIndex).constantTimeEquals(root.derive(.blindIndex)))
        #expect(!GuardedKey(randomCount: 32).derive(.blindIndex).constantTimeEquals(root.derive(.blindIndex)))
    }

    @Test func argon2idDerivationDependsOnEveryInput() throws {
        let salt = Sodium.randomBytes(PasswordKDF.saltLength)
        let a = try PasswordKDF.deriveKey(passphrase: Array("pw".utf8), salt: salt, parameters: .minimumForTests)
        #expect(a.constantTimeEquals(try PasswordKDF.deriveKey(passphrase: Array("pw".utf8), salt: salt, parameters: .minimumForTests)))
        #expect(!a.constantTimeEquals(try PasswordKDF.deriveKey(passphrase: Array("pX".utf8), salt: salt, parameters: .minimumForTests)))
        #expect(!a.constantTimeEquals(try PasswordKDF.deriveKey(passphrase: Array("pw".utf8), salt: Sodium.randomBytes(16), parameters: .minimumForTests)))
        #expect(throws: SealingError.passwordHashingFailed) {
            try PasswordKDF.deriveKey(passphrase: [], salt: [1, 2, 3], parameters: .minimumForTests)
        }
    }

    @Test func ed25519SignAndVerify() {
        let key = Ed25519SigningKey()
        let message = Array("erasure receipt 1".utf8)
        let signature = key.sign(message)
        #expect(Ed25519SigningKey.verify(signature: signature, message: message, publicKey: key.publicKey))
        #expect(!Ed25519SigningKey.verify(signature: signature, message: Array("erasure receipt 2".utf8), publicKey: key.publicKey))
        #expect(!Ed25519SigningKey.verify(signature: signature, message: message, publicKey: Ed25519SigningKey().publicKey))
    }
}

@Suite struct BlindIndexTests {
    let indexer = BlindIndexer(key: GuardedKey(randomCount: 32))

    @Test func normalisation() {
        #expect(SubjectIdentifier.email("  Alice@Example.COM ").normalised == "alice@example.com")
        #expect(SubjectIdentifier.email("not-an-email").normalised == nil)
        #expect(SubjectIdentifier.phone("13812345678").normalised == "+8613812345678")
        #expect(SubjectIdentifier.phone("+86 138-1234-5678").normalised == "+8613812345678")
        #expect(SubjectIdentifier.phone("0086 13812345678").normalised == "+8613812345678")
        #expect(SubjectIdentifier.phone("+1 (415) 555-0100").normalised == "+14155550100")
        #expect(SubjectIdentifier.phone("12345").normalised == nil)
        #expect(SubjectIdentifier.phone("138abc45678").normalised == nil)
        #expect(SubjectIdentifier.orderNumber("k7q2-m9x4 b1c8d3f5").normalised == "K7Q2M9X4B1C8D3F5")
        #expect(SubjectIdentifier(argument: "email:a@b.cn") == .email("a@b.cn"))
        #expect(SubjectIdentifier(argument: "order:") == nil)
        #expect(SubjectIdentifier(argument: "ssn:1") == nil)
    }

    @Test func equalIdentifiersIndexEquallyAndKindsAreSeparated() {
        #expect(indexer.index(.phone("13812345678")) == indexer.index(.phone("+86 138 1234 5678")))
        #expect(indexer.index(.email("A@B.cn")) == indexer.index(.email("a@b.cn")))
        #expect(indexer.index(.orderNumber("ABC123")) != indexer.index(.email("ABC123@x.cn")))
        // Same string, different kinds: different indexes.
        #expect(indexer.index(.orderNumber("13812345678")) != indexer.index(.phone("13812345678")))
        // Another tenant's key gives another index.
        #expect(BlindIndexer(key: GuardedKey(randomCount: 32)).index(.phone("13812345678")) != indexer.index(.phone("13812345678")))
        let index = indexer.index(.email("alice@example.com"))!
        #expect(index.count == 32)
        #expect(Data(index).range(of: Data("alice".utf8)) == nil)
    }
}

@Suite struct CorruptRecordPropertyTests {
    /// A small deterministic generator (SplitMix64), so a failure reproduces.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func everyCorruptionIsATypedErrorNeverAWrongPlaintext() {
        let key = GuardedKey(randomCount: 32)
        let context = RecordContext(tenant: "shop1", session: "s-9", sequence: 3, role: .bot)
        var rng = SplitMix(state: 0x5EED)
        var outcomes: [String: Int] = [:]
        for _ in 0..<5_000 {
            let plaintext = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let record = SealedRecord.seal(plaintext, context: context, keyID: 11, key: key)
            var corrupt = record
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:  // flip one to eight bits anywhere
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    corrupt[Int.random(in: 0..<corrupt.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                }
            case 1:  // cut
                corrupt = Array(corrupt.prefix(Int.random(in: 0..<corrupt.count, using: &rng)))
            case 2:  // extend
                corrupt += (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default:  // replace a byte range with random bytes
                let start = Int.random(in: 0..<corrupt.count, using: &rng)
                let end = min(corrupt.count, start + Int.random(in: 1...24, using: &rng))
                for i in start..<end { corrupt[i] = UInt8.random(in: 0...255, using: &rng) }
            }
            if corrupt == record { continue }
            do {
                _ = try SealedRecord.open(corrupt, context: context, keyID: 11, key: key)
                Issue.record("a corrupted record opened")
            } catch {
                outcomes["\(error)".prefix(while: { $0 != "(" }).description, default: 0] += 1
            }
        }
        // Several distinct, typed outcomes were exercised.
        #expect(outcomes.keys.count >= 4)
    }
}
