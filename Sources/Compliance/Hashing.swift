import CSodium
import Sealing

/// Unkeyed BLAKE2b-256 (libsodium `crypto_generichash`), for the audit hash chain.
enum ChainHash {
    static func digest(_ parts: [[UInt8]]) -> [UInt8] {
        Sodium.ensureInitialised()
        // Length-prefixed parts, so field boundaries cannot shift. (One-shot: libsodium's
        // streaming state is an over-aligned struct Swift imports as opaque.)
        var input: [UInt8] = []
        input.reserveCapacity(parts.reduce(0) { $0 + $1.count + 8 })
        for p in parts {
            withUnsafeBytes(of: UInt64(p.count).bigEndian) { input.append(contentsOf: $0) }
            input.append(contentsOf: p)
        }
        var out = [UInt8](repeating: 0, count: 32)
        crypto_generichash(&out, 32, input, UInt64(input.count), nil, 0)
        return out
    }
}

enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8]()
        s.reserveCapacity(bytes.count * 2)
        for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }

    static func decode(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}

/// SHA-256 (libsodium `crypto_hash_sha256`), for policy-file digests in the audit log.
public enum SHA256 {
    public static func hex(_ bytes: [UInt8]) -> String {
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256(&out, bytes, UInt64(bytes.count))
        return Hex.encode(out)
    }
}
