import Foundation

/// Ranked FAQ retrieval: TF-IDF cosine similarity over the same character/word n-gram features
/// as the classifier (after synonym folding), each entry scored by its best-matching question
/// variant. Cosine scores lie in 0...1, so one threshold works across knowledge bases.
struct FAQIndex: Sendable {
    private struct Posting: Sendable {
        var variant: Int32
        var weight: Float
    }

    private var postings: [UInt64: [Posting]] = [:]
    private var idf: [UInt64: Float] = [:]
    private var variantEntry: [Int] = []
    private var unknownIDF: Float = 1
    let entryCount: Int

    /// - Parameter variants: per FAQ entry, the features of each of its question variants.
    init(variants: [[[UInt64]]]) {
        entryCount = variants.count
        var documents: [[UInt64: Int]] = []
        for (entry, questions) in variants.enumerated() {
            for question in questions {
                var counts: [UInt64: Int] = [:]
                for feature in question { counts[feature, default: 0] += 1 }
                documents.append(counts)
                variantEntry.append(entry)
            }
        }
        var documentFrequency: [UInt64: Int] = [:]
        for document in documents { for feature in document.keys { documentFrequency[feature, default: 0] += 1 } }
        let n = Float(documents.count)
        for (feature, df) in documentFrequency { idf[feature] = log((1 + n) / (1 + Float(df))) + 1 }
        unknownIDF = log(1 + n) + 1
        for (variant, document) in documents.enumerated() {
            var weights: [(UInt64, Float)] = []
            var norm: Float = 0
            for (feature, count) in document {
                let weight = (1 + log(Float(count))) * idf[feature]!
                weights.append((feature, weight))
                norm += weight * weight
            }
            norm = norm.squareRoot()
            for (feature, weight) in weights {
                postings[feature, default: []].append(Posting(variant: Int32(variant), weight: weight / norm))
            }
        }
    }

    /// Entries ranked by cosine similarity, best first (at most `limit`).
    func search(_ features: [UInt64], limit: Int = 3) -> [(entry: Int, score: Double)] {
        var counts: [UInt64: Int] = [:]
        for feature in features { counts[feature, default: 0] += 1 }
        var query: [(UInt64, Float)] = []
        var norm: Float = 0
        for (feature, count) in counts {
            // Features no question uses still count towards the query's length, so a message
            // about something else scores low even when it shares a word or two.
            let weight = (1 + log(Float(count))) * (idf[feature] ?? unknownIDF)
            norm += weight * weight
            if idf[feature] != nil { query.append((feature, weight)) }
        }
        guard norm > 0 else { return [] }
        norm = norm.squareRoot()
        var scores = [Float](repeating: 0, count: variantEntry.count)
        for (feature, weight) in query {
            for posting in postings[feature]! { scores[Int(posting.variant)] += posting.weight * weight / norm }
        }
        var best = [Float](repeating: 0, count: entryCount)
        for (variant, score) in scores.enumerated() where score > best[variantEntry[variant]] {
            best[variantEntry[variant]] = score
        }
        return best.enumerated().filter { $0.element > 0 }
            .sorted { $0.element != $1.element ? $0.element > $1.element : $0.offset < $1.offset }
            .prefix(limit).map { (entry: $0.offset, score: Double($0.element)) }
    }
}
