/// The text of `policies/default.yaml`, compiled in so `kamirelay redact` works from any directory.
/// `PolicyFilesTests` fails if the two ever differ.
enum BuiltInPolicyText {
    static let defaultYAML = #"""
# KamiRelay redaction policy — the built-in default.
#
# `kamirelay redact` with no --policy uses exactly this policy (it is compiled into the binary;
# a test keeps the two identical). A tenant file may start with `extends: default` and then
# only list what it changes. See policies/README.md for every field.
version: 1

# What to do with each kind of finding: mask (typed placeholder), partial (keep the last
# digits: {action: partial, keep_last: 4}) or token (a stable keyed pseudonym).
actions:
  payment_card: mask
  bank_account: mask
  cvv: mask
  card_expiry: mask
  pin: mask
  one_time_code: mask
  payment_code: mask
  transaction_number: token   # support needs to match trade numbers without seeing them
  phone: mask
  email: mask
  cn_resident_id: mask
  card_key: mask

# Extra keywords per type, added to the built-in Chinese and English lists.
keywords: {}

# Card-key formats the shop issues: a match is a card key wherever it appears.
card_key_formats: []

# Formats that are NOT secrets. dujiaoka order numbers are 16 upper-case letters and digits,
# the same shape as many card keys: they stay readable unless 卡密 / key / code stands right
# before them.
non_secret_formats:
  - name: order_number
    pattern: "[A-Z0-9]{16}"
    keywords: [订单号, 订单编号, 订单, 单号, 訂單號, order, order no, order number, order id]

# The shop's own hotlines (400/800 numbers are never treated as customer phones anyway).
service_numbers: []

# Types switched off entirely.
disabled: []
"""#
}
