import Compliance
import Foundation
import Sealing
import TranscriptStore

/// `kamirelay erase` as it concerns a relay on the same data directory: the subject is erased
/// (``Compliance/erase(tenant:subject:requestID:actor:dryRun:)``), then the relay's sealed state
/// of the erased sessions (resume and HTTP-API state, hand-off rows) is deleted from
/// `<dataDirectory>/relay.sqlite`. A relay that is running notices the erasure by itself within
/// its ``RelayServerConfiguration/erasureCheckInterval`` (``ErasureWatcher``) and ends the live
/// chats; nothing has to reach it from here.
public enum RelaySubjectErasure {
    /// What the erasure did, and how many rows of relay state went with it.
    public struct Result: Sendable {
        public var outcome: ErasureOutcome
        /// Rows deleted from `relay.sqlite` (0 on a dry run, or when there is no such file).
        public var relayRowsDeleted: Int
    }

    public static func erase(_ compliance: Compliance, dataDirectory: String, tenant: String, subject: SubjectIdentifier,
                             requestID: String, actor: String, dryRun: Bool) async throws -> Result {
        // Listed before erasing: afterwards the blind index no longer finds them.
        let sessions = dryRun ? [] : try await compliance.store.sessions(tenant: tenant, subject: subject).map(\.id)
        let outcome = try await compliance.erase(tenant: tenant, subject: subject, requestID: requestID, actor: actor, dryRun: dryRun)
        guard case .erased(let signed) = outcome, signed.receipt.outcome != "nothing-found", !sessions.isEmpty else {
            return Result(outcome: outcome, relayRowsDeleted: 0)
        }
        let path = dataDirectory + "/relay.sqlite"
        guard FileManager.default.fileExists(atPath: path) else { return Result(outcome: outcome, relayRowsDeleted: 0) }
        let state = try RelayStateStore(path: path, keys: compliance.store)
        var deleted = 0
        for session in sessions { deleted += try await state.deleteChats(tenant: tenant, session: session) }
        return Result(outcome: outcome, relayRowsDeleted: deleted)
    }
}
