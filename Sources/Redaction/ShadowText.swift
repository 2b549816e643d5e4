import Foundation

/// A normalised "shadow" of a message that detectors scan, with a map back to the original.
///
/// The shadow undoes the usual obfuscations so that one scanner sees one form:
/// - compatibility forms fold to ASCII (full-width `１２３`, `＠`, `．`, mathematical and enclosed
///   alphanumerics — the NFKC mappings that matter for secrets),
/// - any Unicode decimal digit becomes an ASCII digit; the Chinese numerals
///   〇零一二三四五六七八九幺两壹贰叁肆伍陆柒捌玖 become *Chinese digits* (``cnDigitBase`` + value):
///   digits to the number detectors, but not to e-mail and key detectors, and a soft boundary
///   inside a number so that "…5678一张" can end before the 一,
/// - ASCII letters are upper-cased,
/// - zero-width, bidi-control and other format characters disappear.
///
/// Every shadow scalar keeps the index of the original scalar it came from, so a finding in the
/// shadow masks exactly the original characters (including any zero-width characters inside).
struct ShadowText {
    /// Normalised scalar values.
    var scalars: [UInt32]
    /// For each shadow scalar, the index of its original scalar.
    var origin: [Int32]
    /// The original message as UTF-8.
    var bytes: [UInt8]
    /// Byte offset of each original scalar, plus the total length at the end.
    var scalarStart: [Int32]

    /// Number of Unicode scalars in the original.
    var originalCount: Int { scalarStart.count - 1 }

    /// What the text could hold, gathered while folding, so detectors that cannot fire are skipped.
    struct Profile {
        var hasASCIIDigit = false
        var hasAt = false
        var letters = 0
        /// The longest run of digits, letting single separators through ("138 1234"). Chinese text
        /// is full of lone numerals (一张, 一直) that can never make a number on their own.
        var longestDigitRun = 0
        var longestAlnumRun = 0
        /// "://" or "WWW." occurs.
        var mayHaveURL = false
    }
    var profile = Profile()

    init(_ text: String) {
        var text = text
        let bytes = text.withUTF8 { Array($0) }
        let n = bytes.count
        var shadowCount = 0
        var originalCount = 0
        var origin: [Int32] = []
        var starts: [Int32] = []
        var profile = Profile()
        // One pass fills all three arrays through raw pointers: this loop runs once per byte of
        // every message, so it avoids per-append uniqueness checks.
        let scalars = [UInt32](unsafeUninitializedCapacity: n) { scalarBuffer, scalarsInitialised in
            origin = [Int32](unsafeUninitializedCapacity: n) { originBuffer, originInitialised in
                starts = [Int32](unsafeUninitializedCapacity: n + 1) { startBuffer, startsInitialised in
                    bytes.withUnsafeBufferPointer { b in
                      ShadowText.numeralBits.withUnsafeBufferPointer { numerals in
                        var i = 0
                        var index: Int32 = 0
                        var out = 0
                        var p = Profile()
                        var digitRun = 0, alnumRun = 0, lastWasSeparator = false
                        var previous: UInt32 = 0, beforePrevious: UInt32 = 0
                        // Swift strings are valid UTF-8, so decoding needs no error paths.
                        while i < n {
                            startBuffer[Int(index)] = Int32(i)
                            let b0 = UInt32(b[i])
                            var v: UInt32
                            if b0 < 0x80 { v = b0; i += 1 }
                            else if b0 < 0xE0 { v = (b0 & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F); i += 2 }
                            else if b0 < 0xF0 {
                                v = (b0 & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F); i += 3
                            } else {
                                v = (b0 & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6
                                    | UInt32(b[i + 3] & 0x3F)
                                i += 4
                            }
                            let folded = ShadowText.fold(v, numerals: numerals)
                            if folded != ShadowText.removed {
                                scalarBuffer[out] = folded
                                originBuffer[out] = index
                                out += 1
                                // Profile.
                                if CharClass.isAlnum(folded) {
                                    alnumRun += 1
                                    if alnumRun > p.longestAlnumRun { p.longestAlnumRun = alnumRun }
                                } else { alnumRun = 0 }
                                if CharClass.isAnyDigit(folded) {
                                    if CharClass.isDigit(folded) { p.hasASCIIDigit = true }
                                    digitRun += 1
                                    lastWasSeparator = false
                                    if digitRun > p.longestDigitRun { p.longestDigitRun = digitRun }
                                } else if CharClass.isSeparator(folded), !lastWasSeparator, digitRun > 0 {
                                    lastWasSeparator = true
                                } else {
                                    digitRun = 0
                                    lastWasSeparator = false
                                    if folded == 0x40 { p.hasAt = true }
                                    else if CharClass.isLetter(folded) { p.letters += 1 }
                                    else if folded == 0x2F, previous == 0x2F, beforePrevious == 0x3A { p.mayHaveURL = true }
                                    else if folded == 0x2E, previous == 0x57, beforePrevious == 0x57 { p.mayHaveURL = true }
                                }
                                beforePrevious = previous
                                previous = folded
                            }
                            index += 1
                        }
                        startBuffer[Int(index)] = Int32(n)
                        shadowCount = out
                        originalCount = Int(index)
                        profile = p
                      }
                    }
                    startsInitialised = originalCount + 1
                }
                originInitialised = shadowCount
            }
            scalarsInitialised = shadowCount
        }
        self.scalars = scalars
        self.origin = origin
        self.scalarStart = starts
        self.bytes = bytes
        self.profile = profile
    }

    /// Whether the original character behind shadow position `k` was a lower-case ASCII letter.
    func originalIsLowercaseASCII(_ k: Int) -> Bool {
        let b = bytes[Int(scalarStart[Int(origin[k])])]
        return b >= 0x61 && b <= 0x7A
    }

    static let removed: UInt32 = 0xFFFF_FFFF

    /// The shadow form of one scalar (or `removed`).
    static func fold(_ v: UInt32) -> UInt32 {
        numeralBits.withUnsafeBufferPointer { fold(v, numerals: $0) }
    }

    /// The hot-loop form: the caller holds the numeral bitmap.
    @inline(__always)
    static func fold(_ v: UInt32, numerals: UnsafeBufferPointer<UInt64>) -> UInt32 {
        if v < 0x80 {
            return (v >= 0x61 && v <= 0x7A) ? v - 0x20 : v
        }
        if v >= 0x4E00 && v <= 0x9FFF {
            // One bit test rejects all but the 21 ideographs that are numerals.
            let k = Int(v - 0x4E00)
            guard (numerals[k >> 6] >> UInt64(k & 63)) & 1 == 1 else { return v }
            return chineseNumeral(v) ?? v
        }
        return foldRare(v)
    }

    /// Bit k set: U+4E00+k is a Chinese numeral.
    static let numeralBits: [UInt64] = {
        var bits = [UInt64](repeating: 0, count: (0x9FFF - 0x4E00) / 64 + 1)
        for v in UInt32(0x4E00)...0x9FFF where chineseNumeral(v) != nil {
            let k = Int(v - 0x4E00)
            bits[k >> 6] |= 1 << UInt64(k & 63)
        }
        return bits
    }()

    /// Chinese digits live above the Unicode range so no real scalar collides with them.
    static let cnDigitBase: UInt32 = 0x110000

    @inline(__always)
    static func chineseNumeral(_ v: UInt32) -> UInt32? {
        switch v {
        case 0x96F6 /*零*/: return cnDigitBase
        case 0x4E00 /*一*/, 0x5E7A /*幺*/, 0x58F9 /*壹*/: return cnDigitBase + 1
        case 0x4E8C /*二*/, 0x4E24 /*两*/, 0x8D30 /*贰*/: return cnDigitBase + 2
        case 0x4E09 /*三*/, 0x53C1 /*叁*/: return cnDigitBase + 3
        case 0x56DB /*四*/, 0x8086 /*肆*/: return cnDigitBase + 4
        case 0x4E94 /*五*/, 0x4F0D /*伍*/: return cnDigitBase + 5
        case 0x516D /*六*/, 0x9646 /*陆*/: return cnDigitBase + 6
        case 0x4E03 /*七*/, 0x67D2 /*柒*/: return cnDigitBase + 7
        case 0x516B /*八*/, 0x634C /*捌*/: return cnDigitBase + 8
        case 0x4E5D /*九*/, 0x7396 /*玖*/: return cnDigitBase + 9
        default: return nil
        }
    }

    static func foldRare(_ v: UInt32) -> UInt32 {
        switch v {
        // Zero-width and format characters: soft hyphen, ZWSP/ZWNJ/ZWJ, LRM/RLM, bidi
        // embeddings and isolates, word joiner and invisible operators, BOM, variation
        // selectors, the combining keycap.
        case 0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B...0x180F,
             0x200B...0x200F, 0x202A...0x202E, 0x2060...0x206F, 0x20E3, 0xFE00...0xFE0F,
             0xFEFF, 0x3164, 0xFFA0, 0xE0000...0xE007F:
            return removed
        case 0x3007 /*〇*/: return cnDigitBase
        case 0x3000, 0x00A0, 0x2000...0x200A, 0x202F, 0x205F: return 0x20  // spaces
        case 0x2010...0x2015, 0x2212, 0x30FC: return 0x2D  // dashes, minus, long vowel mark
        case 0x30FB, 0x2022, 0x2027: return 0xB7  // middle dots
        case 0xFF01...0xFF5E:  // full-width ASCII
            let a = v - 0xFEE0
            return (a >= 0x61 && a <= 0x7A) ? a - 0x20 : a
        case 0x1F000...0x1FFFF, 0x3001...0x3006, 0x3008...0x303F, 0xFF5F...0xFFEF, 0x2016...0x2021,
             0x2023...0x2026, 0x2030...0x205E:
            return v  // emoji, CJK and general punctuation: nothing to fold, skip the property look-up
        default: break
        }
        guard let scalar = Unicode.Scalar(v) else { return v }
        let props = scalar.properties
        if props.numericType == .decimal, let value = props.numericValue, value >= 0, value <= 9 {
            return 0x30 + UInt32(value)
        }
        // Other compatibility forms that fold to one ASCII letter or digit (𝐀, ⓐ, ①).
        if props.changesWhenNFKCCaseFolded {
            let mapped = String(Character(scalar)).precomposedStringWithCompatibilityMapping
            if mapped.unicodeScalars.count == 1, let m = mapped.unicodeScalars.first, m.isASCII {
                let a = m.value
                return (a >= 0x61 && a <= 0x7A) ? a - 0x20 : a
            }
        }
        return v
    }
}

/// Character classes of shadow scalars.
enum CharClass {
    /// ASCII digit (after folding: any script's decimal digits).
    @inline(__always) static func isDigit(_ v: UInt32) -> Bool { v &- 0x30 < 10 }
    /// A Chinese numeral standing for a digit.
    @inline(__always) static func isChineseDigit(_ v: UInt32) -> Bool { v &- ShadowText.cnDigitBase < 10 }
    /// Either kind of digit: what number detectors read.
    @inline(__always) static func isAnyDigit(_ v: UInt32) -> Bool { isDigit(v) || isChineseDigit(v) }
    @inline(__always) static func digitValue(_ v: UInt32) -> UInt8 {
        UInt8(truncatingIfNeeded: isDigit(v) ? v - 0x30 : v - ShadowText.cnDigitBase)
    }
    @inline(__always) static func isLetter(_ v: UInt32) -> Bool { v &- 0x41 < 26 }
    @inline(__always) static func isAlnum(_ v: UInt32) -> Bool { isDigit(v) || isLetter(v) }
    /// Separators customers put inside numbers and keys.
    @inline(__always) static func isSeparator(_ v: UInt32) -> Bool {
        switch v {
        case 0x20, 0x2D, 0x2E, 0x2F, 0x5F, 0x0A, 0x0D, 0x09, 0xB7: return true
        default: return false
        }
    }
    /// Whether a scalar is a CJK ideograph or other non-ASCII letter-like character.
    @inline(__always) static func isWordLike(_ v: UInt32) -> Bool { isAlnum(v) }
}
