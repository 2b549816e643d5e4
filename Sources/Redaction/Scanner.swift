/// One pass of detection over one message's shadow text.
///
/// Detectors propose ``Candidate``s; `resolve()` keeps the strongest non-overlapping set.
/// Everything here works on `[UInt32]` shadow scalars and small index arrays: no `Regex`,
/// no `String` slicing in the hot path.
struct Scanner {
    let policy: CompiledPolicy
    let issued: IssuedKeySet?
    let shadow: ShadowText
    var text: [UInt32] { shadow.scalars }
    var hits: [KeywordMatcher.Hit] = []
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
    }

    // MARK: - Keyword context

    /// Whether a keyword of `context` ends within the window before `start` or begins within the
    /// window after `end`.
    func near(_ context: KeywordContext, _ start: Int, _ end: Int,
              before: Int = Scanner.before, after: Int = Scanner.after) -> Bool {
        for h in hits where h.context == context {
            if h.end <= start && start - h.end <= before { return true }
            if h.start >= end && h.start - end <= after { return true }
            if h.start < end && h.end > start { return false }
        }
        return false
    }

    /// The contexts of the nearest keyword (before the span preferred; after only when nothing
    /// relevant stands before). All contexts of hits at that nearest position are returned.
    func nearestContexts(_ start: Int, _ end: Int, among wanted: Set<KeywordContext>,
                         before: Int = Scanner.before, after: Int = Scanner.after) -> Set<KeywordContext> {
        var bestBefore = Int.max
        var result: Set<KeywordContext> = []
        for h in hits where wanted.contains(h.context) && h.end <= start && start - h.end <= before {
            let d = start - h.end
            if d < bestBefore { bestBefore = d; result = [h.context] }
            else if d == bestBefore { result.insert(h.context) }
        }
        if !result.isEmpty { return result }
        var bestAfter = Int.max
        for h in hits where wanted.contains(h.context) && h.start >= end && h.start - end <= after {
            let d = h.start - end
            if d < bestAfter { bestAfter = d; result = [h.context] }
            else if d == bestAfter { result.insert(h.context) }
        }
        return result
    }

    func inURL(_ start: Int, _ end: Int) -> Bool {
        urls.contains { $0.lowerBound <= start && end <= $0.upperBound }
    }

    mutating func propose(_ c: Candidate) {
        guard !policy.disabled.contains(c.type) else { return }
        candidates.append(c)
    }

    // MARK: - Running

    mutating func run(tail: SessionTail) -> SessionTail {
        let t = text
        var hasDigit = false, hasAt = false, letters = 0
        for v in t {
            if CharClass.isDigit(v) { hasDigit = true } else if v == 0x40 { hasAt = true }
            else if CharClass.isLetter(v) { letters += 1 }
        }
        // Fast path: no digits, no '@' and too few letters for any key.
        if !hasDigit && !hasAt && letters < 6 { return SessionTail() }
        hits = policy.keywords.hits(in: t)
        findURLs()
        if hasAt { findEmails() }
        var newTail = SessionTail()
        if hasDigit { newTail = scanNumbers(tail: tail) }
        scanKeyChains()
        return newTail
    }

    mutating func findURLs() {
        let t = text
        let n = t.count
        var i = 0
        let http: [UInt32] = Array("HTTP".unicodeScalars.map(\.value))
        let www: [UInt32] = Array("WWW.".unicodeScalars.map(\.value))
        while i < n {
            var isURL = false
            if t[i] == 0x48, i + 4 <= n, Array(t[i..<i + 4]) == http { isURL = true }
            if t[i] == 0x57, i + 4 <= n, Array(t[i..<i + 4]) == www { isURL = true }
            if isURL {
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
