import Foundation
import GRDB
import Sealing
@testable import TranscriptStore

/// A store in a fresh temporary directory under a random master key (removed afterwards).
final class Fixture: Sendable {
    let dir: String
    let masterKey: GuardedKey
    let masterID: String
    let store: SQLiteTranscriptStore

    init() throws {
        dir = NSTemporaryDirectory() + "kr-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        masterKey = GuardedKey(randomCount: 32)
        masterID = MasterKeyFile.newKeyID()
        store = try SQLiteTranscriptStore(path: dir + "/transcripts.sqlite", masterKeys: MasterKeyring(currentID: masterID, key: masterKey))
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Another handle on the same database (as after a restart).
    func reopen() throws -> SQLiteTranscriptStore {
        try SQLiteTranscriptStore(path: dir + "/transcripts.sqlite", masterKeys: MasterKeyring(currentID: masterID, key: masterKey))
    }

    /// A raw connection for inspecting and tampering with rows.
    func raw() throws -> DatabaseQueue { try DatabaseQueue(path: dir + "/transcripts.sqlite") }

    /// Every file in the directory, concatenated (database, WAL, shm, journal …).
    func allFileBytes() throws -> Data {
        var all = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            all.append(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
        }
        return all
    }

    func fileNames() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir).sorted() }
}

extension Data {
    func contains(_ needle: String) -> Bool { range(of: Data(needle.utf8)) != nil }
    func contains(bytes: [UInt8]) -> Bool { range(of: Data(bytes)) != nil }
}

func storeError(_ body: () async throws -> Void) async -> TranscriptStoreError? {
    do { try await body(); return nil } catch let e as TranscriptStoreError { return e } catch { return nil }
}
