import AgentDesk
import ArgumentParser
import Foundation
import Sealing
#if canImport(Glibc)
import Glibc
#endif

/// `--officer NAME`: sign a tenant-scoped command with one of the shop's CLI accounts.
///
/// Once a tenant has an account (enabled or not) of the command's role (`compliance` for erase, export
/// and holds; `operator` for its keys, API keys and transcript views), the command refuses to
/// run without such a sign-in, and the audit log names the account (`agent#12`) instead of a
/// typed-in name. Accountability for the shop's designated people, not a boundary against the
/// master-key holder (SECURITY.md).
struct OfficerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("""
        Sign in as this account of the tenant (role compliance for erase/export/hold, operator for \\
        keys/api-key/issued-keys/transcripts); the audit log then names the account. Required once the tenant \\
        has an account of that role.
        """, valueName: "username"))
    var officer: String?

    @Option(name: .customLong("officer-password-file"), help: ArgumentHelp(
        "Read the --officer password from this file's first line (e.g. /dev/fd/3); default: ask on the terminal.", valueName: "file"))
    var officerPasswordFile: String?

    /// The audit name of the verified account, or `fallback` when the tenant has no account of
    /// `role` and no `--officer` was given.
    func actor(tenant: String, role: AgentRole, dataDirectory: String, fallback: String) throws -> String {
        let path = AgentStore.path(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else {
            if officer != nil { throw CLIError("--officer: there are no accounts in \(dataDirectory)") }
            return fallback
        }
        let signIn = OfficerSignIn(store: try AgentStore(path: path))
        guard let officer else {
            if try signIn.required(tenant: tenant, role: role) {
                throw CLIError("tenant \(tenant) has \(role) accounts: sign in with --officer USERNAME (see `kamirelay agents list --tenant \(tenant)`)")
            }
            return fallback
        }
        var password = try readPassword(username: officer)
        defer { password.withUnsafeMutableBytes { Sodium.zero($0) } }
        do {
            let account = try signIn.verify(tenant: tenant, username: officer, password: password, role: role)
            // `kamirelay agents` needs no master key, so a password reset is not in the signed
            // log by itself; the time the password was set, signed with each action, shows one.
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return "\(account.auditName) (password set \(formatter.string(from: account.passwordChangedAt)))"
        } catch {
            throw CLIError("--officer \(officer): \(error.description)")
        }
    }

    private func readPassword(username: String) throws -> [UInt8] {
        if let file = officerPasswordFile {
            guard let handle = FileHandle(forReadingAtPath: (file as NSString).expandingTildeInPath) else {
                throw CLIError("cannot read the officer password file \(file)")
            }
            defer { try? handle.close() }
            var data = (try? handle.read(upToCount: PasswordHash.maximumBytes + 2)) ?? Data()
            var bytes = [UInt8](data)
            data.resetBytes(in: 0..<data.count)
            if let newline = bytes.firstIndex(of: 10) {
                bytes[newline...].withUnsafeMutableBytes { Sodium.zero($0) }
                bytes.removeSubrange(newline...)
            } else if bytes.count > PasswordHash.maximumBytes {
                // Cut short it could never match, and each try would count towards the lock-out.
                bytes.withUnsafeMutableBytes { Sodium.zero($0) }
                throw CLIError("the first line of \(file) is longer than \(PasswordHash.maximumBytes) bytes")
            }
            if bytes.last == 13 { bytes.removeLast() }
            guard !bytes.isEmpty else { throw CLIError("the officer password file \(file) is empty") }
            return bytes
        }
        guard isatty(STDIN_FILENO) == 1 else {
            throw CLIError("no officer password: use --officer-password-file FILE, or run in a terminal")
        }
        return try Prompt.secret("Password for \(username): ")
    }

    /// ``actor(tenant:role:dataDirectory:fallback:)`` for the operator's tenant commands
    /// (fallback `$USER`).
    func operatorActor(tenant: String, store: StoreOptions) throws -> String {
        try actor(tenant: tenant, role: .operator, dataDirectory: store.resolvedDataDir,
                  fallback: ProcessInfo.processInfo.environment["USER"] ?? "unknown")
    }
}
