import Foundation
import Testing

@Suite struct AgentsCLITests {
    @Test("agents add|list|disable|reset-password; passwords from stdin or a file, never argv, never stored in clear")
    func lifecycle() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kamirelay-agents-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = ["--data-dir", dir.path]
        let password = "correct horse battery staple"

        let added = try CLI.run(["agents", "add", "--tenant", "shop1", "--username", "ann", "--role", "supervisor", "--password-stdin"] + data,
                                stdin: Data((password + "\n").utf8))
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("added ann (supervisor, tenant shop1, agent#1)"))

        let file = dir.appendingPathComponent("pw")
        try "another long password\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try CLI.run(["agents", "add", "--tenant", "shop1", "--username", "bob", "--password-file", file.path] + data).status == 0)

        let duplicate = try CLI.run(["agents", "add", "--tenant", "shop1", "--username", "ann", "--password-stdin"] + data, stdin: Data((password + "\n").utf8))
        #expect(duplicate.status != 0 && duplicate.stderr.contains("tenant shop1 already has an account ann"))
        let short = try CLI.run(["agents", "add", "--tenant", "shop1", "--username", "cy", "--password-stdin"] + data, stdin: Data("short\n".utf8))
        #expect(short.status != 0 && short.stderr.contains("at least 12 characters"))
        let noTerminal = try CLI.run(["agents", "add", "--tenant", "shop1", "--username", "cy"] + data)
        #expect(noTerminal.status != 0 && noTerminal.stderr.contains("--password-file FILE or --password-stdin"))
        let argv = try CLI.run(["agents", "add", "--tenant", "shop1", "--username", "cy", "--password", password] + data)
        #expect(argv.status != 0, "there is no way to pass a password on the command line")
        let role = try CLI.run(["agents", "add", "--tenant", "shop1", "--username", "cy", "--role", "admin", "--password-stdin"] + data,
                               stdin: Data((password + "\n").utf8))
        #expect(role.status != 0 && role.stderr.contains("--role must be"))

        #expect(try CLI.run(["agents", "disable", "--tenant", "shop1", "--username", "bob"] + data).status == 0)
        let list = try CLI.run(["agents", "list"] + data)
        #expect(list.stdout.contains("shop1\tann\tsupervisor\tactive\tagent#1"))
        #expect(list.stdout.contains("shop1\tbob\tagent\tdisabled\tagent#2"))
        let reset = try CLI.run(["agents", "reset-password", "--tenant", "shop1", "--username", "ann", "--password-stdin"] + data,
                                stdin: Data("a fresh long password\n".utf8))
        #expect(reset.status == 0 && reset.stdout.contains("its sessions were ended"))
        let unknown = try CLI.run(["agents", "reset-password", "--tenant", "shop1", "--username", "zed", "--password-stdin"] + data,
                                  stdin: Data((password + "\n").utf8))
        #expect(unknown.status != 0 && unknown.stderr.contains("tenant shop1 has no account zed"))

        var bytes = Data()
        for name in ["agents.sqlite", "agents.sqlite-wal"] { bytes += (try? Data(contentsOf: dir.appendingPathComponent(name))) ?? Data() }
        #expect(bytes.range(of: Data("$argon2id$".utf8)) != nil, "Argon2id hashes")
        for secret in [password, "another long password", "a fresh long password"] { #expect(bytes.range(of: Data(secret.utf8)) == nil) }
    }
}
