import ArgumentParser
import Foundation
import Sealing
import TranscriptStore

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the master key and the per-tenant key versions.",
        discussion: """
        Key hierarchy: master key (sealed in --keys-dir with your passphrase, Argon2id) → tenant \
        keys, versioned and random (wrapped by the master key, stored in the database) → subject \
        keys, one per data subject (wrapped by a tenant-key version) → sealed messages.

        A typical rotation, safe while the relay runs:
          kamirelay keys rotate --tenant shop1           # v2 for new subjects
          kamirelay keys rewrap --tenant shop1           # existing ones to v2
          kamirelay keys trim --tenant shop1 --below 2   # destroy v1
        """,
        subcommands: [KeysInit.self, KeysStatus.self, KeysRotate.self, KeysRewrap.self, KeysTrim.self, KeysRotateMaster.self,
                      KeysExportMaster.self]
    )
}

enum KDFProfile: String, ExpressibleByArgument, CaseIterable {
    case moderate, interactive
    var parameters: Argon2idParameters { self == .moderate ? .moderate : .interactive }
}

struct KeysInit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the master key, sealed with a passphrase. Refuses to overwrite an existing key.")

    @OptionGroup var store: StoreOptions

    @Option(help: "Argon2id cost: moderate (≈0.6 s, 256 MiB; default) or interactive (≈60 ms, 64 MiB).")
    var kdf: KDFProfile = .moderate

    func run() async throws {
        let path = store.masterKeyPath
        guard !FileManager.default.fileExists(atPath: path) else {
            throw CLIError("\(path) already exists; refusing to overwrite a master key (it would make existing data unreadable)")
        }
        try FileManager.default.createDirectory(atPath: store.resolvedKeysDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var pass = try store.passphrase(confirm: true)
        defer { pass.withUnsafeMutableBytes { zero($0) } }
        guard pass.count >= 10 else { throw CLIError("the passphrase must be at least 10 bytes long") }
        let id = try MasterKeyFile.create(at: path, masterKey: GuardedKey(randomCount: 32), passphrase: pass, parameters: kdf.parameters)
        print("created master key \(id) at \(path)")
        print("keep the passphrase safe: without it no transcript can be decrypted")
    }
}

struct KeysExportMaster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-master",
        abstract: "Write the master key in the clear (mode 0600) for an unattended server's --master-key-file.",
        discussion: """
        Unseals keys/master.key with the passphrase and writes the key to --out, which must not exist. \
        Hand the file to the server through a file descriptor or a credential store and delete it: \
        anyone who reads it can decrypt every transcript. Run it again after `keys rotate-master`.
        """)

    @OptionGroup var store: StoreOptions

    @Option(help: "Where to write the key (must not exist).") var out: String

    func run() async throws {
        try store.requireMasterKey()
        var pass = try store.passphrase()
        defer { pass.withUnsafeMutableBytes { zero($0) } }
        let file = try MasterKeyFile(contentsOf: store.masterKeyPath)
        let key = try file.unlock(passphrase: pass)
        try ExportedMasterKey.write(path: out, keyID: file.keyID, key: key)
        Terminal.warn("wrote master key \(file.keyID) in the clear to \(out): anyone who reads it can decrypt every transcript")
    }
}

struct KeysStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show key versions, subject keys per version and the last rotation.")

    @OptionGroup var store: StoreOptions
    @Option(help: "Only this tenant.") var tenant: String?

    func run() async throws {
        let file = try MasterKeyFile(contentsOf: store.masterKeyPath)
        let s = try store.openStore()
        print("master key \(file.keyID) (Argon2id ops=\(file.parameters.opsLimit) mem=\(file.parameters.memLimit >> 20) MiB)")
        let inUse = try await s.masterKeyIDsInUse()
        if inUse.contains(where: { $0 != file.keyID }) {
            print("  database still uses master key(s) \(inUse.filter { $0 != file.keyID }.joined(separator: ", ")): finish `keys rotate-master`")
        }
        let statuses = try await s.keyStatus(tenant: tenant)
        if statuses.isEmpty { print("no tenants yet (add one with `kamirelay tenants add ID`)") }
        for t in statuses {
            print("tenant \(t.tenant): current v\(t.currentVersion), decrypts from v\(t.minDecryptionVersion), last rotation \(t.lastRotatedAt?.iso8601 ?? "never")")
            for v in t.versions {
                print("  v\(v.version)  created \(v.createdAt.iso8601)  subject keys \(v.subjectKeys)\(v.version == t.currentVersion ? "  (current)" : "")")
            }
            if t.orphanedSubjectKeys > 0 {
                print("  \(t.orphanedSubjectKeys) subject key(s) under destroyed versions (unreadable)")
            }
        }
    }
}

struct KeysRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Add a new tenant-key version and make it current. Old versions still decrypt.",
        discussion: "New subjects are wrapped with the new version at once; run `keys rewrap` to move existing ones.")
    @OptionGroup var store: StoreOptions
    @Option(help: "The tenant.") var tenant: String
    @OptionGroup var officer: OfficerOptions

    func run() async throws {
        let actor = try officer.operatorActor(tenant: tenant, store: store)
        let s = try store.openStore()
        let v = try await s.rotateTenantKey(tenant: tenant)
        try await recordAudit(store, s, tenant: tenant, action: "keys.rotate", detail: ["version": String(v)], actor: actor)
        print("tenant \(tenant): version \(v) is now current; run `kamirelay keys rewrap --tenant \(tenant)` to move existing subject keys")
    }
}

struct KeysRewrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrap",
        abstract: "Re-wrap every subject key under the current tenant-key version.",
        discussion: """
        Works in batches, each its own transaction: if killed, run it again and it resumes. Only \
        keys are re-wrapped; no message is decrypted. Safe while the relay runs.
        """)
    @OptionGroup var store: StoreOptions
    @Option(help: "The tenant.") var tenant: String
    @OptionGroup var officer: OfficerOptions
    @Option(name: .customLong("batch-size"), help: "Subject keys per transaction.") var batchSize = 2_000

    func run() async throws {
        let actor = try officer.operatorActor(tenant: tenant, store: store)
        let s = try store.openStore()
        let bar = ProgressBar("rewrap \(tenant)")
        let started = Date()
        let result = try await s.rewrapSubjectKeys(tenant: tenant, batchSize: batchSize) { p in
            bar.update(done: p.rewrapped, total: p.total)
        }
        bar.finish()
        try await recordAudit(store, s, tenant: tenant, action: "keys.rewrap",
                              detail: ["rewrapped": String(result.rewrapped), "version": String(result.currentVersion)], actor: actor)
        let seconds = Date().timeIntervalSince(started)
        print("tenant \(tenant): re-wrapped \(result.rewrapped) subject key(s) under v\(result.currentVersion) in \(String(format: "%.2f", seconds)) s")
    }
}

struct KeysTrim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trim",
        abstract: "Destroy tenant-key versions below VERSION.",
        discussion: """
        Refuses while any subject key still depends on those versions (run `keys rewrap` first). \
        With --force it destroys them anyway: every message under those subject keys becomes \
        permanently unreadable — this is how crypto-shredding of old versions works.
        """)
    @OptionGroup var store: StoreOptions
    @Option(help: "The tenant.") var tenant: String
    @OptionGroup var officer: OfficerOptions
    @Option(help: "Destroy every version below this one.") var below: Int
    @Flag(help: "Destroy versions even if subject keys still depend on them (their messages are lost).") var force = false

    func run() async throws {
        let actor = try officer.operatorActor(tenant: tenant, store: store)
        let s = try store.openStore()
        if force {
            Terminal.warn("--force: messages whose subject keys are still under a destroyed version become permanently unreadable")
        }
        let r = try await s.trimTenantKeys(tenant: tenant, below: below, force: force)
        try await recordAudit(store, s, tenant: tenant, action: "keys.trim",
                              detail: ["destroyedVersions": r.destroyedVersions.map(String.init).joined(separator: ","),
                                       "orphanedSubjectKeys": String(r.orphanedSubjectKeys), "force": String(force)], actor: actor)
        if r.destroyedVersions.isEmpty {
            print("tenant \(tenant): no versions below \(below) to destroy")
        } else {
            print("tenant \(tenant): destroyed version(s) \(r.destroyedVersions.map(String.init).joined(separator: ", "))")
        }
        if r.orphanedSubjectKeys > 0 {
            Terminal.warn("\(r.orphanedSubjectKeys) subject key(s) depended on destroyed versions and are now unreadable")
        }
    }
}

struct KeysRotateMaster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-master",
        abstract: "Replace the master key: re-wraps the tenant keys only (no subject key or message is touched).",
        discussion: """
        Writes the new key to master.key.next (same passphrase and Argon2id cost), re-wraps every \
        tenant key in one transaction, then renames it over master.key. If interrupted, run it \
        again to finish. Database backups taken earlier still need the old master key.
        """)
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try store.requireMasterKey()
        let lock = try DataDirectoryLock(dataDirectory: store.resolvedDataDir, .replacingMasterKey)
        defer { lock.release() }
        let current = try MasterKeyFile(contentsOf: store.masterKeyPath)
        var pass = try store.passphrase()
        defer { pass.withUnsafeMutableBytes { zero($0) } }
        let (ring, pending) = try store.unlockKeyring(passphrase: pass)
        let newID: String
        let newKey: GuardedKey
        if let pending {
            (newID, newKey) = pending
            Terminal.note("resuming the rotation to master key \(newID)")
        } else {
            // Same passphrase and Argon2id cost as the key it replaces.
            newKey = GuardedKey(randomCount: 32)
            newID = try MasterKeyFile.create(at: store.pendingMasterKeyPath, masterKey: newKey, passphrase: pass, parameters: current.parameters)
        }
        try FileManager.default.createDirectory(atPath: store.resolvedDataDir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let s = try SQLiteTranscriptStore(path: store.databasePath, masterKeys: ring)
        let n = try await s.rotateMasterKey(to: newKey, id: newID)
        try DurableFile.replace(store.masterKeyPath, with: store.pendingMasterKeyPath)
        for tenant in try await s.tenants() {
            try await recordAudit(store, s, tenant: tenant, action: "keys.rotate-master", detail: ["masterKey": newID, "retired": current.keyID])
        }
        print("master key \(newID) is now current (re-wrapped \(n) tenant key(s)); \(current.keyID) is retired")
    }
}
