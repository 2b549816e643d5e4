import COpenSSL
import NIOConcurrencyHelpers
import Sealing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Session-ticket keys for one server context, rotated on a schedule.
///
/// OpenSSL's own ticket key is created once per `SSL_CTX` and never changes, so a stolen key
/// would decrypt every ticket (and so every resumed session's secrets) for the life of the
/// process. Here each key encrypts new tickets for `rotationInterval` seconds, is then kept one
/// more interval to decrypt (and renew) older tickets, and is then destroyed. Key material lives
/// in libsodium guarded memory (`GuardedKey`) and is zeroed when dropped.
final class SessionTicketKeys: Sendable {
    struct Key: Sendable {
        let name: [UInt8]         // 16 bytes, sent in the clear inside the ticket
        let secrets: GuardedKey   // 32 bytes AES-256 key, then 32 bytes HMAC-SHA256 key
        let createdAt: Int64      // monotonic seconds

        init(now: Int64) {
            var name = [UInt8](repeating: 0, count: 16)
            _ = RAND_bytes(&name, 16)
            self.name = name
            self.secrets = GuardedKey(randomCount: 64)
            self.createdAt = now
        }
    }

    private struct Ring: Sendable {
        var current: Key
        var previous: Key?
    }

    let rotationInterval: Int64
    private let ring: NIOLockedValueBox<Ring>
    private let clock: @Sendable () -> Int64

    init(rotationInterval: Int64, clock: @escaping @Sendable () -> Int64 = SessionTicketKeys.monotonicSeconds) {
        self.rotationInterval = max(1, rotationInterval)
        self.clock = clock
        self.ring = NIOLockedValueBox(Ring(current: Key(now: clock()), previous: nil))
    }

    static func monotonicSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec)
    }

    /// Keys in use now (rotating first if the current one is due), as (encrypting, still-accepted).
    private func keys() -> (current: Key, previous: Key?) {
        let now = clock()
        return ring.withLockedValue { ring in
            if now - ring.current.createdAt >= rotationInterval {
                ring.previous = ring.current
                ring.current = Key(now: now)
            }
            return (ring.current, ring.previous)
        }
    }

    /// Forces a rotation (for tests and an operator's "rotate now").
    func rotate() {
        let now = clock()
        ring.withLockedValue { ring in
            ring.previous = ring.current
            ring.current = Key(now: now)
        }
    }

    /// The body of OpenSSL's ticket key callback. Returns 1 (use), 2 (use, then renew the
    /// ticket under the current key), 0 (unknown key: full handshake) or -1 (error).
    func handle(keyName: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>,
                cipher: OpaquePointer, mac: OpaquePointer, encrypt: Bool) -> CInt {
        let (current, previous) = keys()
        let key: Key
        let result: CInt
        if encrypt {
            current.name.withUnsafeBufferPointer { keyName.update(from: $0.baseAddress!, count: 16) }
            guard RAND_bytes(iv, 16) == 1 else { return -1 }
            key = current
            result = 1
        } else {
            let presented = Array(UnsafeBufferPointer(start: keyName, count: 16))
            if presented == current.name {
                key = current; result = 1
            } else if let previous, presented == previous.name {
                key = previous; result = 2
            } else {
                return 0
            }
        }
        return key.secrets.withUnsafeBytes { secrets -> CInt in
            let base = secrets.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let ok: CInt = encrypt
                ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nil, base, iv)
                : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nil, base, iv)
            guard ok == 1, kamirelay_ticket_mac_init(mac, base + 32, 32) == 1 else { return -1 }
            return result
        }
    }
}
