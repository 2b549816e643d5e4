import ArgumentParser
import Foundation
import Sealing
import TranscriptStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the data and keys live and how the passphrase is supplied; shared by `keys`,
/// `tenants`, `import` and `transcripts`.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "The transcript database directory (default: $KAMIRELAY_DATA, else ./data).", valueName: "dir"))
    var dataDir: String?

    @Option(name: .customLong("keys-dir"), help: ArgumentHelp(
        "The directory holding the sealed master key (default: $KAMIRELAY_KEYS, else ./keys).", valueName: "dir"))
    var keysDir: String?

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp(
        "Read the master-key passphrase from the first line of this file (e.g. /dev/fd/3 or a systemd credential). Otherwise $KAMIRELAY_PASSPHRASE, else an interactive prompt.",
        valueName: "file"))
    var passphraseFile: String?

    @Option(name: .customLong("master-key-file"), help: ArgumentHelp(
        "Unattended servers: read the master key itself (written by `kamirelay keys export-master`) from this file, e.g. /dev/fd/3 or a systemd credential, instead of unsealing keys/master.key with a passphrase. Default: $KAMIRELAY_MASTER_KEY_FILE.",
        valueName: "file"))
    var masterKeyFile: String?

    var resolvedMasterKeyFile: String? {
        masterKeyFile ?? ProcessInfo.processInfo.environment["KAMIRELAY_MASTER_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var resolvedDataDir: String {
        expand(dataDir ?? ProcessInfo.processInfo.environment["KAMIRELAY_DATA"] ?? "data")
    }
    var resolvedKeysDir: String {
        expand(keysDir ?? ProcessInfo.processInfo.environment["KAMIRELAY_KEYS"] ?? "keys")
    }
    var masterKeyPath: String { resolvedKeysDir + "/master.key" }
    /// A master key written by an unfinished `keys rotate-master`.
    var pendingMasterKeyPath: String { resolvedKeysDir + "/master.key.next" }
    var databasePath: String { resolvedDataDir + "/transcripts.sqlite" }
    var policiesDir: String { resolvedDataDir + "/policies" }

    func expand(_ path: String) -> String { (path as NSString).expandingTildeInPath }

    /// The passphrase as bytes (the caller zeroes them), from the file, the environment or a prompt.
    func passphrase(confirm: Bool = false) throws -> [UInt8] {
        if let file = passphraseFile {
            // Plain read(2) up to the first newline, so pipes and /dev/fd/N work as well as files.
            let fd = open(expand(file), O_RDONLY)
            guard fd >= 0 else { throw CLIError("cannot read the passphrase file \(file)") }
            defer { close(fd) }
            var bytes: [UInt8] = []
            var c: UInt8 = 0
            while bytes.count < 4096 {
                let n = read(fd, &c, 1)
                if n < 0 { throw CLIError("cannot read the passphrase file \(file)") }
                if n == 0 || c == 10 { break }
                bytes.append(c)
            }
            if bytes.last == 13 { bytes.removeLast() }
            guard !bytes.isEmpty else { throw CLIError("the passphrase file \(file) is empty") }
            return bytes
        }
        if let env = ProcessInfo.processInfo.environment["KAMIRELAY_PASSPHRASE"], !env.isEmpty {
            return Array(env.utf8)
        }
        guard isatty(STDIN_FILENO) == 1 else {
            throw CLIError("no passphrase: set KAMIRELAY_PASSPHRASE, pass --passphrase-file, or run interactively")
        }
        let first = try Prompt.secret("Master key passphrase: ")
        if confirm {
            var second = try Prompt.secret("Repeat the passphrase: ")
            defer { second.withUnsafeMutableBytes { zero($0) } }
            guard Sodium.constantTimeEqual(first, second) else { throw CLIError("the passphrases do not match") }
        }
        return first
    }

    /// Unlocks the master key (and a pending one from an interrupted rotation).
    func unlockKeyring() throws -> (ring: MasterKeyring, pending: (id: String, key: GuardedKey)?) {
        if let file = resolvedMasterKeyFile { return (try ExportedMasterKey.read(path: file, options: self), nil) }
        try requireMasterKey()
        var pass = try passphrase()
        defer { pass.withUnsafeMutableBytes { zero($0) } }
        return try unlockKeyring(passphrase: pass)
    }

    func requireMasterKey() throws {
        guard FileManager.default.fileExists(atPath: masterKeyPath) else {
            throw CLIError("no master key at \(masterKeyPath); create one with `kamirelay keys init` (or set --keys-dir / KAMIRELAY_KEYS)")
        }
    }

    func unlockKeyring(passphrase pass: [UInt8]) throws -> (ring: MasterKeyring, pending: (id: String, key: GuardedKey)?) {
        let file = try MasterKeyFile(contentsOf: masterKeyPath)
        var ring = MasterKeyring(currentID: file.keyID, key: try file.unlock(passphrase: pass))
        var pending: (String, GuardedKey)? = nil
        if FileManager.default.fileExists(atPath: pendingMasterKeyPath) {
            let next = try MasterKeyFile(contentsOf: pendingMasterKeyPath)
            let key = try next.unlock(passphrase: pass)
            ring.add(id: next.keyID, key: key)
            pending = (next.keyID, key)
        }
        return (ring, pending)
    }

    /// Opens the store, creating the data directory (0700) if needed.
    func openStore() throws -> SQLiteTranscriptStore {
        let (ring, pending) = try unlockKeyring()
        if pending != nil {
            Terminal.warn("an interrupted `kamirelay keys rotate-master` was found (\(pendingMasterKeyPath)); run it again to finish")
        }
        try FileManager.default.createDirectory(atPath: resolvedDataDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return try SQLiteTranscriptStore(path: databasePath, masterKeys: ring)
    }
}

func zero(_ buffer: UnsafeMutableRawBufferPointer) { Sodium.zero(buffer) }

/// A user-facing error: printed as is, without a stack trace.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

enum Prompt {
    /// Reads a line from the terminal with echo off.
    static func secret(_ prompt: String) throws -> [UInt8] {
        FileHandle.standardError.write(Data(prompt.utf8))
        var old = termios()
        let haveTerm = tcgetattr(STDIN_FILENO, &old) == 0
        if haveTerm {
            var quiet = old
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        defer {
            if haveTerm { tcsetattr(STDIN_FILENO, TCSAFLUSH, &old) }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        var bytes: [UInt8] = []
        var c: UInt8 = 0
        while read(STDIN_FILENO, &c, 1) == 1, c != 10 { bytes.append(c) }
        if bytes.last == 13 { bytes.removeLast() }
        guard !bytes.isEmpty else { throw CLIError("empty passphrase") }
        return bytes
    }
}

enum Terminal {
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }
    static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }
}

/// A progress bar on standard error when it is a terminal; otherwise a line every 10%.
final class ProgressBar: @unchecked Sendable {
    // @unchecked: `lastDecile` is only touched from `update`, which callers invoke from one
    // task at a time (the progress callbacks of one sequential operation), under `lock` anyway.
    private let label: String
    private let isTTY = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var lastDecile = -1

    init(_ label: String) { self.label = label }

    func update(done: Int, total: Int) {
        lock.withLock {
            let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
            if isTTY {
                let width = 30
                let filled = Int(fraction * Double(width))
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
            } else {
                let decile = Int(fraction * 10)
                if decile != lastDecile {
                    lastDecile = decile
                    FileHandle.standardError.write(Data("\(label): \(done)/\(total)\n".utf8))
                }
            }
        }
    }

    func finish() {
        if isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

extension Date {
    var iso8601: String { ISO8601DateFormatter().string(from: self) }
}


/// The master key in the clear, for servers that start without a person to type a passphrase.
/// Format: one line `kamirelay-master-key v1 KEY_ID BASE64_KEY`. Written only by
/// `kamirelay keys export-master` (mode 0600); meant to be handed over through a file descriptor or
/// a credential store, never kept next to the database.
enum ExportedMasterKey {
    static let header = "kamirelay-master-key v1"

    static func write(path: String, keyID: String, key: GuardedKey) throws {
        var line = Array("\(header) \(keyID) ".utf8)
        key.withUnsafeBytes { line.append(contentsOf: Array(Data($0).base64EncodedString().utf8)) }
        line.append(0x0A)
        defer { line.withUnsafeMutableBytes { zero($0) } }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw CLIError("cannot create \(path) (it must not exist yet)") }
        defer { close(fd) }
        let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else { throw CLIError("cannot write \(path)") }
    }

    static func read(path: String, options: StoreOptions) throws -> MasterKeyring {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CLIError("cannot read the master key file \(path)") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 512)
        defer { bytes.withUnsafeMutableBytes { zero($0) } }
        let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw CLIError("the master key file \(path) is empty or unreadable") }
        // Parse without building Strings from the key material.
        let fields = bytes[..<n].split(whereSeparator: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D })
        guard fields.count == 4, Array(fields[0]) == Array("kamirelay-master-key".utf8), Array(fields[1]) == Array("v1".utf8),
              let keyID = String(bytes: fields[2], encoding: .utf8),
              var key = Data(base64Encoded: Data(fields[3])), key.count == 32 else {
            throw CLIError("\(path) is not a master key file written by `kamirelay keys export-master`")
        }
        defer { key.withUnsafeMutableBytes { zero($0) } }
        // If the sealed file is present, it must be the same key: a mismatch would wrap new tenant
        // keys under a key the passphrase does not open.
        if FileManager.default.fileExists(atPath: options.masterKeyPath) {
            let sealed = try MasterKeyFile(contentsOf: options.masterKeyPath)
            guard sealed.keyID == keyID else {
                throw CLIError("\(path) holds master key \(keyID) but \(options.masterKeyPath) is \(sealed.keyID); export the current key again")
            }
        }
        if FileManager.default.fileExists(atPath: options.pendingMasterKeyPath) {
            throw CLIError("a `kamirelay keys rotate-master` is unfinished; finish it with the passphrase before using --master-key-file")
        }
        return MasterKeyring(currentID: keyID, key: GuardedKey(copying: [UInt8](key)))
    }
}
