extension RedactionPolicy {
    /// The built-in policy, identical to `policies/default.yaml` (a test holds them equal).
    public static let `default` = RedactionPolicy(
        rules: [.transactionNumber: Rule(action: .token)]
    )
}
