import CSodium
import Foundation

/// The master key sealed on disk with a passphrase: a small JSON file holding the key id, the
/// Argon2id parameters and salt, and the master key wrapped (XChaCha20-Poly1305) under the
/// passphrase-derived key. The key itself is never written in clear.
public struct MasterKeyFile: Sendable {
    struct Contents: Codable {
        var format: String
        var version: Int
        var keyID: String
        var kdf: String
        var opsLimit: UInt64
        var memLimit: UInt64
        var salt: String
        var sealedKey: String
        var createdAt: String
    }

    static let formatName = "kamirelay-master-key"

    /// The master key's id (16 hex digits), recorded beside every tenant key it wraps.
    public let keyID: String
    /// The KDF parameters stored in the file.
    public let parameters: Argon2idParameters
    let salt: [UInt8]
    let sealed: [UInt8]

    /// Reads and parses a key file (does not unlock it).
    public init(contentsOf path: String) throws(SealingError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .corruptKeyFile("cannot read \(path)")
        }
        let c: Contents
        do { c = try JSONDecoder().decode(Contents.self, from: data) } catch {
            throw .corruptKeyFile("not a KamiRelay master key file (\(path))")
        }
        guard c.format == Self.formatName else { throw .corruptKeyFile("not a KamiRelay master key file (\(path))") }
        guard c.version == 1 else { throw .corruptKeyFile("unsupported key file version \(c.version)") }
        guard c.kdf == "argon2id13" else { throw .corruptKeyFile("unsupported KDF \(c.kdf)") }
        guard c.keyID.count == 16, c.keyID.allSatisfy(\.isHexDigit) else { throw .corruptKeyFile("bad key id") }
        guard let salt = Data(base64Encoded: c.salt), salt.count == PasswordKDF.saltLength,
              let sealed = Data(base64Encoded: c.sealedKey), sealed.count == KeyWrap.wrappedLength
        else { throw .corruptKeyFile("bad salt or sealed key") }
        let params = Argon2idParameters(opsLimit: c.opsLimit, memLimit: c.memLimit)
        guard params.isAcceptable else { throw .corruptKeyFile("Argon2id parameters out of range") }
        keyID = c.keyID
        parameters = params
        self.salt = Array(salt)
        self.sealed = Array(sealed)
    }

    static func aad(keyID: String, parameters: Argon2idParameters) -> [UInt8] {
        var a = Array("KRmaster".utf8) + Array(keyID.utf8)
        a.appendBigEndian(parameters.opsLimit)
        a.appendBigEndian(parameters.memLimit)
        return a
    }

    /// Opens the file with `passphrase`. Throws ``SealingError/wrongPassphrase`` when it does not open.
    public func unlock(passphrase: [UInt8]) throws(SealingError) -> GuardedKey {
        let wrappingKey = try PasswordKDF.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
        do {
            return try KeyWrap.unwrap(sealed, with: wrappingKey, aad: Self.aad(keyID: keyID, parameters: parameters))
        } catch { throw .wrongPassphrase }
    }

    /// Writes `masterKey` sealed with `passphrase` to `path`, which must not exist (never
    /// overwrites). The file is created 0600 and fsynced, as is its directory.
    /// - Returns: the new key id.
    @discardableResult
    public static func create(at path: String, masterKey: GuardedKey, keyID: String = newKeyID(),
                              passphrase: [UInt8], parameters: Argon2idParameters = .moderate) throws -> String {
        let salt = Sodium.randomBytes(PasswordKDF.saltLength)
        let wrappingKey = try PasswordKDF.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
        let sealed = KeyWrap.wrap(masterKey, with: wrappingKey, aad: aad(keyID: keyID, parameters: parameters))
        let contents = Contents(format: formatName, version: 1, keyID: keyID, kdf: "argon2id13",
                                opsLimit: parameters.opsLimit, memLimit: parameters.memLimit,
                                salt: Data(salt).base64EncodedString(), sealedKey: Data(sealed).base64EncodedString(),
                                createdAt: ISO8601DateFormatter().string(from: Date()))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.createExclusively(at: path, contents: Array(try encoder.encode(contents)) + [10])
        return keyID
    }

    /// A random 64-bit key id in hex.
    public static func newKeyID() -> String {
        Sodium.randomBytes(8).map { String(format: "%02x", $0) }.joined()
    }
}

/// Small POSIX helpers for files that must be durable and never silently replaced.
public enum DurableFile {
    public struct Exists: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "\(path) already exists; refusing to overwrite it" }
    }
    public struct IOError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Creates `path` with `O_EXCL` and mode 0600, writes, fsyncs the file and its directory.
    public static func createExclusively(at path: String, contents: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if fd < 0 {
            if errno == EEXIST { throw Exists(path: path) }
            throw IOError(message: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        var ok = contents.withUnsafeBytes { b in
            var off = 0
            while off < b.count {
                let n = write(fd, b.baseAddress! + off, b.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok else {
            unlink(path)
            throw IOError(message: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        syncDirectory(of: path)
    }

    /// Atomically replaces `to` with `from` (rename) and fsyncs the directory.
    public static func replace(_ to: String, with from: String) throws {
        guard rename(from, to) == 0 else {
            throw IOError(message: "cannot rename \(from) to \(to): \(String(cString: strerror(errno)))")
        }
        syncDirectory(of: to)
    }

    static func syncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}
