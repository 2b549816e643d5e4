/// Sparse features of normalised text: character 1–3-grams inside Chinese runs; for English, the
/// word, word bigrams and character 3–4-grams of each word (which absorb typos and inflections);
/// one feature per placeholder kind. Features are 64-bit FNV-1a hashes — stable across runs and
/// machines, unlike Swift's seeded `Hasher` — so the same examples always give the same model.
enum Featurizer {
    static func features(of text: NormalizedText) -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(text.scalars.count * 4)
        let scalars = text.scalars
        var previousWord: UInt64?
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar.isHan {
                var end = index
                while end < scalars.count, scalars[end].isHan { end += 1 }
                for start in index..<end {
                    for n in 1...3 where start + n <= end {
                        out.append(hash(namespace: 1, scalars[start..<(start + n)]))
                    }
                }
                previousWord = nil
                index = end
            } else if scalar.isLatinWordCharacter {
                var end = index
                while end < scalars.count, scalars[end].isLatinWordCharacter { end += 1 }
                let run = scalars[index..<end]
                if run.allSatisfy(\.isASCIIDigit) {
                    out.append(hash(namespace: 2, "#".unicodeScalars[...]))
                    previousWord = nil
                } else {
                    let word = hash(namespace: 2, run)
                    out.append(word)
                    if let previousWord { out.append(combine(previousWord, word)) }
                    previousWord = word
                    if run.count >= 3 {
                        let padded = ["<"] + Array(run) + [">"]
                        for n in 3...4 where padded.count > n {
                            for start in 0...(padded.count - n) {
                                out.append(hash(namespace: 3, padded[start..<(start + n)]))
                            }
                        }
                    }
                }
                index = end
            } else if let kind = PlaceholderKind.fromMarker(scalar) {
                out.append(hash(namespace: 4, kind.rawValue.unicodeScalars[...]))
                previousWord = nil
                index += 1
            } else {
                // Spaces keep English word bigrams together; other punctuation breaks them.
                if scalar != " " { previousWord = nil }
                index += 1
            }
        }
        return out
    }

    static func hash<C: Collection>(namespace: UInt8, _ scalars: C) -> UInt64 where C.Element == Unicode.Scalar {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(namespace)
        h = h &* 0x0000_0100_0000_01B3
        for scalar in scalars {
            var value = scalar.value
            for _ in 0..<3 {
                h ^= UInt64(value & 0xFF)
                h = h &* 0x0000_0100_0000_01B3
                value >>= 8
            }
        }
        return h
    }

    static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var h = a ^ 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ b &* 0x94D0_49BB_1331_11EB
    }
}

/// Maps feature hashes to dense column indices, in order of first appearance (deterministic).
struct Vocabulary: Sendable {
    private(set) var index: [UInt64: Int32] = [:]
    var count: Int { index.count }

    mutating func add(_ feature: UInt64) -> Int32 {
        if let existing = index[feature] { return existing }
        let next = Int32(index.count)
        index[feature] = next
        return next
    }

    func lookup(_ feature: UInt64) -> Int32? { index[feature] }
}

/// A sparse vector: sorted unique column indices and their values.
struct SparseVector: Sendable {
    var indices: [Int32]
    var values: [Float]

    /// Binary presence of each known feature, scaled as if the unknown features were there too:
    /// a message made mostly of words the examples never used gets small activations, hence low
    /// confidence, which is what out-of-scope detection needs.
    static func binary(_ features: [UInt64], vocabulary: Vocabulary) -> SparseVector {
        let distinct = Set(features)
        var columns: [Int32] = []
        columns.reserveCapacity(distinct.count)
        for feature in distinct { if let column = vocabulary.lookup(feature) { columns.append(column) } }
        let sorted = columns.sorted()
        let value = sorted.isEmpty ? 0 : Float(1 / Double(distinct.count).squareRoot())
        return SparseVector(indices: sorted, values: Array(repeating: value, count: sorted.count))
    }
}
