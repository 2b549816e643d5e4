import Foundation
import Testing
import Redaction
import Sealing
import PolicyFiles

/// Property: random Chinese/English chat with secrets planted in random obfuscations never lets six
/// or more consecutive characters of a planted secret (after normalisation) reach the output.
@Suite struct LeakPropertyTests {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let zhWords = ["你好", "我", "买了", "一张", "卡", "但是", "没收到", "麻烦", "看看", "谢谢", "客服", "在吗", "急",
                          "怎么回事", "好的", "请问", "退款", "充值", "失败", "了", "，", "。", "！", "？", " "]
    static let enWords = ["hi", "i", "bought", "a", "gift", "card", "but", "never", "got", "it", "please", "check",
                          "thanks", "refund", "the", "shop", "is", "broken", ",", ".", "!", "?"]
    static let zhDigits: [Character] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]
    static let capitalDigits: [Character] = ["零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"]
    static let zeroWidth: [Character] = ["\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}"]
    static let separators = [" ", "-", "\u{00A0}", "\u{3000}", ".", "·", "_", "－", "\n"]

    static func luhnComplete(_ digits: [Int]) -> [Int] {
        for check in 0...9 {
            let all = digits + [check]
            var sum = 0
            for (i, d) in all.reversed().enumerated() { var v = d; if i % 2 == 1 { v *= 2; if v > 9 { v -= 9 } }; sum += v }
            if sum % 10 == 0 { return all }
        }
        return digits
    }

    /// A secret: its canonical characters, its grouping, and a keyword to put before it (or none).
    static func secret(_ rng: inout RNG) -> (value: [Character], groups: [Int], keyword: String) {
        func digits(_ n: Int) -> [Int] { (0..<n).map { _ in Int(rng.next() % 10) } }
        switch rng.next() % 6 {
        case 0:  // Chinese mobile
            let d = [1, [3, 5, 7, 8, 9][Int(rng.next() % 5)]] + digits(9)
            return (d.map { Character(String($0)) }, [3, 4, 4], ["", "手机", "电话", "tel "][Int(rng.next() % 4)])
        case 1:  // UnionPay / Visa card
            let prefix = rng.next() % 2 == 0 ? [6, 2, 2, 2] : [4, 5, 3, 9]
            let d = luhnComplete(prefix + digits(11))
            return (d.map { Character(String($0)) }, [4, 4, 4, 4], ["", "卡号", "card "][Int(rng.next() % 3)])
        case 2:  // resident ID
            let body = [1, 1, 0, 1, 0, 1] + [1, 9, 8, Int(rng.next() % 10)] + [0, Int(1 + rng.next() % 9)] + [1, Int(rng.next() % 9)] + digits(3)
            let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
            let check = (12 - zip(weights, body).map(*).reduce(0, +) % 11) % 11
            let chars = body.map { Character(String($0)) } + [check == 10 ? "X" : Character(String(check))]
            return (chars, [6, 8, 4], ["", "身份证"][Int(rng.next() % 2)])
        case 3:  // card key after a keyword
            let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
            var chars = (0..<16).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            chars[Int(rng.next() % 16)] = "7"  // at least one digit
            return (chars, [4, 4, 4, 4], ["卡密", "激活码", "key ", "兑换码"][Int(rng.next() % 4)])
        case 4:  // e-mail
            let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
            let local = (0..<(6 + Int(rng.next() % 6))).map { _ in letters[Int(rng.next() % UInt64(letters.count))] }
            return (local + Array("@example.com"), [], ["", "邮箱"][Int(rng.next() % 2)])
        default:  // one-time code
            let d = digits(6)
            return (d.map { Character(String($0)) }, [6], ["验证码", "OTP ", "verification code "][Int(rng.next() % 3)])
        }
    }

    /// Renders a secret with random obfuscations.
    static func obfuscate(_ value: [Character], groups: [Int], _ rng: inout RNG) -> String {
        let isEmail = value.contains("@")
        let fullWidth = rng.next() % 4 == 0
        let chinese = !isEmail && rng.next() % 4 == 0
        let zw = rng.next() % 4 == 0
        let lower = rng.next() % 2 == 0
        let sep = groups.isEmpty || rng.next() % 3 == 0 ? "" : separators[Int(rng.next() % UInt64(separators.count))]
        var boundaries: Set<Int> = []
        var acc = 0
        for g in groups.dropLast() { acc += g; boundaries.insert(acc) }
        var out = ""
        for (i, c) in value.enumerated() {
            if boundaries.contains(i) { out += sep }
            var ch = c
            if let d = c.wholeNumberValue, c.isASCII {
                if chinese && rng.next() % 2 == 0 { ch = (rng.next() % 2 == 0 ? zhDigits : capitalDigits)[d] }
                else if fullWidth { ch = Character(Unicode.Scalar(0xFF10 + UInt32(d))!) }
            } else if c.isLetter, c.isASCII {
                if lower { ch = Character(c.lowercased()) }
                if fullWidth { ch = Character(Unicode.Scalar(c.unicodeScalars.first!.value + 0xFEE0)!) }
            } else if c == "@", fullWidth { ch = "＠" }
            out.append(ch)
            if zw, i < value.count - 1, rng.next() % 3 == 0 { out.append(zeroWidth[Int(rng.next() % UInt64(zeroWidth.count))]) }
        }
        return out
    }

    /// Normalisation for the leak check, independent of the redactor's own: NFKC, no invisible
    /// characters, Chinese numerals as digits, upper case, letters and digits only.
    static func normalise(_ s: String) -> [Character] {
        var out: [Character] = []
        for ch in s.precomposedStringWithCompatibilityMapping {
            if let i = zhDigits.firstIndex(of: ch) { out.append(Character(String(i))); continue }
            if let i = capitalDigits.firstIndex(of: ch) { out.append(Character(String(i))); continue }
            if ch == "〇" { out.append("0"); continue }
            if ch.isASCII, ch.isLetter || ch.isNumber || ch == "@" || ch == "." { out.append(Character(ch.uppercased())) }
        }
        return out
    }

    static func leaks(_ secret: [Character], into output: [Character], run: Int = 6) -> String? {
        guard secret.count >= run else { return nil }
        let outputString = String(output)
        for start in 0...(secret.count - run) {
            let piece = String(secret[start..<(start + run)])
            if outputString.contains(piece) { return piece }
        }
        return nil
    }

    @Test func plantedSecretsNeverLeakSixCharacters() throws {
        let redactor = try Redactor(policy: RedactionPolicyFile.builtInDefault, tokenizer: BLAKE2bKeyedHasher.random())
        // KAMIRELAY_PROPERTY_ITERATIONS / KAMIRELAY_PROPERTY_SEED run a longer or different search locally.
        let environment = ProcessInfo.processInfo.environment
        let iterations = environment["KAMIRELAY_PROPERTY_ITERATIONS"].flatMap(Int.init) ?? 4000
        var rng = RNG(state: environment["KAMIRELAY_PROPERTY_SEED"].flatMap(UInt64.init) ?? 20261126)
        var failures: [String] = []
        for iteration in 0..<iterations {
            let english = rng.next() % 3 == 0
            let words = english ? Self.enWords : Self.zhWords
            let joiner = english ? " " : ""
            func filler() -> String {
                (0..<Int(rng.next() % 6)).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: joiner)
            }
            let (value, groups, keyword) = Self.secret(&rng)
            let planted = Self.obfuscate(value, groups: groups, &rng)
            let glue = english || rng.next() % 2 == 0 ? " " : ""
            let message = filler() + glue + keyword + planted + glue + filler()
            let output = redactor.redact(message).text
            let canonical = Self.normalise(String(value))
            if let piece = Self.leaks(canonical, into: Self.normalise(output)) {
                failures.append("#\(iteration) leaked \(piece): \(message.debugDescription) → \(output.debugDescription)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) leaks, e.g.:\n\(failures.prefix(15).joined(separator: "\n"))")
    }
}

/// Robustness: arbitrary Unicode (controls, RTL overrides, combining marks, emoji, unassigned
/// and private-use scalars, digits of every script) never crashes the redactor, and every result
/// is consistent: findings are in bounds, ordered, disjoint, and the output is exactly the input
/// with each finding's span replaced.
@Suite struct ArbitraryUnicodeTests {
    static let interesting: [ClosedRange<UInt32>] = [
        0x00...0x7F, 0x80...0x2FF, 0x300...0x36F, 0x590...0x6FF, 0x660...0x669, 0x966...0x96F, 0x200B...0x202E,
        0x2060...0x206F, 0x2460...0x24FF, 0x3000...0x303F, 0x4E00...0x4E2F, 0x96F6...0x96F6, 0xFE00...0xFE0F,
        0xFF01...0xFF5E, 0xFFF0...0xFFFD, 0x1D400...0x1D7FF, 0x1F300...0x1F64F, 0xE0000...0xE007F, 0x10FFF0...0x10FFFD,
    ]

    @Test func randomUnicodeGivesConsistentResults() throws {
        let redactor = try Redactor(policy: RedactionPolicyFile.builtInDefault, tokenizer: BLAKE2bKeyedHasher.random())
        var rng = LeakPropertyTests.RNG(state: 42)
        var session = RedactionSession(redactor: redactor)
        for _ in 0..<3000 {
            var scalars: [Unicode.Scalar] = []
            for _ in 0..<Int(rng.next() % 120) {
                let pick = rng.next() % 4
                if pick == 0 {
                    scalars.append(contentsOf: "13812345678".unicodeScalars)  // something to find now and then
                } else {
                    let range = Self.interesting[Int(rng.next() % UInt64(Self.interesting.count))]
                    let v = range.lowerBound + UInt32(rng.next() % UInt64(range.upperBound - range.lowerBound + 1))
                    if let s = Unicode.Scalar(v) { scalars.append(s) }
                }
            }
            let text = String(String.UnicodeScalarView(scalars))
            let result = session.redact(text)
            let original = Array(text.unicodeScalars)
            var rebuilt = String.UnicodeScalarView()
            var cursor = 0
            for f in result.findings {
                #expect(f.start >= cursor && f.start < f.end && f.end <= original.count)
                guard f.start >= cursor, f.end <= original.count, f.start < f.end else { break }
                rebuilt.append(contentsOf: original[cursor..<f.start])
                // Work in scalars: a combining mark after "]" joins it into one Character.
                let rest = Array(result.text.unicodeScalars.dropFirst(rebuilt.count))
                #expect(String(String.UnicodeScalarView(rest)).unicodeScalars.starts(with: "[\(f.type.label)".unicodeScalars))
                guard let close = rest.firstIndex(of: "]") else { break }
                rebuilt.append(contentsOf: rest[...close])
                cursor = f.end
            }
            rebuilt.append(contentsOf: original[cursor...])
            #expect(String(rebuilt) == result.text)
        }
    }
}
