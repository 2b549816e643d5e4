extension RedactionPolicy {
    /// The built-in policy: mask everything, tokenise transaction numbers, keep dujiaoka-style
    /// order numbers readable. Identical to `policies/default.yaml` (a test holds them equal).
    public static let `default`: RedactionPolicy = {
        var rules: [SecretType: Rule] = [:]
        for type in SecretType.allCases { rules[type] = Rule(action: .mask) }
        rules[.transactionNumber] = Rule(action: .token)
        // The pattern is a compile-time constant; a syntax error here is a programming error.
        let orderNumber = try! ShapePattern("[A-Z0-9]{16}")
        return RedactionPolicy(
            rules: rules,
            nonSecretFormats: [
                Format(name: "order_number", pattern: orderNumber,
                       keywords: ["订单号", "订单编号", "订单", "单号", "訂單號", "order", "order no", "order number", "order id"]),
            ]
        )
    }()
}
