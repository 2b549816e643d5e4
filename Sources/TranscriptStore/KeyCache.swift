import Foundation
import Sealing

/// Unwrapped keys kept in guarded memory for the hot path, so a message write does not unwrap
/// two keys. Subject keys (used on every message) are kept read-only rather than no-access
/// between uses, like the redactor's hashing keys: two `mprotect` calls per message would cost
/// more than sealing it. Tenant-key versions and the master key stay no-access between uses. Versions and subject keys never change their bytes (rewrap only changes how they
/// are wrapped), so cached entries stay valid until a trim destroys a version. Keys are cached
/// only once committed (never from the transaction that creates them), so a rolled-back id that
/// SQLite hands out again cannot find a stale key here.
///
/// `@unchecked Sendable` is sound: every stored property is read and written only while
/// holding `lock`; the values themselves (`GuardedKey`, `MasterKeyring`) are `Sendable`.
final class KeyCache: @unchecked Sendable {
    private let lock = NSLock()
    private var ring: MasterKeyring
    private var versions: [String: [Int: GuardedKey]] = [:]
    private var subjects: [Int64: GuardedKey] = [:]
    private var purposes: [String: [KeyPurpose: GuardedKey]] = [:]
    /// Subject keys kept at most. Each guarded key costs a few pages and memory mappings
    /// (`sodium_malloc` guard pages; Linux allows 65,530 mappings per process), so the cache
    /// stays small: past the limit a quarter of it is dropped (keys are re-unwrapped on demand).
    let subjectLimit: Int

    init(ring: MasterKeyring, subjectLimit: Int = 4_096) {
        self.ring = ring
        self.subjectLimit = subjectLimit
    }

    var masterKeyring: MasterKeyring {
        get { lock.withLock { ring } }
    }
    func updateRing(_ body: (inout MasterKeyring) -> Void) { lock.withLock { body(&ring) } }

    func version(_ tenant: String, _ v: Int) -> GuardedKey? { lock.withLock { versions[tenant]?[v] } }
    func setVersion(_ tenant: String, _ v: Int, _ key: GuardedKey) { lock.withLock { versions[tenant, default: [:]][v] = key } }

    func subject(_ id: Int64) -> GuardedKey? { lock.withLock { subjects[id] } }
    func setSubject(_ id: Int64, _ key: GuardedKey) {
        lock.withLock {
            if subjects.count >= subjectLimit {
                for id in Array(subjects.keys.prefix(max(1, subjectLimit / 4))) { subjects[id] = nil }
            }
            subjects[id] = key
        }
    }

    func purpose(_ tenant: String, _ p: KeyPurpose) -> GuardedKey? { lock.withLock { purposes[tenant]?[p] } }
    func setPurpose(_ tenant: String, _ p: KeyPurpose, _ key: GuardedKey) { lock.withLock { purposes[tenant, default: [:]][p] = key } }

    /// After an erasure or sweep: forget destroyed subject keys.
    func dropSubjects(_ ids: [Int64]) {
        lock.withLock { for id in ids { subjects[id] = nil } }
    }

    /// After a trim: forget the destroyed versions and every subject key (some may have
    /// depended on them).
    func dropVersions(_ tenant: String, below: Int) {
        lock.withLock {
            versions[tenant] = versions[tenant]?.filter { $0.key >= below }
            subjects.removeAll()
        }
    }
}
