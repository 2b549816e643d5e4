import Foundation

/// Anger and anxiety of one message, each 0...1.
public struct Sentiment: Sendable, Hashable, Codable {
    public var anger: Double
    public var anxiety: Double

    public init(anger: Double, anxiety: Double) {
        self.anger = anger
        self.anxiety = anxiety
    }

    /// Above this anger the bot apologises first.
    public static let angryThreshold = 0.5
    public var isAngry: Bool { anger >= Self.angryThreshold }
}

/// A zh/en lexicon scorer with negation (不/没/not …) and intensifiers (太/非常/!!!/???).
public struct SentimentAnalyzer: Sendable {
    private enum Entry: Sendable {
        case anger(Double), anxiety(Double), negation, intensifier(Double)
    }

    private var lexicon = PhraseMatcher<Entry>()

    public init() {
        let anger: [(String, Double)] = [
            ("骗子", 1.6), ("骗钱", 1.6), ("垃圾", 1.4), ("坑人", 1.4), ("黑店", 1.6), ("投诉", 0.9), ("举报", 0.9),
            ("生气", 1.0), ("愤怒", 1.2), ("气死", 1.4), ("太差", 1.0), ("差劲", 1.0), ("恶心", 1.2), ("无语", 0.8),
            ("离谱", 0.9), ("什么破", 1.0), ("破店", 1.2), ("烂", 0.8), ("滚", 1.2), ("报警", 1.2), ("搞什么", 1.0),
            ("忽悠", 1.0), ("还钱", 1.0), ("退钱", 0.9), ("失望", 0.8), ("不满", 0.9), ("坑", 0.8), ("欺诈", 1.3),
            ("傻", 1.0), ("妈的", 1.4), ("tmd", 1.4), ("他妈", 1.4), ("rnm", 1.5), ("sb", 1.3), ("有病", 1.1),
            ("scam", 1.6), ("scammer", 1.6), ("fraud", 1.2), ("ripoff", 1.4), ("rip off", 1.4), ("angry", 1.0),
            ("furious", 1.4), ("ridiculous", 1.0), ("terrible", 1.0), ("worst", 1.2), ("useless", 1.0),
            ("pathetic", 1.2), ("unacceptable", 1.2), ("disgusting", 1.2), ("wtf", 1.3), ("garbage", 1.2),
            ("trash", 1.1), ("rubbish", 1.0), ("sucks", 1.0), ("hate", 1.0), ("liar", 1.3), ("thief", 1.4),
            ("thieves", 1.4), ("damn", 0.9), ("fuck", 1.5), ("fucking", 1.5), ("shit", 1.3), ("report you", 1.1),
            ("chargeback", 1.0), ("police", 1.0), ("fed up", 1.0), ("annoyed", 0.8), ("disappointed", 0.8),
        ]
        let anxiety: [(String, Double)] = [
            ("着急", 1.0), ("急", 0.6), ("赶紧", 0.8), ("快点", 0.8), ("尽快", 0.6), ("马上", 0.5), ("怎么办", 0.9),
            ("担心", 0.9), ("害怕", 0.9), ("等了", 0.6), ("还没", 0.5), ("一直", 0.4), ("救命", 1.2), ("求求", 0.9),
            ("在吗", 0.4), ("人呢", 0.8), ("回复", 0.3), ("等很久", 0.9), ("好久", 0.6),
            ("urgent", 1.0), ("urgently", 1.0), ("asap", 1.0), ("worried", 0.9), ("hurry", 0.8), ("please help", 0.7),
            ("still", 0.4), ("waiting", 0.5), ("been waiting", 0.9), ("anyone", 0.5), ("immediately", 0.8),
            ("help me", 0.5), ("nervous", 0.8), ("panic", 1.0), ("right now", 0.6),
        ]
        for (word, weight) in anger { lexicon.add(word, .anger(weight)) }
        for (word, weight) in anxiety { lexicon.add(word, .anxiety(weight)) }
        for word in ["不", "没", "没有", "别", "未", "不是", "not", "no", "never", "don't", "dont", "isn't", "wasn't", "without"] {
            lexicon.add(word, .negation)
        }
        for (word, factor) in [("太", 1.6), ("非常", 1.6), ("特别", 1.5), ("真的", 1.3), ("超级", 1.6), ("极其", 1.7),
                               ("很", 1.3), ("好", 1.2), ("真", 1.3), ("so", 1.4), ("very", 1.4), ("really", 1.3),
                               ("extremely", 1.7), ("totally", 1.4), ("absolutely", 1.5)] {
            lexicon.add(word, .intensifier(factor))
        }
    }

    /// Scores one message (normalised text; the lexicon is in simplified Chinese and lower case).
    public func analyze(_ text: NormalizedText, original: String) -> Sentiment {
        var anger = 0.0
        var anxiety = 0.0
        var negatedUntil = -1
        var intensity = 1.0
        var intensifiedUntil = -1
        for match in lexicon.matches(in: text.scalars) {
            switch match.payload {
            case .negation:
                // A Chinese negator governs the next word or two; an English one the next word
                // or two as well ("not angry", "not very angry"), which is more letters.
                negatedUntil = match.start + match.length + (text.scalars[match.start].isLatinWordCharacter ? 7 : 2)
            case .intensifier(let factor):
                intensity = factor
                intensifiedUntil = match.start + match.length + (text.scalars[match.start].isLatinWordCharacter ? 9 : 3)
            case .anger(let weight), .anxiety(let weight):
                let negated = match.start <= negatedUntil
                let factor = match.start <= intensifiedUntil ? intensity : 1
                // "不生气" / "not angry" cancels; it does not flip to happiness.
                let score = negated ? 0 : weight * factor
                if case .anger = match.payload { anger += score } else { anxiety += score }
            }
        }
        // Punctuation runs: "!!!" is heat, "???" is worry; shouting in capitals is heat too.
        let scalars = Array(original.precomposedStringWithCompatibilityMapping.unicodeScalars)
        let exclamations = scalars.filter { $0 == "!" }.count
        let questions = scalars.filter { $0 == "?" }.count
        if exclamations >= 2 { anger += 0.25 * Double(min(exclamations, 6)) * (anger > 0 ? 1.5 : 0.6) }
        if questions >= 2 { anxiety += 0.2 * Double(min(questions, 6)) }
        let shouted = Self.shoutedWords(scalars)
        if shouted >= 2 { anger += 0.3 * Double(min(shouted, 4)) }
        return Sentiment(anger: 1 - exp(-anger), anxiety: 1 - exp(-anxiety))
    }

    /// Words of three or more letters, all capitals (placeholders and order numbers excluded).
    private static func shoutedWords(_ scalars: [Unicode.Scalar]) -> Int {
        var count = 0
        var index = 0
        var insideBrackets = false
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "[" { insideBrackets = true }
            if scalar == "]" { insideBrackets = false }
            if scalar.isLatinWordCharacter {
                var end = index
                while end < scalars.count, scalars[end].isLatinWordCharacter { end += 1 }
                let run = scalars[index..<end]
                if !insideBrackets, (3...12).contains(run.count), run.allSatisfy(\.isASCIIUppercase) { count += 1 }
                index = end
            } else {
                index += 1
            }
        }
        return count
    }
}
