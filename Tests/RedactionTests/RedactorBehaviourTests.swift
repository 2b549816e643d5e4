import Testing
import Redaction
import Sealing
import PolicyFiles

/// Behaviour a shop depends on, one rule at a time. The corpus test measures the same rules at scale.
@Suite struct RedactorBehaviourTests {
    let redactor = try! Redactor(policy: RedactionPolicyFile.builtInDefault, tokenizer: BLAKE2bKeyedHasher(key: Array(repeating: 7, count: 32)))

    func redact(_ s: String) -> RedactionResult { redactor.redact(s) }
    func types(_ s: String) -> [SecretType] { redact(s).findings.map(\.type) }

    @Test func issueExampleMasksPhoneAndKeyAndKeepsOrderNumber() {
        let r = redact("我的手机13812345678，卡密ABCD-EFGH-IJKL-MNOP，订单号 Q7W8E9R0T1Y2U3I4")
        #expect(r.text == "我的手机[PHONE]，卡密[CARD_KEY]，订单号 Q7W8E9R0T1Y2U3I4")
    }

    @Test func sameShapeAfterCardKeyKeywordIsMasked() {
        #expect(redact("卡密 Q7W8E9R0T1Y2U3I4 用不了").text == "卡密 [CARD_KEY] 用不了")
        #expect(redact("order Q7W8E9R0T1Y2U3I4 key Z9Y8X7W6V5U4T3S2").text == "order Q7W8E9R0T1Y2U3I4 key [CARD_KEY]")
    }

    @Test func phoneGluedToChineseIsFoundExactly() {
        let r = redact("电话13812345678谢谢")
        #expect(r.text == "电话[PHONE]谢谢")
        #expect(r.findings.first?.start == 2 && r.findings.first?.end == 13)
    }

    @Test(arguments: ["+86 138 1234 5678", "0086-138-1234-5678", "86 13812345678", "138-1234-5678", "138.1234.5678"])
    func chineseMobileGroupings(_ number: String) {
        #expect(types("手机 \(number) 打我") == [.phone])
    }

    @Test func landlinesAndInternationalNumbers() {
        #expect(types("座机010-62345678") == [.phone])
        #expect(types("call +44 20 7946 0958 please") == [.phone])
        #expect(types("my number is +1 415 555 2671") == [.phone])
    }

    @Test func serviceNumbersAreNotCustomerData() throws {
        #expect(types("客服热线400-820-8820").isEmpty)
        var policy = RedactionPolicyFile.builtInDefault
        policy.serviceNumbers = ["021-61234567"]
        let shop = try Redactor(policy: policy, tokenizer: BLAKE2bKeyedHasher.random())
        #expect(shop.redact("我们的电话021-61234567").findings.isEmpty)
        #expect(shop.redact("我的电话021-61234568").findings.map(\.type) == [.phone])
    }

    @Test func emailGluedToChineseIsExact() {
        let r = redact("请发到foo@example.com谢谢")
        #expect(r.text == "请发到[EMAIL]谢谢")
        #expect(redact("邮箱ｆｏｏ＠ｅｘａｍｐｌｅ．ｃｏｍ").text == "邮箱[EMAIL]")
    }

    @Test func paymentCardsNeedLuhnAndAPrefixOrKeyword() {
        #expect(types("4111 1111 1111 1111") == [.paymentCard])
        #expect(types("6222 0212 3456 7890 128").isEmpty == false)  // UnionPay 19 digits (Luhn-valid below)
        #expect(types("5555555555554444") == [.paymentCard])
        #expect(types("2223000048400011") == [.paymentCard])  // Mastercard 2-series
        #expect(types("4111 1111 1111 1112").isEmpty)  // Luhn fails, no keyword
    }

    @Test func bankAccountsWithKeywordEvenWhenLuhnFails() {
        let r = redact("银行卡号6222021234567890123")
        #expect(r.findings.map(\.type) == [.bankAccount] || r.findings.map(\.type) == [.paymentCard])
        #expect(types("IBAN DE89 3704 0044 0532 0130 00") == [.bankAccount])
        #expect(types("DE89370400440532013000") == [.bankAccount])
    }

    @Test func shortSecretsOnlyNearTheirKeywords() {
        #expect(types("cvv 123") == [.cvv])
        #expect(types("卡背面的三位数是739") == [.cvv])
        #expect(types("the 3 digits on the back are 481") == [.cvv])
        #expect(types("有效期 08/27") == [.cardExpiry])
        #expect(types("验证码 482913 别告诉别人") == [.oneTimeCode])
        #expect(types("支付密码是135790") == [.pin])
        #expect(types("付款码 283145678901234567") == [.paymentCode])
        #expect(types("I bought 123 cards for ¥99.00 at 13:45 on 2024-05-08").isEmpty)
    }

    @Test func amountsDatesVersionsAndURLsStayUntouched() {
        for benign in ["一共¥99.00，100元，$25", "2024-05-08 13:45:12", "v2.3.1 iOS 17.4.1", "https://shop.example.com/buy?id=12",
                       "买了3张，共10 pcs", "加群 725416392 领优惠", "顺丰单号 SF1234567890123", "RTX 4090 和 iPhone 15 Pro"] {
            #expect(redact(benign).findings.isEmpty, "\(benign)")
            #expect(redact(benign).text == benign)
        }
    }

    @Test func residentIDs() {
        #expect(types("身份证110101199003074514") == [.cnResidentID])
        #expect(types("11010519491231002x") == [.cnResidentID])
        #expect(types("110101199003074515").isEmpty)  // wrong check digit
    }

    @Test func transactionNumbersAreTokenisedNotDestroyed() {
        let a = redact("交易号2024050822001412345678901234")
        let b = redact("支付宝订单号：2024050822001412345678901234，还没到账")
        #expect(a.findings.map(\.action) == [.token])
        let tokenA = a.text.split(separator: "[").last!
        let tokenB = b.text.split(separator: "[").last!.split(separator: "]").first!
        #expect(tokenA.hasPrefix(tokenB))  // the same number gives the same token
        #expect(a.text.contains("[TRANSACTION_NUMBER:"))
    }

    @Test func tokensDependOnTheTenantKey() throws {
        let other = try Redactor(policy: RedactionPolicyFile.builtInDefault, tokenizer: BLAKE2bKeyedHasher(key: Array(repeating: 9, count: 32)))
        let message = "交易号2024050822001412345678901234"
        #expect(redact(message).text != other.redact(message).text)
    }

    @Test func partialKeepsTheLastDigits() throws {
        var policy = RedactionPolicyFile.builtInDefault
        policy.rules[.paymentCard] = .init(action: .partial, keepLast: 4)
        let r = try Redactor(policy: policy, tokenizer: BLAKE2bKeyedHasher.random()).redact("card 4111 1111 1111 1111")
        #expect(r.text == "card [PAYMENT_CARD:…1111]")
    }

    @Test func tokenPolicyWithoutAKeyFailsClosed() {
        #expect(throws: Redactor.ConfigurationError.self) { try Redactor(policy: RedactionPolicyFile.builtInDefault) }
    }

    @Test func obfuscationsAreSeenThrough() {
        #expect(types("电话 1三8 一2三4 ５６７８") == [.phone])
        #expect(types("手机幺三八一二三四五六七八") == [.phone])
        #expect(types("138\u{200B}1234\u{200D}5678") == [.phone])
        #expect(types("卡密 abcd efgh ijkl mnop") == [.cardKey])
        #expect(types("key x7k2m-9pq4r-t8v3w") == [.cardKey])
        // The zero-width characters inside are masked with the number.
        #expect(redact("手机1\u{200B}3812345678好").text == "手机[PHONE]好")
    }

    @Test func splitNumbersAcrossMessages() {
        var session = RedactionSession(redactor: redactor)
        #expect(session.redact("我手机号是138 1234").findings.isEmpty)
        let second = session.redact("5678 谢谢")
        #expect(second.text == "[PHONE] 谢谢")
        #expect(second.findings.first?.continuesPreviousMessage == true)
        // Without the session, "5678" alone is nothing.
        #expect(redactor.redact("5678 谢谢").findings.isEmpty)
    }

    /// The linking step of a chat needs the identifier itself, whatever form the customer typed
    /// it in; printing a finding must not show it.
    @Test func phoneAndEmailFindingsCarryTheirNormalisedValue() {
        let forms = ["手机 一三八一二三四五六七八", "手机 １３８１２３４５６７８", "手机138\u{200B}1234\u{200D}5678", "手机 138-1234-5678"]
        for text in forms {
            let finding = redact(text).findings.first
            #expect(finding?.type == .phone && finding?.normalizedValue?.text == "13812345678", "\(text)")
        }
        var session = RedactionSession(redactor: redactor)
        _ = session.redact("我手机号是138 1234")
        let split = session.redact("5678 谢谢").findings.first
        #expect(split?.continuesPreviousMessage == true && split?.normalizedValue?.text == "13812345678")

        let email = redact("邮箱 Alice.Doe@Example.com").findings.first
        #expect(email?.type == .email && email?.normalizedValue?.text.lowercased() == "alice.doe@example.com")
        // Other secrets keep their value inside the redactor.
        #expect(redact("卡密 Q7W8E9R0T1Y2U3I4 用不了").findings.first?.normalizedValue == nil)

        let printed = "\(split!) \(String(describing: split)) \(String(reflecting: split!))"
        var dumped = ""
        dump(split!, to: &dumped)
        for text in [printed, dumped] {
            #expect(!text.contains("5678") && !text.contains("1234"), "\(text)")
        }
    }

    @Test func offsetsAreUnicodeScalars() {
        // 👍🏽 is two scalars; é below is e + combining acute (two scalars).
        let text = "👍🏽 e\u{301} 13812345678"
        let f = redact(text).findings
        #expect(f.count == 1)
        #expect(f.first?.start == 6 && f.first?.end == 17)
        let scalars = Array(text.unicodeScalars)
        #expect(String(String.UnicodeScalarView(scalars[6..<17])) == "13812345678")
    }

    @Test func arbitraryUnicodeNeverCrashes() {
        let nasty = ["\u{202E}13812345678\u{202C}", String(repeating: "e\u{301}\u{302}\u{303}", count: 1000),
                     String(repeating: "🧑‍🧑‍🧒", count: 500), String(repeating: "1", count: 100_000),
                     String(repeating: "a-", count: 50_000), "\u{0}\u{1}\u{FFFF}", "", "@", "@@.@", "+", "1-", "X"]
        for s in nasty { _ = redact(s) }
        #expect(redact("\u{202E}13812345678\u{202C}").text == "\u{202E}[PHONE]\u{202C}")
    }

    @Test func issuedKeysAreMatchedExactlyInAnyTypedForm() throws {
        let hasher = BLAKE2bKeyedHasher.random()
        let issued = IssuedKeySet(keys: ["9F3KQ2ZP7M", "880123456789012"], hasher: hasher)
        let shop = try Redactor(policy: RedactionPolicyFile.builtInDefault, issuedKeys: issued, tokenizer: hasher)
        #expect(shop.redact("你们发的9f3kq2zp7m用不了").findings.map(\.rule) == ["issued-key"])
        #expect(shop.redact("is 880 1234 5678 9012 still valid").findings.map(\.type) == [.cardKey])
        #expect(shop.redact("9F3KQ2ZP7N").findings.isEmpty)
    }

    /// A store keeps only digests; a set rebuilt from them (no key in clear, so no prefilter)
    /// matches exactly as a set built from the keys, letters-only keys included.
    @Test func issuedKeysRebuiltFromStoredDigestsMatchTheSame() throws {
        let hasher = BLAKE2bKeyedHasher.random()
        let keys = ["silverfox77", "hello-kitty-zone", "panda-moon-2026"]
        let stored = keys.compactMap { IssuedKeySet.digest(of: $0, hasher: hasher) }
        #expect(stored.count == 3 && IssuedKeySet.digest(of: "ab-c", hasher: hasher) == nil)
        #expect(stored.first { $0.length == 14 }?.lettersOnly == true, "HELLOKITTYZONE")
        let plain = try Redactor(policy: RedactionPolicyFile.builtInDefault, tokenizer: hasher)
        let shop = plain.replacingIssuedKeys(IssuedKeySet(digests: stored, keys: ["9F3KQ2ZP7M"], hasher: hasher))
        for (text, masked) in [("我买的是 SilverFox77 不能用", "我买的是 [CARD_KEY] 不能用"),
                               ("我买的是 HelloKittyZone 不能用", "我买的是 [CARD_KEY] 不能用"),
                               ("这个 ＰＡＮＤＡ－ＭＯＯＮ－２０２６ 是啥", "这个 [CARD_KEY] 是啥"),
                               ("你们发的9f3kq2zp7m用不了", "你们发的[CARD_KEY]用不了")] {
            #expect(plain.redact(text).text == text || text.contains("9f3kq2zp7m"), "without the set: \(text)")
            #expect(shop.redact(text).text == masked, "\(text)")
        }
        #expect(shop.redact("我买的是 silverfox78 不能用").findings.isEmpty)
        #expect(shop.redact("hello kitty").findings.isEmpty)
    }
}
