import ArgumentParser
import Foundation
import Redaction
import Relay
import Sealing
import TranscriptStore

/// `kamirelay tenants issued-keys add|status|clear`: the card keys a shop has issued, so the
/// redactor recognises them in chat whatever their shape. Only keyed digests are stored.
struct TenantsIssuedKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issued-keys",
        abstract: "Tell the redactor which card keys a shop has issued (stored as keyed digests only).",
        discussion: """
        The redactor masks card keys by shape and by keywords such as 卡密; a key the shop has \
        actually issued is masked whatever its shape, even without a keyword, once it is known \
        here. `add` reads keys one per line (blank lines and lines starting with # are skipped), \
        normalises them (case, dashes, spaces, full-width forms do not matter), stores the keyed \
        BLAKE2b digest of each under the tenant's tokenisation key in <data-dir>/relay.sqlite, and \
        forgets the keys. A running relay picks new digests up within 30 seconds, for chats that \
        start after that. Run it after each batch of issued keys, e.g. from the shop's export:
          shop-export --new-keys | kamirelay tenants issued-keys add --tenant shop1 -
        The input holds live card keys: pipe it, or delete the file afterwards.
        """,
        subcommands: [Add.self, Status.self, Clear.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add issued card keys (a file, or - for standard input).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The tenant (shop) that issued the keys.") var tenant: String
        @OptionGroup var officer: OfficerOptions
        @Argument(help: "A file with one card key per line, or - for standard input.") var input: String

        func run() async throws {
            let actor = try officer.operatorActor(tenant: tenant, store: store)
            let opened = try store.openStore()
            guard try await opened.tenants().contains(tenant) else { throw CLIError("no tenant \(tenant) in the store; see `kamirelay tenants list`") }
            let hasher = BLAKE2bKeyedHasher(guardedKey: try await opened.purposeKey(tenant: tenant, .tokenisation))
            let state = try RelayStateStore.open(dataDirectory: store.resolvedDataDir, keys: opened)

            let handle: FileHandle
            var total = 0
            if input == "-" {
                handle = FileHandle.standardInput
            } else {
                guard let h = FileHandle(forReadingAtPath: input) else { throw CLIError("cannot read \(input)") }
                handle = h
                total = ((try? FileManager.default.attributesOfItem(atPath: input)[.size]) as? Int) ?? 0
            }
            defer { if input != "-" { try? handle.close() } }
            let bar = total > 0 ? ProgressBar("issued-keys \(tenant)") : nil

            var lines = SecretLineReader(handle: handle)
            defer { lines.zero() }
            var batch: [IssuedKeyDigest] = []
            var read = 0, added = 0, tooShort = 0, lineNumber = 0
            func flush() async throws {
                if batch.isEmpty { return }
                added += try await state.addIssuedKeys(tenant: tenant, batch)
                batch.removeAll(keepingCapacity: true)
                bar?.update(done: lines.bytesRead, total: total)
            }
            while var line = try lines.next() {
                defer { line.withUnsafeMutableBytes { Sodium.zero($0) } }
                lineNumber += 1
                guard let text = String(validating: line, as: UTF8.self) else {
                    try await flush()
                    throw CLIError("line \(lineNumber) of \(input == "-" ? "standard input" : input) is not UTF-8; "
                                   + "the \(added) new key(s) before it were added (running `add` again skips them)")
                }
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                read += 1
                guard let digest = IssuedKeySet.digest(of: trimmed, hasher: hasher) else { tooShort += 1; continue }
                batch.append(digest)
                if batch.count >= 5_000 { try await flush() }
            }
            try await flush()
            bar?.finish()
            let held = try await state.issuedKeysVersion(tenant: tenant).count
            try await recordAudit(store, opened, tenant: tenant, action: "issued-keys.add",
                                  detail: ["read": String(read), "added": String(added), "held": String(held)], actor: actor)
            print("tenant \(tenant): \(added) new issued key(s) of \(read) read; \(held) held in all"
                  + (tooShort > 0 ? "; \(tooShort) skipped (fewer than 4 letters and digits)" : ""))
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many issued keys a tenant has (never the keys).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The tenant.") var tenant: String

        func run() async throws {
            let state = try RelayStateStore.open(dataDirectory: store.resolvedDataDir, keys: try store.openStore())
            print("tenant \(tenant): \(try await state.issuedKeysVersion(tenant: tenant).count) issued key(s) held as digests")
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget every issued-key digest of a tenant (e.g. before re-importing all).")
        @OptionGroup var store: StoreOptions
        @Option(help: "The tenant.") var tenant: String
        @OptionGroup var officer: OfficerOptions

        func run() async throws {
            let actor = try officer.operatorActor(tenant: tenant, store: store)
            let opened = try store.openStore()
            let state = try RelayStateStore.open(dataDirectory: store.resolvedDataDir, keys: opened)
            let removed = try await state.clearIssuedKeys(tenant: tenant)
            try await recordAudit(store, opened, tenant: tenant, action: "issued-keys.clear", detail: ["removed": String(removed)], actor: actor)
            print("tenant \(tenant): \(removed) issued-key digest(s) removed")
        }
    }
}

/// Reads lines as bytes in 64 KiB chunks; its buffers are zeroed once used, and by ``zero()``
/// when reading stops early (the lines are live card keys). The short-lived Swift strings a
/// caller makes from a line cannot be zeroed; they are dropped at once.
struct SecretLineReader {
    let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var finished = false
    private(set) var bytesRead = 0

    init(handle: FileHandle) {
        self.handle = handle
    }

    /// Zeroes and drops whatever is still buffered (call when stopping before the end).
    mutating func zero() {
        buffer.withUnsafeMutableBytes { Sodium.zero($0) }
        buffer = []
        position = 0
    }

    mutating func next() throws -> [UInt8]? {
        while true {
            if let newline = buffer[position...].firstIndex(of: 10) {
                var line = Array(buffer[position..<newline])
                position = newline + 1
                if line.last == 13 { line.removeLast() }
                return line
            }
            if finished {
                guard position < buffer.count else {
                    buffer.withUnsafeMutableBytes { Sodium.zero($0) }
                    return nil
                }
                let line = Array(buffer[position...])
                position = buffer.count
                return line
            }
            var data = try handle.read(upToCount: 1 << 16) ?? Data()
            var chunk = [UInt8](data)
            data.resetBytes(in: 0..<data.count)
            if chunk.isEmpty { finished = true; continue }
            bytesRead += chunk.count
            var rest = Array(buffer[position...])
            buffer.withUnsafeMutableBytes { Sodium.zero($0) }
            rest.append(contentsOf: chunk)
            chunk.withUnsafeMutableBytes { Sodium.zero($0) }
            buffer = rest
            position = 0
        }
    }
}
