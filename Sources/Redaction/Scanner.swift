/// One pass of detection over one message's shadow text.
///
/// Detectors propose ``Candidate``s; `resolve()` keeps the strongest non-overlapping set.
/// Everything here works on `[UInt32]` shadow scalars and small index arrays: no `Regex`,
/// no `String` slicing in the hot path.
struct Scanner {
    let policy: CompiledPolicy
    let issued: IssuedKeySet?
    let shadow: ShadowText
    /// The shadow scalars (stored, not computed, so hot loops do not retain the array per access).
    let text: [UInt32]
    var hits: [KeywordMatcher.Hit] = []
    /// End positions of card-key keyword hits (卡密, key, 卡号, 密码 …), for a cheap "keyword just before?" test.
    var keyKeywordEnds: [Int] = []
    var candidates: [Candidate] = []
    var protected: [ProtectedSpan] = []
    /// Spans of URLs (shape and entropy rules stay quiet inside them).
    var urls: [Range<Int>] = []

    /// Window sizes, in shadow scalars, for "keyword nearby".
    static let before = 14
    static let after = 10

    init(policy: CompiledPolicy, issued: IssuedKeySet?, shadow: ShadowText) {
        self.policy = policy
        self.issued = issued
        self.shadow = shadow
        self.text = shadow.scalars
    }

    // MARK: - Keyword context

    /// Whether a keyword of `context` ends within the window before `start` or begins within the
    /// window after `end`.
    func near(_ context: KeywordContext, _ start: Int, _ end: Int,
              before: Int = Scanner.before, after: Int = Scanner.after) -> Bool {
        for k in hitIndices(from: start - before - maxKeywordLength, through: end + after) {
            let h = hits[k]
            guard h.context == context else { continue }
            if h.end <= start && start - h.end <= before { return true }
            if h.start >= end && h.start - end <= after { return true }
            if h.start < end && h.end > start { return false }
        }
        return false
    }

    /// The contexts of the nearest keyword (before the span preferred; after only when nothing
    /// relevant stands before). All contexts of hits at that nearest position are returned.
    /// With `closestEitherSide`, the nearer of the two sides wins (ties go to the keyword before):
    /// "手机收到3306这个验证码" is a code although 手机 stands before it.
    func nearestContexts(_ start: Int, _ end: Int, among wanted: ContextSet,
                         before: Int = Scanner.before, after: Int = Scanner.after,
                         closestEitherSide: Bool = false) -> ContextSet {
        var bestBefore = Int.max
        var result: ContextSet = []
        let window = hitIndices(from: start - before - maxKeywordLength, through: end + after)
        for h in hits[window] where wanted.contains(ContextSet(h.context)) && h.end <= start && start - h.end <= before {
            let d = start - h.end
            if d < bestBefore { bestBefore = d; result = ContextSet(h.context) }
            else if d == bestBefore { result.insert(ContextSet(h.context)) }
        }
        if (!result.isEmpty && !closestEitherSide) || after <= 0 { return result }
        var bestAfter = Int.max
        var afterResult: ContextSet = []
        for h in hits[window] where wanted.contains(ContextSet(h.context)) && h.start >= end && h.start - end <= after {
            let d = h.start - end
            if d < bestAfter { bestAfter = d; afterResult = ContextSet(h.context) }
            else if d == bestAfter { afterResult.insert(ContextSet(h.context)) }
        }
        if afterResult.isEmpty { return result }
        return bestAfter < bestBefore ? afterResult : result
    }

    /// Keywords are at most this long (scalars): bounds the window searched for hits.
    var maxKeywordLength: Int { policy.keywords.maxLength }

    /// Indices of the hits whose start lies in `lo...hi`: a binary search, since hits are in
    /// order of start and a very long message can hold thousands of them.
    func hitIndices(from lo: Int, through hi: Int) -> Range<Int> {
        var a = 0, b = hits.count
        while a < b {
            let m = (a + b) / 2
            if hits[m].start < lo { a = m + 1 } else { b = m }
        }
        var c = a
        while c < hits.count, hits[c].start <= hi { c += 1 }
        return a..<c
    }

    /// Whether a card-key keyword ends within `distance` before `position`.
    func keyKeywordEnds(before position: Int, within distance: Int) -> Bool {
        var a = 0, b = keyKeywordEnds.count
        while a < b {
            let m = (a + b) / 2
            if keyKeywordEnds[m] < position - distance { a = m + 1 } else { b = m }
        }
        return a < keyKeywordEnds.count && keyKeywordEnds[a] <= position
    }

    /// Whether the nearest card-key keyword before `position` is written in Chinese (卡密, 激活码).
    func keyKeywordIsChinese(before position: Int) -> Bool {
        var best: KeywordMatcher.Hit? = nil
        for h in hits[hitIndices(from: position - Scanner.before - maxKeywordLength, through: position)]
        where (h.context == .cardKey || h.context == .cardKeyOrAccount || h.context == .pin) && h.end <= position {
            if best == nil || h.end > best!.end { best = h }
        }
        guard let best else { return false }
        return text[best.start] >= 0x80
    }

    func inURL(_ start: Int, _ end: Int) -> Bool {
        // URLs are disjoint and in order: find the last one starting at or before `start`.
        var a = 0, b = urls.count
        while a < b {
            let m = (a + b) / 2
            if urls[m].lowerBound <= start { a = m + 1 } else { b = m }
        }
        return a > 0 && end <= urls[a - 1].upperBound
    }

    mutating func propose(_ c: Candidate) {
        guard !policy.disabled.contains(c.type) else { return }
        candidates.append(c)
    }

    // MARK: - Running

    mutating func run(tail: SessionTail) -> SessionTail {
        let t = text
        let profile = shadow.profile
        let hasASCIIDigit = profile.hasASCIIDigit, hasAt = profile.hasAt, letters = profile.letters
        let longestDigitRun = profile.longestDigitRun, longestAlnumRun = profile.longestAlnumRun
        let hasDigit = longestDigitRun >= 3 || (longestDigitRun > 0 && !tail.isEmpty)
        // Fast path: no number, no '@', no token long enough to be a key.
        if !hasDigit && !hasAt && letters < 6 && longestAlnumRun < 4 { return SessionTail() }
        hits = policy.keywords.hits(in: t)
        for h in hits where h.context == .cardKey || h.context == .cardKeyOrAccount || h.context == .pin {
            keyKeywordEnds.append(h.end)
        }
        keyKeywordEnds.sort()
        if profile.mayHaveURL { findURLs() }
        if hasAt { findEmails() }
        var newTail = SessionTail()
        if hasDigit { newTail = scanNumbers(tail: tail) }
        if mayHoldKey(hasDigit: hasASCIIDigit) { scanKeyChains() }
        return newTail
    }

    /// Whether the key detectors can find anything: a token with a digit, a dashed group, an
    /// upper-case word of 4+ letters, a card-key keyword, or shop formats that could match plain
    /// words. Most chat — lower-case prose — skips the key scan entirely.
    func mayHoldKey(hasDigit: Bool) -> Bool {
        if hasDigit || !keyKeywordEnds.isEmpty || !policy.cardKeyFormats.isEmpty { return true }
        if let issued, issued.hasLettersOnlyKeys { return true }
        let t = text
        var run = 0
        for k in t.indices {
            if CharClass.isLetter(t[k]), !shadow.originalIsLowercaseASCII(k) {
                run += 1
                if run >= 4 { return true }
            } else {
                if t[k] == 0x2D, run > 0 { return true }
                run = 0
            }
        }
        return false
    }

    mutating func findURLs() {
        let t = text
        let n = t.count
        var i = 0
        while i + 4 <= n {
            let http = t[i] == 0x48 && t[i + 1] == 0x54 && t[i + 2] == 0x54 && t[i + 3] == 0x50
            let www = t[i] == 0x57 && t[i + 1] == 0x57 && t[i + 2] == 0x57 && t[i + 3] == 0x2E
            if http || www {
                var j = i
                while j < n, t[j] > 0x20, t[j] < 0x7F { j += 1 }
                urls.append(i..<j)
                i = j
            } else { i += 1 }
        }
    }

    // MARK: - E-mail

    mutating func findEmails() {
        let t = text
        let n = t.count
        func localChar(_ v: UInt32) -> Bool {
            CharClass.isAlnum(v) || v == 0x2E || v == 0x5F || v == 0x25 || v == 0x2B || v == 0x2D
        }
        func domainChar(_ v: UInt32) -> Bool { CharClass.isAlnum(v) || v == 0x2E || v == 0x2D }
        var i = 0
        while i < n {
            guard t[i] == 0x40 else { i += 1; continue }
            var a = i
            while a > 0, localChar(t[a - 1]) { a -= 1 }
            while a < i, t[a] == 0x2E || t[a] == 0x2D { a += 1 }  // no leading dot or dash
            var b = i + 1
            while b < n, domainChar(t[b]) { b += 1 }
            while b > i + 1, t[b - 1] == 0x2E || t[b - 1] == 0x2D { b -= 1 }
            // The domain needs a dot and a top-level label of 2+ letters.
            var lastDot = -1
            for k in (i + 1)..<max(i + 1, b) where t[k] == 0x2E { lastDot = k }
            if a < i, lastDot > i + 1, b - lastDot - 1 >= 2,
               t[(lastDot + 1)..<b].allSatisfy({ CharClass.isLetter($0) }) {
                propose(Candidate(type: .email, start: a, end: b, confidence: 0.98, rule: "email",
                                  priority: Candidate.Priority.email, value: Array(t[a..<b])))
                i = b
            } else {
                i += 1
            }
        }
    }
}
