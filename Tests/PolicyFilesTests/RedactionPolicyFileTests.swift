import Foundation
import Testing
@testable import PolicyFiles
import Redaction

@Suite struct RedactionPolicyFileTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func shippedDefaultFileIsTheBuiltInPolicy() throws {
        let file = try String(contentsOf: Self.repoRoot.appendingPathComponent("policies/default.yaml"), encoding: .utf8)
        #expect(file == BuiltInPolicyText.defaultYAML + "\n", "policies/default.yaml and the compiled-in copy differ: update BuiltInPolicyText.swift")
        #expect(try RedactionPolicyFile.load(path: Self.repoRoot.appendingPathComponent("policies/default.yaml").path) == RedactionPolicy.default)
        #expect(RedactionPolicyFile.builtInDefault == RedactionPolicy.default)
    }

    @Test func everyShippedPolicyLoads() throws {
        let dir = Self.repoRoot.appendingPathComponent("policies")
        let files = FileManager.default.enumerator(atPath: dir.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".yaml") }
            .filter { !$0.hasPrefix("retention/") }  // retention policies (ComplianceTests loads those)
        #expect(!files.isEmpty)
        for file in files { _ = try RedactionPolicyFile.load(path: dir.appendingPathComponent(file).path) }
    }

    @Test func tenantOverlayExtendsTheDefault() throws {
        let policy = try RedactionPolicyFile.parse(yaml: """
            version: 1
            extends: default
            actions:
              phone: token
              bank_account: {action: partial, keep_last: 4}
            keywords:
              card_key: [提货码二号]
            card_key_formats:
              - name: gift
                pattern: "GC-[A-Z0-9]{4}-[A-Z0-9]{4}"
            service_numbers: ["400-820-8820"]
            disabled: [email]
            """, file: "t.yaml")
        #expect(policy.rule(for: .phone).action == .token)
        #expect(policy.rule(for: .bankAccount) == .init(action: .partial, keepLast: 4))
        #expect(policy.rule(for: .transactionNumber).action == .token)  // from the default
        #expect(policy.nonSecretFormats.map(\.name) == ["order_number"])  // from the default
        #expect(policy.cardKeyFormats.map(\.name) == ["gift"])
        #expect(policy.disabledTypes == [.email])
        #expect(policy.extraKeywords[.cardKey] == ["提货码二号"])
    }

    func error(_ yaml: String) -> PolicyFileError? {
        do { _ = try RedactionPolicyFile.parse(yaml: yaml, file: "shop.yaml"); return nil } catch { return error }
    }

    @Test func brokenPoliciesNameFileLineAndField() {
        let unknownAction = error("version: 1\nactions:\n  phone: hide\n")
        #expect(unknownAction?.line == 3)
        #expect(unknownAction?.field == "actions.phone")
        #expect(unknownAction?.description.hasPrefix("shop.yaml:3: field 'actions.phone': unknown action 'hide'") == true)

        #expect(error("version: 1\nactoins:\n  phone: mask\n")?.field == "actoins")
        #expect(error("version: 1\nactions:\n  telephone: mask\n")?.reason.contains("unknown type 'telephone'") == true)
        #expect(error("actions: {}\n")?.field == "version")
        #expect(error("version: 2\n")?.field == "version")
        let badPattern = error("version: 1\nnon_secret_formats:\n  - name: order\n    pattern: \"[A-Z0-9{16}\"\n")
        #expect(badPattern?.line == 4)
        #expect(badPattern?.field == "non_secret_formats[0].pattern")
        #expect(error("version: 1\ncard_key_formats:\n  - name: tiny\n    pattern: \"[0-9]{2}\"\n")?.reason.contains("too broad") == true)
        #expect(error("version: 1\nactions: [mask]\n")?.field == "actions")
        #expect(error("version: 1\nactions:\n  phone: {action: partial, keep_last: 99}\n")?.field == "actions.phone.keep_last")
        #expect(error("version: 1\nservice_numbers: [hotline]\n")?.field == "service_numbers[0]")
        let notYAML = error("version: 1\nactions: {phone: mask\n")
        #expect(notYAML?.reason.hasPrefix("not valid YAML") == true)
        #expect(notYAML?.line != nil)
    }

    @Test func unreadableFileIsAClearError() {
        #expect(throws: PolicyFileError.self) { try RedactionPolicyFile.load(path: "/nonexistent/policy.yaml") }
    }
}

@Suite struct ShapePatternTests {
    @Test func matchesWholeTokensCaseInsensitively() throws {
        let p = try ShapePattern("[A-Z0-9]{4}-[A-Z0-9]{4}")
        #expect(p.hasSeparators)
        #expect(p.matches(Array("AB12-CD34".utf8)))
        #expect(!p.matches(Array("AB12-CD345".utf8)))
        let x = try ShapePattern("X[A-Z0-9]{15}")
        #expect(x.matches(Array("XAAAAAAAAAAAAAA1".utf8)))
        #expect(!x.matches(Array("YAAAAAAAAAAAAAA1".utf8)))
        let ranged = try ShapePattern("\\d{2,4}[A-Z]+")
        #expect(ranged.matches(Array("123ABC".utf8)))
        #expect(!ranged.matches(Array("1ABC".utf8)))
    }

    @Test func rejectsRegexFeaturesItDoesNotHave() {
        for bad in ["(AB)+", "A|B", ".*", "[A-Z", "A{3", "A{5,2}", "\\s", ""] {
            #expect(throws: ShapePattern.SyntaxError.self, "\(bad)") { try ShapePattern(bad) }
        }
    }
}

@Suite struct PolicyFromPipeTests {
    @Test func loadsFromAFileDescriptorPath() throws {
        let pipe = Pipe()
        pipe.fileHandleForWriting.write(Data("version: 1\nextends: default\nactions:\n  phone: token\n".utf8))
        try pipe.fileHandleForWriting.close()
        let policy = try RedactionPolicyFile.load(path: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
        #expect(policy.rule(for: .phone).action == .token)
    }
}
