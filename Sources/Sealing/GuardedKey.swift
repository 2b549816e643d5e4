import CSodium

/// Key material in libsodium guarded memory: `sodium_malloc` (guard pages, canary), kept
/// read-protected (`sodium_mprotect_noaccess`) except while in use, and zeroed and freed
/// (`sodium_free`) when the last reference goes away.
///
/// `@unchecked Sendable` is sound: the bytes are written only in `init` (before the instance is
/// shared); afterwards access is serialised by `lock`, which also guards the protection flips.
public final class GuardedKey: @unchecked Sendable {
    private let pointer: UnsafeMutableRawPointer
    /// Length in bytes.
    public let count: Int
    private let lock = Mutex()

    /// Copies `bytes` into guarded memory. The caller should zero its own copy.
    public init(copying bytes: [UInt8]) {
        Sodium.ensureInitialised()
        precondition(!bytes.isEmpty, "empty key")
        guard let p = sodium_malloc(bytes.count) else { fatalError("sodium_malloc failed: out of memory") }
        pointer = p
        count = bytes.count
        bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        sodium_mprotect_noaccess(pointer)
    }

    /// A fresh random key of `count` bytes, generated directly in guarded memory.
    public init(randomCount: Int) {
        Sodium.ensureInitialised()
        precondition(randomCount > 0, "empty key")
        guard let p = sodium_malloc(randomCount) else { fatalError("sodium_malloc failed: out of memory") }
        pointer = p
        count = randomCount
        randombytes_buf(pointer, randomCount)
        sodium_mprotect_noaccess(pointer)
    }

    /// Grants read access for the duration of `body`. Do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try lock.withLock {
            sodium_mprotect_readonly(pointer)
            defer { sodium_mprotect_noaccess(pointer) }
            return try body(UnsafeRawBufferPointer(start: pointer, count: count))
        }
    }

    deinit {
        // sodium_free zeroes the region before unmapping it.
        sodium_mprotect_readwrite(pointer)
        sodium_free(pointer)
    }
}
