import CSodium

/// Key material in libsodium guarded memory: `sodium_malloc` (guard pages, canary, locked
/// against swapping), zeroed and freed (`sodium_free`) when the last reference goes away.
///
/// Two protection modes:
/// - ``Access/onDemand`` (the default, for wrapping keys): `sodium_mprotect_noaccess` except
///   inside ``withUnsafeBytes(_:)``, so a stray read of the page faults.
/// - ``Access/readOnly``: `sodium_mprotect_readonly` for the key's whole life. For keys used on
///   every message (tokenisation, blind indexes), where two `mprotect` system calls per use
///   would cost more than the hashing itself. Writes still fault.
///
/// `@unchecked Sendable` is sound: the bytes are written only in `init` (before the instance is
/// shared); afterwards access is serialised by `lock` in the on-demand mode (which also guards
/// the protection flips), and in the read-only mode the memory is immutable.
public final class GuardedKey: @unchecked Sendable {
    /// How the key's pages are protected between uses.
    public enum Access: Sendable {
        case onDemand
        case readOnly
    }

    private let pointer: UnsafeMutableRawPointer
    /// Length in bytes.
    public let count: Int
    public let access: Access
    private let lock = Mutex()

    /// Copies `bytes` into guarded memory. The caller should zero its own copy.
    public init(copying bytes: [UInt8], access: Access = .onDemand) {
        Sodium.ensureInitialised()
        self.access = access
        precondition(!bytes.isEmpty, "empty key")
        guard let p = sodium_malloc(bytes.count) else { fatalError("sodium_malloc failed: out of memory") }
        pointer = p
        count = bytes.count
        bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        protectAtRest()
    }

    /// A fresh random key of `count` bytes, generated directly in guarded memory.
    public init(randomCount: Int, access: Access = .onDemand) {
        Sodium.ensureInitialised()
        self.access = access
        precondition(randomCount > 0, "empty key")
        guard let p = sodium_malloc(randomCount) else { fatalError("sodium_malloc failed: out of memory") }
        pointer = p
        count = randomCount
        randombytes_buf(pointer, randomCount)
        protectAtRest()
    }

    private func protectAtRest() {
        switch access {
        case .onDemand: sodium_mprotect_noaccess(pointer)
        case .readOnly: sodium_mprotect_readonly(pointer)
        }
    }

    /// A key of `count` bytes written directly into guarded memory by `initializer` (so it never
    /// passes through an ordinary heap buffer). If `initializer` throws, the region is zeroed and
    /// freed and the error is rethrown.
    public init(count: Int, access: Access = .onDemand,
                initializingWith initializer: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        Sodium.ensureInitialised()
        self.access = access
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
        protectAtRest()
    }

    /// Grants write access for the duration of `body` (scratch buffers inside this module).
    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try lock.withLock {
            sodium_mprotect_readwrite(pointer)
            defer { protectAtRest() }
            return try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
        }
    }

    /// Grants read access for the duration of `body`. Do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if access == .readOnly { return try body(UnsafeRawBufferPointer(start: pointer, count: count)) }
        return try lock.withLock {
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
