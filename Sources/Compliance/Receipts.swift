import Foundation
import Sealing

/// A salted, keyed commitment to a subject identifier: `BLAKE2b-256(key = tenant audit key,
/// salt ‖ kind ‖ normalised identifier)`. Holds no identifier; the tenant (who holds the key) can
/// show which identifier it commits to by recomputing it with the salt.
public struct SubjectCommitment: Codable, Sendable, Hashable {
    public var kind: String
    public var salt: String
    public var commitment: String
}

/// When database copies taken before an erasure stop decrypting the subject.
public struct BackupStatus: Codable, Sendable, Hashable {
    /// `pending` (the erasure epoch has not run yet) or `undecryptable`.
    public var status: String
    /// The epoch runs by this time at the latest.
    public var deadline: String
    /// When the epoch destroyed the keys that older copies need (set when `undecryptable`).
    public var undecryptableSince: String?
}

/// The signed statement of one erasure request.
public struct ErasureReceipt: Codable, Sendable, Hashable {
    public static let currentFormat = "kamirelay-erasure-receipt/1"
    public var format: String = ErasureReceipt.currentFormat
    public var requestID: String
    public var tenant: String
    /// `erased` or `nothing-found` (an already-erased or unknown subject).
    public var outcome: String
    public var subject: SubjectCommitment
    public var sessionsErased: Int
    public var messagesErased: Int
    /// Subject keys destroyed (store row ids, `subject:N`).
    public var keyIDsDestroyed: [String]
    public var requestedAt: String
    public var completedAt: String
    /// The audit entry recording this erasure.
    public var auditPosition: AuditPosition
    public var backups: BackupStatus
    /// Hex Ed25519 public key of the tenant's compliance signing key.
    public var publicKey: String
}

/// A receipt and its Ed25519 signature over the receipt's canonical JSON (sorted keys, no
/// whitespace). The file is the pretty-printed canonical form; any other byte sequence fails.
public struct SignedReceipt: Codable, Sendable, Hashable {
    public var receipt: ErasureReceipt
    public var signature: String

    static func canonical(_ r: ErasureReceipt) -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! enc.encode(r))  // plain strings and integers: encoding cannot fail
    }

    public init(signing receipt: ErasureReceipt, with key: Ed25519SigningKey) {
        self.receipt = receipt
        signature = Hex.encode(key.sign(Self.canonical(receipt)))
    }

    /// The file contents.
    public func fileBytes() -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try! enc.encode(self) + Data("\n".utf8)
    }

    /// Verifies a receipt file offline against the tenant's public key.
    public static func verify(file: Data, publicKey: [UInt8]) throws(ReceiptError) -> ErasureReceipt {
        let signed: SignedReceipt
        do { signed = try JSONDecoder().decode(SignedReceipt.self, from: file) } catch { throw .malformed }
        guard signed.receipt.format == ErasureReceipt.currentFormat else { throw .unsupportedFormat(signed.receipt.format) }
        // Only the canonical rendering is accepted, so no byte of the file is unsigned.
        guard signed.fileBytes() == file else { throw .notCanonical }
        guard let sig = Hex.decode(signed.signature),
              Ed25519SigningKey.verify(signature: sig, message: canonical(signed.receipt), publicKey: publicKey) else {
            throw .badSignature
        }
        guard Hex.decode(signed.receipt.publicKey) == publicKey else { throw .badSignature }
        return signed.receipt
    }
}

public enum ReceiptError: Error, Sendable, Hashable, CustomStringConvertible {
    case malformed
    case unsupportedFormat(String)
    case notCanonical
    case badSignature

    public var description: String {
        switch self {
        case .malformed: return "not a KamiRelay erasure receipt (JSON does not parse or fields are missing)"
        case .unsupportedFormat(let f): return "unsupported receipt format '\(f)'"
        case .notCanonical: return "the receipt was modified (it is not the exact file that was signed)"
        case .badSignature: return "the signature does not verify with this public key (modified receipt or wrong key)"
        }
    }
}

enum Timestamp {
    static func string(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }
}
