/// Detectors for letter/digit tokens: card keys (issued, tenant formats, product shapes,
/// keyword-led), IBANs, and the tenant's non-secret formats.
extension Scanner {
    struct Token {
        var start: Int
        var end: Int
        var digits: Int
        var letters: Int
        var length: Int { end - start }
    }

    /// Product-key groupings every shop sells (Windows/Office 5×5, Steam 5-5-5, 4-4-4-4 gift cards …).
    static let knownShapes: [[Int]] = [[5, 5, 5, 5, 5], [4, 4, 4, 4, 4], [5, 5, 5, 5], [4, 4, 4, 4], [4, 6, 4], [5, 5, 5], [4, 4, 4]]

    /// Whether a token can start at `i`: an ASCII letter or digit, or a Chinese numeral typed
    /// into a key ("七ev") — only when ASCII follows, so ordinary words (一张) never start one.
    @inline(__always) func startsToken(_ i: Int) -> Bool {
        let t = text
        if CharClass.isAlnum(t[i]) { return true }
        // Chinese numerals followed by ASCII ("三七ww").
        var k = i
        while k < t.count, CharClass.isChineseDigit(t[k]), k - i < 8 { k += 1 }
        return k > i && k < t.count && CharClass.isAlnum(t[k])
    }

    /// Two or more Chinese numerals in a row.
    func chineseDigitGroup(at i: Int) -> Bool {
        i + 1 < text.count && CharClass.isChineseDigit(text[i]) && CharClass.isChineseDigit(text[i + 1])
    }

    mutating func scanKeyChains() {
        let t = text
        let n = t.count
        var chain: [Token] = []
        var i = 0
        // Away from card-key keywords, a plain lower-case word ("paid", "the") can be no part of a
        // key: such words split chains, so English prose costs almost nothing.
        let wordsBreakChains = !(issued?.hasLettersOnlyKeys ?? false) && policy.cardKeyFormats.isEmpty
        while i < n {
            guard startsToken(i) else { i += 1; continue }
            chain.removeAll(keepingCapacity: true)
            while true {
                var token = Token(start: i, end: i, digits: 0, letters: 0)
                while i < n {
                    let v = t[i]
                    if CharClass.isDigit(v) { token.digits += 1 }
                    else if CharClass.isLetter(v) { token.letters += 1 }
                    else if CharClass.isChineseDigit(v), token.length > 0 || i == token.start { token.digits += 1 }
                    else { break }
                    i += 1
                    token.end = i
                }
                if wordsBreakChains, isPlainWord(token), !keyKeywordEnds(before: token.start, within: 40) {
                    // Flush what came before and continue after the word.
                    if !chain.isEmpty { scanChain(chain); chain.removeAll(keepingCapacity: true) }
                    if i + 1 < n, CharClass.isSeparator(t[i]), startsToken(i + 1) { i += 1; continue }
                    break
                }
                chain.append(token)
                // One separator joins tokens into a chain ("ABCD-1234", "abcd efgh"); inside a chain
                // a group typed all in Chinese numerals counts too ("53xy-g7kq-肆伍三叁-8vcm").
                if i + 1 < n, CharClass.isSeparator(t[i]), startsToken(i + 1) || chineseDigitGroup(at: i + 1),
                   chain.count < 64 {
                    i += 1
                } else { break }
            }
            if !chain.isEmpty { scanChain(chain) }
        }
    }

    /// A lower-case word of letters only, not joined by dashes or underscores: prose, not a key.
    func isPlainWord(_ token: Token) -> Bool {
        guard token.digits == 0, token.length >= 2 else { return false }
        if token.start > 0, text[token.start - 1] == 0x2D || text[token.start - 1] == 0x5F { return false }
        if token.end < text.count, text[token.end] == 0x2D || text[token.end] == 0x5F { return false }
        for k in token.start..<token.end where !shadow.originalIsLowercaseASCII(k) { return false }
        return true
    }

    /// A shadow scalar as it enters a key value: Chinese numerals become ASCII digits.
    @inline(__always) func keyScalar(_ v: UInt32) -> UInt32 {
        CharClass.isChineseDigit(v) ? v - ShadowText.cnDigitBase + 0x30 : v
    }

    func compact(_ chain: [Token], _ i: Int, _ j: Int) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(40)
        for k in i...j { for v in text[chain[k].start..<chain[k].end] { out.append(keyScalar(v)) } }
        return out
    }

    func dashed(_ chain: [Token], _ i: Int, _ j: Int) -> [UInt8] {
        var out: [UInt8] = []
        for k in i...j {
            if k > i { out.append(0x2D) }
            for v in text[chain[k].start..<chain[k].end] { out.append(UInt8(truncatingIfNeeded: keyScalar(v))) }
        }
        return out
    }

    mutating func scanChain(_ chain: [Token]) {
        let count = chain.count
        // Nothing shorter than four letters and digits can be a key ("I", "OK", "Hi").
        if count == 1 && chain[0].length < 4 { return }
        // Scratch space on the stack: this runs for every chain of every message.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * (count + 1)) { prefix in
            withUnsafeTemporaryAllocation(of: Bool.self, capacity: count) { consumed in
                scanChain(chain, prefix: prefix, consumed: consumed)
            }
        }
    }

    private mutating func scanChain(_ chain: [Token], prefix: UnsafeMutableBufferPointer<Int>,
                                    consumed: UnsafeMutableBufferPointer<Bool>) {
        var i = 0
        let count = chain.count
        // lengthBefore[k] / digitsBefore[k]: letters and digits / digits in tokens 0..<k.
        let lengthBefore = UnsafeMutableBufferPointer(rebasing: prefix[0...count])
        let digitsBefore = UnsafeMutableBufferPointer(rebasing: prefix[(count + 1)...])
        lengthBefore[0] = 0
        digitsBefore[0] = 0
        for (k, token) in chain.enumerated() {
            lengthBefore[k + 1] = lengthBefore[k] + token.length
            digitsBefore[k + 1] = digitsBefore[k] + token.digits
        }
        if lengthBefore[count] < 4 { return }
        consumed.initialize(repeating: false)
        // Pass 1: exact and declared formats (issued keys, shop formats, IBANs), longest window
        // first. They are certain, so heuristics never cut into them.
        outer: while i < count {
            var j = min(count - 1, i + 7)
            while j >= i {
                let length = lengthBefore[j + 1] - lengthBefore[i]
                if length < policy.shortestExactFormat && (issued.map { !$0.couldContain(length: length) } ?? true) {
                    j -= 1; continue
                }
                // Several tokens form one value only with a digit among them or dashes between
                // them: runs of ordinary words ("the code is") are not looked up.
                if length > 64 || (j > i && digitsBefore[j + 1] == digitsBefore[i]
                                   && !(i..<j).allSatisfy({ text[chain[$0].end] == 0x2D })) { j -= 1; continue }
                if let verdict = exactFormats(chain, i, j, length: length) {
                    switch verdict {
                    case .secret(let c): propose(c)
                    case .notSecret: protected.append(ProtectedSpan(start: chain[i].start, end: chain[j].end))
                    case .none: break
                    }
                    for k in i...j { consumed[k] = true }
                    i = j + 1
                    continue outer
                }
                j -= 1
            }
            i += 1
        }
        // Pass 2: product shapes, keyword-led keys, long mixed tokens.
        i = 0
        while i < count {
            if !consumed[i], let end = heuristicKey(chain, i, consumed: consumed) {
                i = end + 1
                continue
            }
            i += 1
        }
    }

    /// Issued keys, tenant card-key formats, non-secret formats and IBANs on tokens `i...j`.
    func exactFormats(_ chain: [Token], _ i: Int, _ j: Int, length: Int) -> Verdict? {
        let s = chain[i].start, e = chain[j].end
        var compactValue: [UInt32]? = nil
        func value() -> [UInt32] {
            if let v = compactValue { return v }
            return compact(chain, i, j)
        }
        if issued?.couldContain(length: length) == true {
            let v = value()
            compactValue = v
            if issued!.contains(normalised: v) {
                return .secret(Candidate(type: .cardKey, start: s, end: e, confidence: 1.0, rule: "issued-key",
                                         priority: Candidate.Priority.issuedKey, value: v))
            }
        }
        let dashedLength = length + j - i
        func fits(_ p: ShapePattern) -> Bool {
            let l = p.hasSeparators ? dashedLength : length
            return l >= p.minLength && l <= p.maxLength
        }
        if policy.cardKeyFormats.contains(where: { fits($0.pattern) })
            || (i == j && policy.nonSecretFormats.contains(where: { fits($0.pattern) })) {
            let dashedForm = dashed(chain, i, j)
            let compactForm = dashedForm.filter { $0 != 0x2D }
            for format in policy.cardKeyFormats where fits(format.pattern) {
                let input = format.pattern.hasSeparators ? dashedForm : compactForm
                if format.pattern.matches(input) {
                    return .secret(Candidate(type: .cardKey, start: s, end: e, confidence: 0.98,
                                             rule: "tenant-format:\(format.name)",
                                             priority: Candidate.Priority.tenantFormat, value: value()))
                }
            }
            for format in policy.nonSecretFormats {
                // Non-secret shapes are matched strictly: a pattern without separators covers one
                // token only, so it cannot swallow pieces of a spaced-out card or IBAN.
                guard format.pattern.hasSeparators || i == j else { continue }
                let input = format.pattern.hasSeparators ? dashedForm : compactForm
                if format.pattern.matches(input) {
                    // The keyword right before decides: 订单号 (or none) keeps it; 卡密 / key makes
                    // it a card key; a payment or account keyword leaves it to the number detectors.
                    let nearest = nearestContexts(s, e, among: [.cardKey, .cardKeyOrAccount, .pin, .nonSecret,
                                                                .transaction, .paymentCard, .bankAccount, .phone,
                                                                .oneTimeCode, .paymentCode, .residentID], after: 0)
                    // A transaction keyword: the number detectors tokenise it.
                    if nearest.contains(.transaction) && !nearest.contains(.nonSecret) { return nil }
                    // "16 characters starting with X" is a product-key shape too: without an order
                    // keyword, the key reading wins.
                    if nearest.isEmpty, i == j, chain[i].length == 16, text[s] == 0x58, chain[i].digits > 0 { return nil }
                    if nearest.isEmpty || nearest.contains(.nonSecret) {
                        return .notSecret
                    }
                    let digitsOnly = chain[i...j].allSatisfy { $0.letters == 0 }
                    if !digitsOnly, !nearest.isDisjoint(with: [.cardKey, .cardKeyOrAccount, .pin]) {
                        return .secret(Candidate(type: .cardKey, start: s, end: e, confidence: 0.9,
                                                 rule: "key+keyword", priority: Candidate.Priority.tenantFormat,
                                                 value: value()))
                    }
                    break  // a payment or account keyword: not protected; IBAN and number detectors decide
                }
            }
        }
        // IBAN: two letters, two check digits, up to 30 more letters/digits.
        if length >= 15, length <= 34, chain[i].length >= 4, CharClass.isLetter(text[chain[i].start]),
           CharClass.isLetter(text[chain[i].start + 1]), CharClass.isDigit(text[chain[i].start + 2]) {
            let v = value()
            if CharClass.isLetter(v[0]), CharClass.isLetter(v[1]), CharClass.isDigit(v[2]), CharClass.isDigit(v[3]),
               Checksums.ibanValid(v) {
                return .secret(Candidate(type: .bankAccount, start: s, end: e, confidence: 0.97, rule: "iban-mod97",
                                         priority: Candidate.Priority.checksummed, value: v))
            }
        }
        return nil
    }

    /// Product shapes, keyword-led keys and high-entropy tokens starting at token `i`.
    /// Returns the last token index consumed.
    /// Words that stand between a keyword and its value ("the PIN is 1234", "key: is ABC…").
    static let fillerWords: [[UInt32]] = ["IS", "ARE", "WAS", "WERE", "BE", "THE", "MY", "A", "AN", "IT", "ITS",
                                          "THIS", "THAT", "AS", "OF", "FOR", "TO", "NO", "NUMBER", "NR"]
        .map { Array($0.unicodeScalars.map(\.value)) }

    func isFillerWord(_ token: Token) -> Bool {
        guard token.digits == 0, token.length <= 6 else { return false }
        return Scanner.fillerWords.contains { word in
            word.count == token.length && word.indices.allSatisfy { word[$0] == text[token.start + $0] }
        }
    }

    /// Random-looking capitalisation ("nE", "tB4S"): key material, not a word.
    func originalHasMixedCase(_ token: Token) -> Bool {
        var lower = false, upper = false
        for k in token.start..<token.end where CharClass.isLetter(text[k]) {
            if shadow.originalIsLowercaseASCII(k) { lower = true } else { upper = true }
        }
        return lower && upper
    }

    /// Whether a keyword hit covers exactly this token (the word KEY, CODE, IBAN … itself).
    func isKeywordToken(_ token: Token) -> Bool {
        hits[hitIndices(from: token.start, through: token.start)].contains { $0.start == token.start && $0.end >= token.end }
    }

    mutating func heuristicKey(_ chain: [Token], _ i: Int, consumed: UnsafeMutableBufferPointer<Bool>) -> Int? {
        let t = text
        let s = chain[i].start
        let first = chain[i]
        // Most tokens are ordinary words: nothing below can fire for them.
        let mayBeShape = (first.length == 4 || first.length == 5) && i + 2 < chain.count
            && (4...6).contains(chain[i + 1].length) && (4...5).contains(chain[i + 2].length)
        let mayBeLongKey = (first.length >= 12 && first.digits >= 3 && first.letters >= 3)
            || (first.length == 16 && t[s] == 0x58 && first.digits >= 1)
        let afterKeyword = keyKeywordEnds(before: s, within: 10)
        guard mayBeShape || mayBeLongKey || afterKeyword else { return nil }
        let nearest = hits.isEmpty ? [] : nearestContexts(s, s, among: [.cardKey, .cardKeyOrAccount, .pin, .nonSecret, .transaction,
                                                    .oneTimeCode, .phone, .bankAccount], before: 10, after: 0)
        let keyKeyword = (nearest.contains(.cardKey) || nearest.contains(.cardKeyOrAccount) || nearest.contains(.pin))
            && !nearest.contains(.nonSecret) && !nearest.contains(.transaction)
        let url = inURL(s, chain[i].end)

        func separator(after k: Int) -> UInt32 { t[chain[k].end] }
        func propose(_ j: Int, _ confidence: Double, _ rule: String, _ priority: Int) -> Int {
            let v = compact(chain, i, j)
            self.propose(Candidate(type: .cardKey, start: s, end: chain[j].end, confidence: confidence, rule: rule,
                                   priority: priority, value: v))
            return j
        }

        // Known product shapes.
        if !url, mayBeShape {
            for shape in Scanner.knownShapes where i + shape.count <= chain.count {
                let j = i + shape.count - 1
                guard (0..<shape.count).allSatisfy({ chain[i + $0].length == shape[$0] && !consumed[i + $0] }),
                      !isKeywordToken(chain[i]) else { continue }
                let sep = separator(after: i)
                guard (i..<j).allSatisfy({ separator(after: $0) == sep }) else { continue }
                let digits = (i...j).reduce(0) { $0 + chain[$1].digits }
                let letters = (i...j).reduce(0) { $0 + chain[$1].letters }
                if letters == 0 { continue }  // all digits: the number detectors decide
                if (digits > 0) || sep == 0x2D || keyKeyword {
                    return propose(j, keyKeyword ? 0.95 : 0.85, "product-shape", Candidate.Priority.shape)
                }
            }
        }

        // A key after 卡密 / 激活码 / key / code …
        if keyKeyword, !isFillerWord(first), !isKeywordToken(first) {
            var j = i
            let firstLength = chain[i].length
            while j + 1 < chain.count, j - i < 7, !consumed[j + 1] {
                let next = chain[j + 1]
                let sep = separator(after: j)
                if next.digits > 0 || sep == 0x2D || sep == 0x5F || (next.length == firstLength && firstLength >= 4)
                    || originalHasMixedCase(next) {
                    j += 1
                } else { break }
            }
            let length = (i...j).reduce(0) { $0 + chain[$1].length }
            let digits = (i...j).reduce(0) { $0 + chain[$1].digits }
            let letters = length - digits
            let upperInOriginal = !(s..<chain[j].end).contains { shadow.originalIsLowercaseASCII($0) }
            // Letters only: believable after 卡密 / 激活码, or when typed in capitals or with dashes;
            // after an English keyword, lower-case words are just words ("the code they sent").
            let dashed = j > i && (i..<j).allSatisfy { t[chain[$0].end] == 0x2D || t[chain[$0].end] == 0x5F }
            if length >= 6, letters > 0,
               digits > 0 || dashed || upperInOriginal && (j > i || length >= 8)
                || ((j > i || length >= 8) && keyKeywordIsChinese(before: s)) {
                return propose(j, 0.9, "key+keyword", Candidate.Priority.keywordKey)
            }
        }

        // One long token mixing letters and digits: a key even without a keyword.
        let token = chain[i]
        let xShape = token.length == 16 && t[s] == 0x58 && token.digits >= 1
        if !url, (token.length >= 12 && token.digits >= 3 && token.letters >= 3) || xShape, !nearest.contains(.nonSecret),
           !nearest.contains(.transaction) {
            let shaped = xShape || token.length == 25
            return propose(i, shaped ? 0.85 : 0.6, shaped ? "product-shape" : "mixed-token", shaped ? Candidate.Priority.shape : Candidate.Priority.generic)
        }
        return nil
    }
}
