import Foundation

/// A normalised "shadow" of a message that detectors scan, with a map back to the original.
///
/// The shadow undoes the usual obfuscations so that one scanner sees one form:
/// - compatibility forms fold to ASCII (full-width `１２３`, `＠`, `．`, mathematical and enclosed
///   alphanumerics — the NFKC mappings that matter for secrets),
/// - any Unicode decimal digit and the Chinese numerals 〇零一二三四五六七八九幺两壹贰叁肆伍陆柒捌玖
///   become ASCII digits,
/// - ASCII letters are upper-cased,
/// - zero-width, bidi-control and other format characters disappear.
///
/// Every shadow scalar keeps the index of the original scalar it came from, so a finding in the
/// shadow masks exactly the original characters (including any zero-width characters inside).
struct ShadowText {
    /// Normalised scalar values.
    var scalars: [UInt32] = []
    /// For each shadow scalar, the index of its original scalar.
    var origin: [Int32] = []
    /// The original scalars (needed to rebuild the output).
    var original: [Unicode.Scalar] = []

    init(_ text: String) {
        original.reserveCapacity(text.utf8.count)
        scalars.reserveCapacity(text.utf8.count)
        origin.reserveCapacity(text.utf8.count)
        var index: Int32 = 0
        for s in text.unicodeScalars {
            original.append(s)
            let folded = ShadowText.fold(s.value)
            if folded != ShadowText.removed {
                scalars.append(folded)
                origin.append(index)
            }
            index += 1
        }
    }

    static let removed: UInt32 = 0xFFFF_FFFF

    /// The shadow form of one scalar (or `removed`).
    @inline(__always)
    static func fold(_ v: UInt32) -> UInt32 {
        if v < 0x80 {
            return (v >= 0x61 && v <= 0x7A) ? v - 0x20 : v
        }
        if v >= 0x4E00 && v <= 0x9FFF { return chineseNumeral(v) ?? v }
        return foldRare(v)
    }

    @inline(__always)
    static func chineseNumeral(_ v: UInt32) -> UInt32? {
        switch v {
        case 0x96F6 /*零*/: return 0x30
        case 0x4E00 /*一*/, 0x5E7A /*幺*/, 0x58F9 /*壹*/: return 0x31
        case 0x4E8C /*二*/, 0x4E24 /*两*/, 0x8D30 /*贰*/: return 0x32
        case 0x4E09 /*三*/, 0x53C1 /*叁*/: return 0x33
        case 0x56DB /*四*/, 0x8086 /*肆*/: return 0x34
        case 0x4E94 /*五*/, 0x4F0D /*伍*/: return 0x35
        case 0x516D /*六*/, 0x9646 /*陆*/: return 0x36
        case 0x4E03 /*七*/, 0x67D2 /*柒*/: return 0x37
        case 0x516B /*八*/, 0x634C /*捌*/: return 0x38
        case 0x4E5D /*九*/, 0x7396 /*玖*/: return 0x39
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
        case 0x3007 /*〇*/: return 0x30
        case 0x3000, 0x00A0, 0x2000...0x200A, 0x202F, 0x205F: return 0x20  // spaces
        case 0x2010...0x2015, 0x2212, 0x30FC: return 0x2D  // dashes, minus, long vowel mark
        case 0x30FB, 0x2022, 0x2027: return 0xB7  // middle dots
        case 0xFF01...0xFF5E:  // full-width ASCII
            let a = v - 0xFEE0
            return (a >= 0x61 && a <= 0x7A) ? a - 0x20 : a
        case 0x1F000...0x1FFFF: return v  // emoji: leave alone, fast
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
    @inline(__always) static func isDigit(_ v: UInt32) -> Bool { v &- 0x30 < 10 }
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
