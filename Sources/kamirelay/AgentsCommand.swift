import AgentDesk
import ArgumentParser
import Foundation
import Sealing
import TranscriptStore
#if canImport(Glibc)
import Glibc
#endif

/// `kamirelay agents add|list|disable|reset-password`: agent-console accounts.
struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Manage agent accounts (the agent console's logins), per tenant.",
        discussion: """
        Accounts live in <data-dir>/agents.sqlite with Argon2id password hashes (libsodium). Roles: \
        agent (answers chats), supervisor (sees every live chat of the shop, reassigns), compliance and \
        operator (CLI-only roles; they cannot log in to the console). Once a shop has a compliance \
        account, its erase, export and hold commands need `--officer NAME` with that account's password; \
        once it has an operator account, so do its keys, api-key and transcripts commands. Passwords are read from a prompt \
        without echo, or from the first line of --password-file / standard input (--password-stdin); \
        never from the command line. At least \(PasswordHash.minimumLength) characters. When the data \
        directory holds the transcript store, `add` refuses a tenant that is not in it (a typo would \
        make an account nobody can use); tenant ids are read without the master key. Disabling an account or resetting its password ends its \
        console sessions; a reset also ends a lock-out.
        """,
        subcommands: [Add.self, List.self, Disable.self, ResetPassword.self]
    )

    struct Location: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: ArgumentHelp(
            "The data directory holding agents.sqlite (default: $KAMIRELAY_DATA, else ./data).", valueName: "dir"))
        var dataDir: String?

        var resolved: String {
            ((dataDir ?? ProcessInfo.processInfo.environment["KAMIRELAY_DATA"] ?? "data") as NSString).expandingTildeInPath
        }

        func open() throws -> AgentStore {
            try FileManager.default.createDirectory(atPath: resolved, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            return try AgentStore(path: AgentStore.path(dataDirectory: resolved))
        }
    }

    struct PasswordSource: ParsableArguments {
        @Option(name: .customLong("password-file"), help: ArgumentHelp("Read the password from this file's first line (e.g. /dev/fd/3).", valueName: "file"))
        var passwordFile: String?

        @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.")
        var passwordStdin = false

        func validate() throws {
            if passwordFile != nil && passwordStdin { throw ValidationError("give --password-file or --password-stdin, not both") }
        }

        /// The password bytes (the caller zeroes them), checked against the length rules.
        func read() throws -> [UInt8] {
            var bytes: [UInt8]
            if let file = passwordFile {
                let fd = Glibc.open((file as NSString).expandingTildeInPath, O_RDONLY)
                guard fd >= 0 else { throw CLIError("cannot read the password file \(file)") }
                defer { close(fd) }
                bytes = try firstLine(fd, source: file)
            } else if passwordStdin {
                bytes = try firstLine(STDIN_FILENO, source: "standard input")
            } else {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw CLIError("no password: use --password-file FILE or --password-stdin, or run in a terminal")
                }
                bytes = try Prompt.secret("New agent password: ")
                var again = try Prompt.secret("Repeat the password: ")
                defer { again.withUnsafeMutableBytes { zero($0) } }
                guard Sodium.constantTimeEqual(bytes, again) else {
                    bytes.withUnsafeMutableBytes { zero($0) }
                    throw CLIError("the passwords do not match")
                }
            }
            do { try PasswordHash.validate(bytes) } catch {
                bytes.withUnsafeMutableBytes { zero($0) }
                throw CLIError(error.description)
            }
            return bytes
        }

        private func firstLine(_ fd: Int32, source: String) throws -> [UInt8] {
            var bytes: [UInt8] = []
            var c: UInt8 = 0
            while bytes.count <= PasswordHash.maximumBytes {
                let n = Glibc.read(fd, &c, 1)
                if n < 0 { throw CLIError("cannot read the password from \(source)") }
                if n == 0 || c == 10 { break }
                bytes.append(c)
            }
            if bytes.last == 13 { bytes.removeLast() }
            guard !bytes.isEmpty else { throw CLIError("the password from \(source) is empty") }
            return bytes
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an account.")
        @OptionGroup var location: Location
        @OptionGroup var password: PasswordSource
        @Option(help: "The tenant (shop) the account belongs to.") var tenant: String
        @Option(help: "Login name: a–z, 0–9, '.', '-', '_'.") var username: String
        @Option(help: "agent, supervisor, compliance or operator.") var role: String = "agent"

        func run() async throws {
            guard let role = AgentRole(rawValue: role) else { throw ValidationError("--role must be agent, supervisor, compliance or operator") }
            let transcripts = location.resolved + "/transcripts.sqlite"
            if FileManager.default.fileExists(atPath: transcripts) {
                let known: [String]
                do { known = try SQLiteTranscriptStore.tenantIDs(databaseAt: transcripts) } catch {
                    throw CLIError("cannot read the tenants of \(transcripts)")
                }
                guard known.contains(tenant) else {
                    throw CLIError("tenant \(tenant) is not in the store at \(location.resolved); run `kamirelay tenants add \(tenant)` first")
                }
            }
            let store = try location.open()
            var secret = try password.read()
            defer { secret.withUnsafeMutableBytes { zero($0) } }
            let hash = try PasswordHash.hash(secret)
            do {
                let account = try store.addAccount(tenant: tenant, username: username, role: role, passwordHash: hash)
                print("added \(account.username) (\(account.role), tenant \(account.tenant), \(account.auditName))")
            } catch let error as AgentStore.Failure { throw CLIError(error.description) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts (never their password hashes).")
        @OptionGroup var location: Location
        @Option(help: "Only this tenant's accounts.") var tenant: String?

        func run() async throws {
            let store = try location.open()
            let accounts = try store.accounts(tenant: tenant)
            if accounts.isEmpty { print("no accounts"); return }
            let now = Date()
            print("tenant\tusername\trole\tstatus\tid")
            for a in accounts {
                let status = a.disabled ? "disabled" : (a.lockedUntil.map { $0 > now } == true ? "locked until \(a.lockedUntil!.iso8601)" : "active")
                print("\(a.tenant)\t\(a.username)\t\(a.role)\t\(status)\t\(a.auditName)")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account (its console sessions end at once), or --enable it again.")
        @OptionGroup var location: Location
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "The login name.") var username: String
        @Flag(help: "Enable the account instead.") var enable = false

        func run() async throws {
            let store = try location.open()
            do { try store.setDisabled(tenant: tenant, username: username, !enable) } catch let error as AgentStore.Failure {
                throw CLIError(error.description)
            }
            print("\(enable ? "enabled" : "disabled") \(username) (tenant \(tenant))")
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Set a new password; ends the lock-out and every console session of the account.")
        @OptionGroup var location: Location
        @OptionGroup var password: PasswordSource
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "The login name.") var username: String

        func run() async throws {
            let store = try location.open()
            guard try store.account(tenant: tenant, username: username) != nil else {
                throw CLIError(AgentStore.Failure.unknownAccount(tenant: tenant, username: username).description)
            }
            var secret = try password.read()
            defer { secret.withUnsafeMutableBytes { zero($0) } }
            do { try store.setPassword(tenant: tenant, username: username, passwordHash: try PasswordHash.hash(secret)) } catch let error as AgentStore.Failure {
                throw CLIError(error.description)
            }
            print("password reset for \(username) (tenant \(tenant)); its sessions were ended")
        }
    }
}
