/// Check-digit algorithms used to tell real identifiers from random digits.
enum Checksums {
    /// Luhn (ISO/IEC 7812) over digit values.
    static func luhn(_ digits: ArraySlice<UInt8>) -> Bool {
        var sum = 0
        var double = false
        for d in digits.reversed() {
            var v = Int(d)
            if double { v *= 2; if v > 9 { v -= 9 } }
            sum += v
            double.toggle()
        }
        return sum % 10 == 0
    }

    /// ISO 13616 IBAN mod-97 over upper-case ASCII letters and digits.
    static func ibanValid(_ chars: [UInt32]) -> Bool {
        guard chars.count >= 15, chars.count <= 34,
              CharClass.isLetter(chars[0]), CharClass.isLetter(chars[1]),
              CharClass.isDigit(chars[2]), CharClass.isDigit(chars[3]) else { return false }
        var remainder = 0
        for c in chars[4...] + chars[0..<4] {
            if CharClass.isDigit(c) {
                remainder = (remainder * 10 + Int(c - 0x30)) % 97
            } else if CharClass.isLetter(c) {
                remainder = (remainder * 100 + Int(c - 0x41 + 10)) % 97
            } else { return false }
        }
        return remainder == 1
    }

    /// GB 11643 resident identity number: 17 digits + ISO 7064 MOD 11-2 check character.
    /// `check` is a digit value 0...9 or 10 for X.
    static func residentIDValid(_ digits: ArraySlice<UInt8>, check: Int) -> Bool {
        guard digits.count == 17 else { return false }
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        var sum = 0
        for (w, d) in zip(weights, digits) { sum += w * Int(d) }
        let expected = (12 - sum % 11) % 11
        guard expected == check else { return false }
        let d = Array(digits)
        // Province codes start 1...9 (11 Beijing … 82 Macau); the birth date must be real.
        guard d[0] >= 1, d[0] <= 9 else { return false }
        let year = d[6...9].reduce(0) { $0 * 10 + Int($1) }
        let month = Int(d[10]) * 10 + Int(d[11])
        let day = Int(d[12]) * 10 + Int(d[13])
        return (1900...2099).contains(year) && validDate(year: year, month: month, day: day)
    }

    /// Legacy 15-digit resident number: YYMMDD birth date at positions 7–12.
    static func legacyResidentIDPlausible(_ digits: ArraySlice<UInt8>) -> Bool {
        guard digits.count == 15 else { return false }
        let d = Array(digits)
        guard d[0] >= 1 else { return false }
        let year = 1900 + Int(d[6]) * 10 + Int(d[7])
        let month = Int(d[8]) * 10 + Int(d[9])
        let day = Int(d[10]) * 10 + Int(d[11])
        return validDate(year: year, month: month, day: day)
    }

    static func validDate(year: Int, month: Int, day: Int) -> Bool {
        guard (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }

    /// Issuer identification: whether the leading digits belong to a card scheme, for this length.
    static func knownCardPrefix(_ d: ArraySlice<UInt8>) -> Bool {
        let n = d.count
        let a = Array(d.prefix(6))
        func prefix(_ k: Int) -> Int { a.prefix(k).reduce(0) { $0 * 10 + Int($1) } }
        switch a[0] {
        case 4: return n == 13 || n == 16 || n == 19  // Visa
        case 5:
            let p2 = prefix(2)
            if (51...55).contains(p2) { return n == 16 }  // Mastercard
            if p2 == 50 || (56...58).contains(p2) { return (12...19).contains(n) }  // Maestro
            return false
        case 2:
            let p4 = prefix(4)
            return (2221...2720).contains(p4) && n == 16  // Mastercard 2-series
        case 3:
            let p2 = prefix(2), p4 = prefix(4), p3 = prefix(3)
            if p2 == 34 || p2 == 37 { return n == 15 }  // Amex
            if (3528...3589).contains(p4) { return (16...19).contains(n) }  // JCB
            if (300...305).contains(p3) || p2 == 36 || p2 == 38 || p2 == 39 { return (14...19).contains(n) }  // Diners
            return false
        case 6:
            let p2 = prefix(2), p3 = prefix(3), p4 = prefix(4)
            if p2 == 62 { return (16...19).contains(n) }  // UnionPay
            if p4 == 6011 || p2 == 65 || (644...649).contains(p3) { return (16...19).contains(n) }  // Discover
            if p2 == 60 || p2 == 63 || p2 == 67 { return (12...19).contains(n) }  // Maestro / others
            return false
        default: return false
        }
    }
}
