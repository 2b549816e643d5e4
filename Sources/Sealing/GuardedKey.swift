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

    /// A key of `count` bytes written directly into guarded memory by `initializer` (so it never
    /// passes through an ordinary heap buffer). If `initializer` throws, the region is zeroed and
    /// freed and the error is rethrown.
    public init(count: Int, initializingWith initializer: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        Sodium.ensureInitialised()
        precondition(count > 0, "empty key")
        guard let p = sodium_malloc(count) else { fatalError("sodium_malloc failed: out of memory") }
        do {
            try initializer(UnsafeMutableRawBufferPointer(start: p, count: count))
        } catch {
            sodium_free(p)  // zeroes before unmapping
            throw error
        }
        pointer = p
        self.count = count
        sodium_mprotect_noaccess(pointer)
    }

    /// Grants write access for the duration of `body` (scratch buffers inside this module).
    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try lock.withLock {
            sodium_mprotect_readwrite(pointer)
            defer { sodium_mprotect_noaccess(pointer) }
            return try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
        }
    }

    /// Grants read access for the duration of `body`. Do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try lock.withLock {
            sodium_mprotect_readonly(pointer)
            defer { sodium_mprotect_noaccess(pointer) }
            return try body(UnsafeRawBufferPointer(start: pointer, count: count))
        }
    }

    /// Constant-time equality of two keys' bytes (false when lengths differ).
    public func constantTimeEquals(_ other: GuardedKey) -> Bool {
        guard count == other.count else { return false }
        if other === self { return true }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in
            sodium_memcmp(a.baseAddress!, b.baseAddress!, count) == 0 } }
    }

    deinit {
        // sodium_free zeroes the region before unmapping it.
        sodium_mprotect_readwrite(pointer)
        sodium_free(pointer)
    }
}

extension GuardedKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Never the key bytes: keys must not reach logs or error messages by interpolation.
    public var description: String { "GuardedKey(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
    /// Mirrors (`dump`, debuggers) show nothing but the length.
    public var customMirror: Mirror { Mirror(self, children: ["count": count], displayStyle: .class) }
}
