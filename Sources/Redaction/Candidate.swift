/// A possible finding in shadow coordinates, before overlap resolution.
struct Candidate {
    var type: SecretType
    var start: Int
    var end: Int
    var confidence: Double
    var rule: String
    var priority: Int
    var continuesPreviousMessage = false
    /// The normalised value (shadow letters and digits) for `token` and `partial`. For a split
    /// number, the whole number across messages, so the token matches the unsplit form.
    var value: [UInt32]

    enum Priority {
        static let issuedKey = 100
        static let tenantFormat = 90
        static let email = 85
        static let checksummed = 80
        static let paymentCard = 78
        static let transaction = 75
        static let paymentCode = 72
        static let phone = 70
        static let bankAccount = 65
        static let keywordKey = 60
        static let keywordShort = 55
        static let shape = 60  // equal to keyword-led keys: the longer reading wins
        static let generic = 40
    }
}

/// A span that is known not to be a secret (a declared service number or non-secret format).
struct ProtectedSpan {
    var start: Int
    var end: Int
}
