/// Longest-match phrase look-up over Unicode scalars (a trie), used for synonyms, sentiment
/// lexicons and catalogue product names. Latin phrases match only on word boundaries, so
/// `key` does not fire inside `keyboard`.
struct PhraseMatcher<Payload: Sendable>: Sendable {
    private struct Node: Sendable {
        var children: [Unicode.Scalar: Int] = [:]
        var payload: Int?
    }

    private var nodes: [Node] = [Node()]
    private var payloads: [Payload] = []
    private var phraseLengths: [Int] = []

    init() {}

    /// Adds a phrase (already normalised: lower-case, simplified). Empty phrases are ignored;
    /// a phrase added twice keeps its first payload.
    mutating func add(_ phrase: String, _ payload: Payload) {
        let scalars = Array(phrase.unicodeScalars)
        guard !scalars.isEmpty else { return }
        var node = 0
        for scalar in scalars {
            if let next = nodes[node].children[scalar] {
                node = next
            } else {
                nodes.append(Node())
                nodes[node].children[scalar] = nodes.count - 1
                node = nodes.count - 1
            }
        }
        if nodes[node].payload == nil {
            payloads.append(payload)
            phraseLengths.append(scalars.count)
            nodes[node].payload = payloads.count - 1
        }
    }

    var isEmpty: Bool { payloads.isEmpty }

    /// The longest phrase starting at `start`, respecting word boundaries for Latin text.
    func longestMatch(in text: [Unicode.Scalar], at start: Int) -> (length: Int, payload: Payload)? {
        if start > 0, text[start].isLatinWordCharacter, text[start - 1].isLatinWordCharacter { return nil }
        var node = 0
        var best: (Int, Int)?
        var index = start
        while index < text.count, let next = nodes[node].children[text[index]] {
            node = next
            index += 1
            if let payload = nodes[node].payload {
                let endsOnBoundary = index == text.count || !text[index - 1].isLatinWordCharacter
                    || !text[index].isLatinWordCharacter
                if endsOnBoundary { best = (index - start, payload) }
            }
        }
        guard let (length, payload) = best else { return nil }
        return (length, payloads[payload])
    }

    /// All non-overlapping longest matches, left to right.
    func matches(in text: [Unicode.Scalar]) -> [(start: Int, length: Int, payload: Payload)] {
        var found: [(Int, Int, Payload)] = []
        var index = 0
        while index < text.count {
            if let match = longestMatch(in: text, at: index) {
                found.append((index, match.length, match.payload))
                index += match.length
            } else {
                index += 1
            }
        }
        return found
    }
}

extension Unicode.Scalar {
    /// ASCII letters and digits: the characters that make up English words and order numbers.
    var isLatinWordCharacter: Bool {
        switch value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }

    var isASCIILetter: Bool {
        switch value {
        case 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }

    var isASCIIDigit: Bool { (0x30...0x39).contains(value) }

    var isASCIIUppercase: Bool { (0x41...0x5A).contains(value) }

    /// CJK unified ideographs (basic block and extension A) and compatibility ideographs.
    var isHan: Bool {
        switch value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0xF900...0xFAFF, 0x20000...0x2FA1F: return true
        default: return false
        }
    }
}
