/// Zero-based, allocation-free view of a span's digit values.
struct DigitView {
    let base: ArraySlice<UInt8>
    init(_ base: ArraySlice<UInt8>) { self.base = base }
    init(_ array: [UInt8]) { self.base = array[...] }
    @inline(__always) subscript(k: Int) -> UInt8 { base[base.startIndex + k] }
    var count: Int { base.count }
    var isEmpty: Bool { base.isEmpty }
}

/// Detectors for digit sequences: payment cards, accounts, phones, IDs, transaction numbers,
/// payment codes, and the short keyword-bound secrets (CVV, expiry, PIN, one-time codes).
extension Scanner {
    /// A run of digits inside a numeric chunk.
    struct Group {
        var start: Int
        var end: Int
        var digitStart: Int
        var count: Int { end - start }
    }

    enum Verdict {
        case none
        case notSecret
        case secret(Candidate)
    }

    /// Scans every numeric chunk; returns the tail to carry into the session's next message.
    mutating func scanNumbers(tail: SessionTail) -> SessionTail {
        let t = text
        let n = t.count
        var i = 0
        var groups: [Group] = []
        var digits: [UInt8] = []
        var lastChunk: (groups: [Group], digits: [UInt8], consumedUpTo: Int)? = nil
        var firstChunk = true
        var newTail = SessionTail()
        while i < n {
            guard CharClass.isAnyDigit(t[i]) else { i += 1; continue }
            groups.removeAll(keepingCapacity: true)
            digits.removeAll(keepingCapacity: true)
            while true {
                let gs = i
                let ds = digits.count
                // Each Chinese numeral is a group of its own (a soft boundary), so a number can
                // end before a word like 一张 or 一个 that follows it: "5678一张".
                if CharClass.isChineseDigit(t[i]) {
                    digits.append(CharClass.digitValue(t[i])); i += 1
                } else {
                    while i < n, CharClass.isDigit(t[i]) { digits.append(UInt8(t[i] - 0x30)); i += 1 }
                }
                groups.append(Group(start: gs, end: i, digitStart: ds))
                guard groups.count < 48 else { break }
                if i < n, CharClass.isAnyDigit(t[i]) { continue }
                var j = i
                while j < n, j - i < 3, CharClass.isSeparator(t[j]) || t[j] == 0x28 || t[j] == 0x29 { j += 1 }
                if j > i, j < n, CharClass.isAnyDigit(t[j]) { i = j } else { break }
            }
            // Digits glued to one or two letters belong to an alphanumeric code (SF1234…, A1B2):
            // leave that group to the key detectors.
            var first = 0, last = groups.count - 1
            if (1...2).contains(letterRun(endingAt: groups[0].start)) { first = 1 }
            let right = letterRun(startingAt: groups[last].end)
            if (1...2).contains(right), !(right == 1 && t[groups[last].end] == 0x58) { last -= 1 }
            var consumedUpTo = first
            if first <= last {
                // Usually the whole chunk: avoid copying it.
                let chunkGroups = first == 0 && last == groups.count - 1 ? groups : Array(groups[first...last])
                // A continuation may follow a short lead-in ("后面是 5678", "then 5678").
                if firstChunk, !tail.isEmpty, chunkGroups[0].start <= leadingOffset() + 8 {
                    scanSplit(tail: tail, groups: chunkGroups, digits: digits)
                }
                consumedUpTo = first + scanChunk(chunkGroups, digits)
            }
            lastChunk = (groups, digits, consumedUpTo)
            firstChunk = false
        }
        // Carry the trailing digits if the message ends with an unconsumed number.
        if let chunk = lastChunk, let lastGroup = chunk.groups.last, chunk.consumedUpTo < chunk.groups.count,
           trailingOffset() <= lastGroup.end {
            let kept = chunk.groups[chunk.consumedUpTo...]
            var tailDigits: [[UInt8]] = kept.map { g in
                let k = g.count
                return Array(chunk.digits[g.digitStart..<(g.digitStart + k)])
            }
            // A message that is only digits continues the previous tail.
            if chunk.groups.count == kept.count, let first = kept.first, first.start == leadingOffset(),
               !tail.isEmpty {
                tailDigits = tail.groups + tailDigits
            }
            while tailDigits.reduce(0, { $0 + $1.count }) > SessionTail.maxDigits { tailDigits.removeFirst() }
            let first = kept.first!.start
            let plus = first > 0 && (text[first - 1] == 0x2B || (first > 1 && text[first - 1] == 0x20 && text[first - 2] == 0x2B))
            newTail = SessionTail(groups: tailDigits, plus: plus || (chunk.groups.count == kept.count && tail.plus))
        }
        return newTail
    }

    func letterRun(endingAt index: Int) -> Int {
        var k = index
        while k > 0, CharClass.isLetter(text[k - 1]) { k -= 1 }
        return index - k
    }

    func letterRun(startingAt index: Int) -> Int {
        var k = index
        while k < text.count, CharClass.isLetter(text[k]) { k += 1 }
        return k - index
    }

    /// Offset of the first non-space scalar.
    func leadingOffset() -> Int {
        var k = 0
        while k < text.count, text[k] == 0x20 || text[k] == 0x0A { k += 1 }
        return k
    }

    /// Offset just after the last scalar that is not space or closing punctuation.
    func trailingOffset() -> Int {
        var k = text.count
        while k > 0, [0x20, 0x0A, 0x2C, 0x2E, 0x3002, 0xFF0C, 0x2026, 0x7E].contains(text[k - 1]) { k -= 1 }
        return k
    }

    /// Finds secrets in one chunk, longest span first. Returns how many leading groups were consumed
    /// by findings or known non-secrets (the rest may continue into the next message).
    mutating func scanChunk(_ groups: [Group], _ digits: [UInt8]) -> Int {
        var gi = 0
        var consumed = 0
        let g = groups.count
        outer: while gi < g {
            // The longest span that can still be a number (≤ 32 digits), however many groups.
            var gj = gi
            while gj + 1 < g, groups[gj + 1].digitStart + groups[gj + 1].count - groups[gi].digitStart <= 32 { gj += 1 }
            while gj >= gi {
                let d0 = groups[gi].digitStart
                let d1 = groups[gj].digitStart + groups[gj].count
                if d1 - d0 <= 32 {
                    var verdict = evaluate(groups, gi, gj, digits[d0..<d1])
                    // "…5678一张": a single Chinese numeral glued to the end is more likely a word
                    // (一张, 一个) than a digit; if the number is complete without it, stop before it.
                    if case .secret(let c) = verdict, gj > gi, isLoneGluedChineseDigit(groups, gj, previous: gj - 1) {
                        let shorter = groups[gj - 1].digitStart + groups[gj - 1].count
                        if case .secret(let d) = evaluate(groups, gi, gj - 1, digits[d0..<shorter]), d.type == c.type {
                            verdict = .secret(d)
                            gj -= 1
                        }
                    }
                    switch verdict {
                    case .secret(let c):
                        propose(c)
                        gi = gj + 1
                        consumed = gi
                        continue outer
                    case .notSecret:
                        protected.append(ProtectedSpan(start: groups[gi].start, end: groups[gj].end))
                        gi = gj + 1
                        consumed = gi
                        continue outer
                    case .none: break
                    }
                }
                gj -= 1
            }
            gi += 1
        }
        return consumed
    }

    func digitValue(_ d: ArraySlice<UInt8>) -> [UInt32] { d.map { UInt32($0) + 0x30 } }

    /// A single Chinese numeral glued to the end of a number and followed by a measure word or
    /// another word it commonly forms (一张, 一个, 一直, 两次): a word, not a digit.
    func isLoneGluedChineseDigit(_ groups: [Group], _ k: Int, previous: Int) -> Bool {
        guard groups[k].count == 1, CharClass.isChineseDigit(text[groups[k].start]),
              groups[previous].end == groups[k].start else { return false }
        let next = groups[k].end
        return next < text.count && Scanner.numeralWordFollowers.contains(text[next])
    }

    /// Characters that follow a numeral in ordinary words: measure words and 一直/一起/一样 ….
    static let numeralWordFollowers: Set<UInt32> = Set("张个直下起样次天些点份件条定般共切会半块元位周年月号分单套笔遍趟声句批种本台部瓶盒袋包支根间段毛角万千百十亿小秒倍折人页期维".unicodeScalars.map(\.value))

    /// Decides what the digits of groups `gi...gj` are.
    func evaluate(_ groups: [Group], _ gi: Int, _ gj: Int, _ d: ArraySlice<UInt8>) -> Verdict {
        let t = text
        let s = groups[gi].start
        var e = groups[gj].end
        let n = d.count
        func candidate(_ type: SecretType, _ confidence: Double, _ rule: String, _ priority: Int,
                       end: Int? = nil) -> Verdict {
            .secret(Candidate(type: type, start: s, end: end ?? e, confidence: confidence, rule: rule,
                              priority: priority, value: digitValue(d)))
        }

        // The shop's own numbers and toll-free lines are not customer data.
        if policy.serviceNumberLengths.contains(n), policy.serviceNumbers.contains(Array(d)) { return .notSecret }
        if n == 10, (d.starts(with: [4, 0, 0]) || d.starts(with: [8, 0, 0])) { return .notSecret }

        // (a) Exact match against issued card keys (digits-only recharge PINs and the like).
        if issued?.couldContain(length: n) == true, issued!.contains(normalised: digitValue(d)) {
            return candidate(.cardKey, 1.0, "issued-key", Candidate.Priority.issuedKey)
        }

        let plus = s > 0 && (t[s - 1] == 0x2B || (s > 1 && t[s - 1] == 0x20 && t[s - 2] == 0x2B))

        // Resident ID: 17 digits + check digit (or X).
        if n == 18, Checksums.residentIDValid(d.prefix(17), check: Int(d.last!)) {
            return candidate(.cnResidentID, 0.97, "gb11643", Candidate.Priority.checksummed)
        }
        if n == 17, e < t.count, t[e] == 0x58, Checksums.residentIDValid(d, check: 10) {
            e += 1
            var c = Candidate(type: .cnResidentID, start: s, end: e, confidence: 0.97, rule: "gb11643",
                              priority: Candidate.Priority.checksummed, value: digitValue(d))
            c.value.append(0x58)
            return .secret(c)
        }
        if n == 15, near(.residentID, s, e), Checksums.legacyResidentIDPlausible(d) {
            return candidate(.cnResidentID, 0.8, "legacy-id+keyword", Candidate.Priority.checksummed)
        }

        // Transaction numbers: tokenised, support needs them.
        let transactionKeyword = near(.transaction, s, e)
        if n >= 20, n <= 32, transactionKeyword {
            return candidate(.transactionNumber, 0.95, "transaction+keyword", Candidate.Priority.transaction)
        }
        if n == 28, looksLikeWalletTradeNumber(d) {
            return candidate(.transactionNumber, 0.85, "wallet-trade-shape", Candidate.Priority.transaction)
        }

        // Wallet payment codes (bearer secrets).
        if n >= 16, n <= 20, near(.paymentCode, s, e) {
            return candidate(.paymentCode, 0.95, "payment-code+keyword", Candidate.Priority.paymentCode)
        }

        // Payment cards.
        if n >= 12, n <= 19, Checksums.luhn(d) {
            let cardKeyword = near(.paymentCard, s, e)
            if Checksums.knownCardPrefix(d) {
                let keyword = cardKeyword || near(.bankAccount, s, e) || near(.cardKeyOrAccount, s, e)
                return candidate(.paymentCard, keyword ? 0.99 : 0.93, "luhn+prefix", Candidate.Priority.paymentCard)
            }
            // No issuer prefix: a card only next to a card keyword (信用卡, card number …);
            // next to 银行卡 / 账号 / account it is an account number, below.
            if cardKeyword {
                return candidate(.paymentCard, 0.8, "luhn+keyword", Candidate.Priority.paymentCard)
            }
        }

        // Bank accounts: a keyword makes even Luhn failures likely accounts.
        if n >= 9, n <= 30, near(.bankAccount, s, e) || nearestContexts(s, e, among: [.cardKeyOrAccount, .cardKey, .nonSecret, .transaction]) == [.cardKeyOrAccount] {
            return candidate(.bankAccount, Checksums.luhn(d) ? 0.85 : 0.65, "account+keyword",
                             Candidate.Priority.bankAccount)
        }

        // Phones.
        if let phone = phoneVerdict(groups, gi, gj, d, plus: plus) { return phone }

        // Keyword-bound short secrets: decided by the nearest keyword.
        if n <= 8 {
            if let short = shortSecret(groups, gi, gj, d) { return short }
        }

        // Digits after a card-key keyword (recharge PINs, numeric keys) — standing alone, not the
        // digit part of a letter-and-digit key ("vbz5 6648 7adh" is one key, found whole elsewhere).
        if n >= 6, n <= 32, !(s > 0 && (CharClass.isAlnum(t[s - 1]) || CharClass.isChineseDigit(t[s - 1]))),
           !(e < t.count && (CharClass.isAlnum(t[e]) || CharClass.isChineseDigit(t[e]))) {
            let nearest = nearestContexts(s, e, among: [.cardKey, .nonSecret, .transaction, .phone, .oneTimeCode, .pin, .cardKeyOrAccount], after: 0)
            if nearest.contains(.cardKey), !nearest.contains(.nonSecret) {
                return candidate(.cardKey, 0.85, "key+keyword", Candidate.Priority.keywordKey)
            }
        }
        return .none
    }

    /// Alipay trade numbers start with the date (yyyyMMdd) and carry 2200/2100/…; WeChat Pay
    /// transaction ids start with 4200 / 4100 / 4300 …
    func looksLikeWalletTradeNumber(_ d: ArraySlice<UInt8>) -> Bool {
        let a = DigitView(d)
        if a[0] == 4, a[1] >= 1, a[1] <= 3, a[2] == 0, a[3] == 0 { return true }
        let year = (0...3).reduce(0) { $0 * 10 + Int(a[$1]) }
        let month = Int(a[4]) * 10 + Int(a[5])
        let day = Int(a[6]) * 10 + Int(a[7])
        return (2010...2039).contains(year) && Checksums.validDate(year: year, month: month, day: day)
    }

    func phoneVerdict(_ groups: [Group], _ gi: Int, _ gj: Int, _ d: ArraySlice<UInt8>, plus: Bool) -> Verdict? {
        let s = groups[gi].start, e = groups[gj].end
        let n = d.count
        let a = DigitView(d)
        func phone(_ confidence: Double, _ rule: String) -> Verdict {
            .secret(Candidate(type: .phone, start: s, end: e, confidence: confidence, rule: rule,
                              priority: Candidate.Priority.phone, value: digitValue(d)))
        }
        func cnMobile(_ k: Int) -> Bool { a.count == k + 11 && a[k] == 1 && a[k + 1] >= 3 }
        if cnMobile(0) { return phone(0.97, "cn-mobile") }
        if n == 13, a[0] == 8, a[1] == 6, cnMobile(2) { return phone(0.97, "cn-mobile") }
        if n == 15, a[0] == 0, a[1] == 0, a[2] == 8, a[3] == 6, cnMobile(4) { return phone(0.97, "cn-mobile") }
        let keyword = near(.phone, s, e)
        // A longer run of digits that merely contains a landline- or NANP-shaped piece is not a
        // phone without a keyword ("编号5159 0903 5412 7300").
        let wholeChunk = gi == 0 && gj == groups.count - 1
        if plus, a[0] != 0, e164Length(a) { return phone(0.95, "e164") }
        if n >= 10, n <= 17, a[0] == 0, a[1] == 0, a[2] != 0, keyword { return phone(0.9, "intl+keyword") }
        // Chinese landlines: 0 + area code (010, 02x: 3 digits; others 4) + 7–8 digits.
        if a[0] == 0, n >= 10, n <= 12 {
            let area = (a[1] == 1 || a[1] == 2) ? 3 : 4
            let subscriber = n - area
            if a[1] != 0, subscriber == 7 || subscriber == 8, a[area] >= 2 {
                // An area-code boundary or a keyword keeps dates and quantities out.
                var firstTyped = gi
                while firstTyped < gj, groups[firstTyped].end == groups[firstTyped + 1].start { firstTyped += 1 }
                let boundary = firstTyped < gj && groups[firstTyped].end - groups[gi].start == area
                // One typed group (Chinese numerals split groups softly, not as typed).
                let typedSingle = (gi..<gj).allSatisfy { groups[$0].end == groups[$0 + 1].start }
                if keyword || (wholeChunk && (boundary || typedSingle)) {
                    return phone(boundary || keyword ? 0.9 : 0.75, "cn-landline")
                }
            }
        }
        // North American numbers: 3-3-4 grouping, or 10 digits with a keyword.
        if n == 10, a[0] >= 2, a[3] >= 2 {
            let shape = gj - gi == 2 && groups[gi].count == 3 && groups[gi + 1].count == 3
            if (shape && wholeChunk) || keyword { return phone(keyword ? 0.9 : 0.75, "nanp") }
        }
        if n == 11, a[0] == 1, a[1] >= 2, a[4] >= 2, keyword { return phone(0.85, "nanp+keyword") }
        // Local numbers given with a keyword ("电话 62345678") — unless a code keyword is nearer
        // ("手机收到46118918这个验证码").
        if keyword, n >= 7, n <= 8, a[0] >= 2, gj - gi <= 1,
           nearestContexts(s, e, among: [.phone, .oneTimeCode, .pin, .cvv, .paymentCode, .cardKey],
                           closestEitherSide: true) == [.phone], !near(.oneTimeCode, s, e) {
            return phone(0.7, "local+keyword")
        }
        return nil
    }

    /// Plausible E.164 lengths (country code included) for the countries customers call from.
    func e164Length(_ a: DigitView) -> Bool {
        let n = a.count
        guard n >= 8, n <= 15 else { return false }
        if a[0] == 1 { return n == 11 }                          // NANP
        if a[0] == 8, a[1] == 6 { return n >= 11 && n <= 13 }    // China: mobile 13, landline 11–13
        if a[0] == 4, a[1] == 4 { return n == 11 || n == 12 }    // UK
        if a[0] == 8, a[1] == 5, a[2] == 2 || a[2] == 3 { return n == 11 }  // Hong Kong, Macau
        if a[0] == 8, a[1] == 8, a[2] == 6 { return n == 11 || n == 12 }    // Taiwan
        if a[0] == 6, a[1] == 5 { return n == 10 }               // Singapore
        return n >= 9
    }

    /// CVV, expiry, PIN and one-time codes: only with their keyword, and never amounts.
    func shortSecret(_ groups: [Group], _ gi: Int, _ gj: Int, _ d: ArraySlice<UInt8>) -> Verdict? {
        let s = groups[gi].start, e = groups[gj].end
        if isAmountOrQuantity(s, e) { return nil }
        let wanted: ContextSet = [.cvv, .expiry, .pin, .oneTimeCode, .paymentCode, .cardKey, .nonSecret, .transaction, .phone]
        let nearest = nearestContexts(s, e, among: wanted, closestEitherSide: true)
        guard !nearest.isEmpty else { return nil }
        if let verdict = shortSecret(groups, gi, gj, d, contexts: nearest) { return verdict }
        // "CVC: 994 exp 12/27": the nearer keyword belongs to the next value; try the other side.
        let before = nearestContexts(s, e, among: wanted, after: 0)
        let other = before == nearest ? nearestContexts(s, e, among: wanted, before: -1) : before
        guard !other.isEmpty, other != nearest else { return nil }
        return shortSecret(groups, gi, gj, d, contexts: other)
    }

    func shortSecret(_ groups: [Group], _ gi: Int, _ gj: Int, _ d: ArraySlice<UInt8>, contexts: ContextSet) -> Verdict? {
        let t = text
        let s = groups[gi].start, e = groups[gj].end
        let n = d.count
        func secret(_ type: SecretType, _ rule: String) -> Verdict {
            .secret(Candidate(type: type, start: s, end: e, confidence: 0.9, rule: rule,
                              priority: Candidate.Priority.keywordShort, value: digitValue(d)))
        }
        // Groups as typed: soft boundaries between ASCII and Chinese digits do not count.
        var typed: [(start: Int, end: Int)] = []
        for k in gi...gj {
            if let last = typed.last, last.end == groups[k].start { typed[typed.count - 1].end = groups[k].end }
            else { typed.append((groups[k].start, groups[k].end)) }
        }
        let groupCount = typed.count
        if contexts.contains(.expiry) {
            let a = DigitView(d)
            if groupCount == 2 {
                let sepIsDateLike = (typed[0].end..<typed[1].start).allSatisfy { t[$0] == 0x2F || t[$0] == 0x2D || t[$0] == 0x20 || t[$0] == 0x2E }
                let firstLength = typed[0].end - typed[0].start
                let mm = firstLength == 2 ? Int(a[0]) * 10 + Int(a[1]) : -1
                let yyLength = typed[1].end - typed[1].start
                if sepIsDateLike, (1...12).contains(mm), yyLength == 2 || yyLength == 4 {
                    return secret(.cardExpiry, "expiry+keyword")
                }
            }
            if groupCount == 1, n == 4, (1...12).contains(Int(a[0]) * 10 + Int(a[1])) {
                return secret(.cardExpiry, "expiry+keyword")
            }
        }
        guard groupCount <= 2 else { return nil }
        if contexts.contains(.cvv), n == 3 || n == 4, groupCount == 1 { return secret(.cvv, "cvv+keyword") }
        if contexts.contains(.oneTimeCode), n >= 4 { return secret(.oneTimeCode, "otp+keyword") }
        if contexts.contains(.pin), n >= 4, n <= 6 { return secret(.pin, "pin+keyword") }
        if contexts.contains(.paymentCode), n >= 4 { return secret(.paymentCode, "payment-code+keyword") }
        if contexts.contains(.cardKey), n >= 6 { return secret(.cardKey, "key+keyword") }
        return nil
    }

    /// ¥99, 100元, 3张, 20% … are never short secrets.
    func isAmountOrQuantity(_ s: Int, _ e: Int) -> Bool {
        let t = text
        var k = s - 1
        while k >= 0, t[k] == 0x20 { k -= 1 }
        if k >= 0, [0xA5, 0xFFE5, 0x24, 0x20AC, 0xA3, 0x58 /* X as in x3 */].contains(t[k]) { return true }
        if k >= 2, t[k] == 0x42, t[k - 1] == 0x4D, t[k - 2] == 0x52 { return true }  // RMB
        var j = e
        while j < t.count, t[j] == 0x20 { j += 1 }
        guard j < t.count else { return false }
        let units = Scanner.unitScalars
        if units.contains(t[j]) { return true }
        // English units and currencies: "25 USD", "3 pcs", "10 days".
        var word: [UInt32] = []
        while j < t.count, CharClass.isLetter(t[j]), word.count < 8 { word.append(t[j]); j += 1 }
        return !word.isEmpty && Scanner.unitWords.contains(word)
    }

    static let unitScalars: Set<UInt32> = [0x5143 /*元*/, 0x5757 /*块*/, 0x89D2 /*角*/, 0x7F8E /*美*/, 0x5200 /*刀*/,
                                  0x25 /*%*/, 0x4E2A /*个*/, 0x5F20 /*张*/, 0x6B21 /*次*/, 0x5929 /*天*/,
                                  0x53F7 /*号*/, 0x6708 /*月*/, 0x5E74 /*年*/, 0x65E5 /*日*/, 0x70B9 /*点*/,
                                  0x79D2 /*秒*/, 0x500D /*倍*/, 0x6298 /*折*/, 0x5C0F /*小*/, 0x5206 /*分*/,
                                  0x4EBA /*人*/, 0x4EF6 /*件*/, 0x6761 /*条*/, 0x9875 /*页*/, 0x5468 /*周*/,
                                  0x4F4D /*位*/, 0x7B14 /*笔*/, 0x5355 /*单*/, 0x6B3E /*款*/, 0x4EFD /*份*/]

    static let unitWords: Set<[UInt32]> = Set(["USD", "RMB", "CNY", "HKD", "EUR", "GBP", "PCS", "PC", "DAYS", "DAY",
                                               "HOURS", "HOUR", "MINS", "MIN", "MINUTES", "YUAN", "DOLLARS", "BUCKS",
                                               "TIMES", "CARDS", "CODES", "KEYS", "MONTHS", "YEARS", "GB", "MB", "K"]
        .map { Array($0.unicodeScalars.map(\.value)) })

    /// A number split across messages: the tail of earlier messages plus this message's
    /// leading groups. Only this message's digits can be masked; the finding says so.
    mutating func scanSplit(tail: SessionTail, groups: [Group], digits: [UInt8]) {
        let leadCount = min(groups.count, 6)
        for m in stride(from: leadCount, through: 1, by: -1) {
            let lead = Array(digits[0..<(groups[m - 1].digitStart + groups[m - 1].count)])
            for k in 1...tail.groups.count {
                let previous = tail.groups.suffix(k).flatMap { $0 }
                let whole = previous + lead
                // The `+` stands before the tail's first group: only the whole tail can follow it.
                guard let type = completesSecret(whole, plus: tail.plus && k == tail.groups.count) else { continue }
                // Only when the pieces alone are not already the secret.
                if completesSecret(lead, plus: false) != nil { return }
                let value = whole.map { UInt32($0) + 0x30 }
                var c = Candidate(type: type, start: groups[0].start, end: groups[m - 1].end, confidence: 0.85,
                                  rule: "split-number", priority: Candidate.Priority.phone, value: value)
                c.continuesPreviousMessage = true
                propose(c)
                return
            }
        }
    }

    func completesSecret(_ a: [UInt8], plus: Bool) -> SecretType? {
        let n = a.count
        if plus, !a.isEmpty, a[0] != 0, e164Length(DigitView(a)), !(a[0] == 8 && a[1] == 6 && n < 13) { return .phone }
        if n == 11, a[0] == 1, a[1] >= 3 { return .phone }
        if n == 13, a[0] == 8, a[1] == 6, a[2] == 1, a[3] >= 3 { return .phone }
        if n >= 13, n <= 19, Checksums.luhn(a[...]), Checksums.knownCardPrefix(a[...]) { return .paymentCard }
        if n == 18, Checksums.residentIDValid(a.prefix(17), check: Int(a[17])) { return .cnResidentID }
        return nil
    }
}
