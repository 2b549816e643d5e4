import Testing
import Sealing

@Suite struct KeyedHashTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Expected values from an independent implementation (Python's hashlib.blake2b with key=…).
    @Test func keyedBLAKE2bMatchesReferenceVectors() {
        let h = BLAKE2bKeyedHasher(key: Array(0..<32))
        #expect(Self.hex(h.digest(Array("kamirelay".utf8))) == "a43c5606db3901a1b0f420e90252bb8a")
        #expect(Self.hex(h.digest([])) == "3daf97bce7888fd59773c66bf647459c")
        let h32 = BLAKE2bKeyedHasher(key: Array(repeating: 7, count: 32), outputLength: 32)
        #expect(Self.hex(h32.digest(Array("abc".utf8))) == "62d8fe04aeb9b650b0dbdb3078da63b0d4c864854da1e7ff3aae7a2daee046ba")
    }

    @Test func randomKeysGiveDifferentDigests() {
        let a = BLAKE2bKeyedHasher.random(), b = BLAKE2bKeyedHasher.random()
        #expect(a.digest(Array("13812345678".utf8)) != b.digest(Array("13812345678".utf8)))
        #expect(a.digest(Array("13812345678".utf8)) == a.digest(Array("13812345678".utf8)))
    }

    @Test func guardedKeyHoldsItsBytes() {
        let key = GuardedKey(copying: [1, 2, 3, 4])
        #expect(key.withUnsafeBytes { Array($0) } == [1, 2, 3, 4])
        let random = GuardedKey(randomCount: 32)
        #expect(random.count == 32)
        #expect(random.withUnsafeBytes { Array($0) } != Array(repeating: 0, count: 32))
    }

    @Test func constantTimeEquality() {
        #expect(Sodium.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2]))
    }
}
