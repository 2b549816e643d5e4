import Foundation
import Redaction
import Yams

/// Loads redaction policies from YAML (`policies/default.yaml`, per-tenant files).
///
/// A broken file is an error naming the file, line and field — never a silent default.
public enum RedactionPolicyFile {
    /// The built-in default policy, parsed from the embedded copy of `policies/default.yaml`.
    /// The built-in default's YAML text (what its digest is computed over in the audit log).
    public static var builtInDefaultText: String { BuiltInPolicyText.defaultYAML }

    public static let builtInDefault: RedactionPolicy = {
        do {
            return try parse(yaml: BuiltInPolicyText.defaultYAML, file: "<built-in default.yaml>")
        } catch {
            fatalError("the built-in default policy does not parse: \(error)")
        }
    }()

    /// Loads and validates a policy file. A file that says `extends: default` is applied on top
    /// of the built-in default; otherwise unspecified actions mean `mask`.
    public static func load(path: String) throws(PolicyFileError) -> RedactionPolicy {
        // FileHandle rather than Data(contentsOf:), so /dev/fd/N and pipes work too.
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw PolicyFileError(file: path, line: nil, field: nil, reason: "cannot open the file (missing or not readable)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw PolicyFileError(file: path, line: nil, field: nil, reason: "cannot read the file (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyFileError(file: path, line: nil, field: nil, reason: "the file is not valid UTF-8")
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses policy YAML; `file` is used in error messages.
    public static func parse(yaml: String, file: String) throws(PolicyFileError) -> RedactionPolicy {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw PolicyFileError(file: file, line: error.line, field: nil, reason: "not valid YAML: \(error.problem)")
        } catch {
            throw PolicyFileError(file: file, line: nil, field: nil, reason: "not valid YAML")
        }
        guard let root, let mapping = root.mapping else {
            throw PolicyFileError(file: file, line: root?.mark?.line, field: nil,
                                  reason: "expected a mapping with version, actions, … at the top level")
        }
        var reader = Reader(file: file)
        return try reader.policy(from: mapping, rootMark: root.mark)
    }
}

/// A policy file problem: which file, which line, which field, and why.
public struct PolicyFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var field: String?
    public var reason: String

    public init(file: String, line: Int?, field: String?, reason: String) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if let field { s += "field '\(field)': " }
        return s + reason
    }
}

extension YamlError {
    /// The line libyaml reported, for error messages.
    public var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    /// libyaml's description of the problem (never the document's content).
    public var problem: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        case .reader(let problem, _, _, _): return problem
        case .duplicatedKeysInMapping(let duplicates, _): return "duplicated keys \(duplicates.joined(separator: ", "))"
        default: return "\(self)"
        }
    }
}

private struct Reader {
    let file: String

    func error(_ node: Node?, _ field: String, _ reason: String) -> PolicyFileError {
        PolicyFileError(file: file, line: node?.mark?.line, field: field, reason: reason)
    }

    static let topLevelKeys: Set<String> = ["version", "extends", "actions", "keywords", "card_key_formats",
                                            "non_secret_formats", "service_numbers", "disabled"]

    mutating func policy(from mapping: Node.Mapping, rootMark: Mark?) throws(PolicyFileError) -> RedactionPolicy {
        var fields: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw error(key, "<key>", "keys must be plain names") }
            guard Reader.topLevelKeys.contains(name) else {
                throw error(key, name, "unknown field (expected one of \(Reader.topLevelKeys.sorted().joined(separator: ", ")))")
            }
            fields[name] = (key, value)
        }
        guard let version = fields["version"] else {
            throw PolicyFileError(file: file, line: rootMark?.line, field: "version", reason: "missing (write `version: 1`)")
        }
        guard version.value.int == 1 else { throw error(version.value, "version", "unsupported version (this KamiRelay reads version 1)") }

        var policy = RedactionPolicy()
        if let extends = fields["extends"] {
            guard extends.value.string == "default" else {
                throw error(extends.value, "extends", "only `extends: default` (the built-in policy) is supported")
            }
            policy = RedactionPolicyFile.builtInDefault
        }
        if let actions = fields["actions"] {
            guard let map = actions.value.mapping else { throw error(actions.value, "actions", "expected a mapping of type: action") }
            for (key, value) in map {
                let type = try secretType(key, field: "actions")
                policy.rules[type] = try rule(value, field: "actions.\(type.rawValue)")
            }
        }
        if let keywords = fields["keywords"] {
            guard let map = keywords.value.mapping else { throw error(keywords.value, "keywords", "expected a mapping of type: [words]") }
            for (key, value) in map {
                let type = try secretType(key, field: "keywords")
                policy.extraKeywords[type, default: []].append(contentsOf: try strings(value, field: "keywords.\(type.rawValue)"))
            }
        }
        if let formats = fields["card_key_formats"] {
            policy.cardKeyFormats += try self.formats(formats.value, field: "card_key_formats")
        }
        if let formats = fields["non_secret_formats"] {
            policy.nonSecretFormats += try self.formats(formats.value, field: "non_secret_formats")
        }
        if let numbers = fields["service_numbers"] {
            let list = try strings(numbers.value, field: "service_numbers")
            for (index, number) in list.enumerated() where number.filter(\.isNumber).count < 5 {
                throw error(numbers.value.sequence?[index], "service_numbers[\(index)]", "'\(number)' is not a phone number")
            }
            policy.serviceNumbers += list
        }
        if let disabled = fields["disabled"] {
            guard let seq = disabled.value.sequence else { throw error(disabled.value, "disabled", "expected a list of types") }
            for node in seq { policy.disabledTypes.insert(try secretType(node, field: "disabled")) }
        }
        return policy
    }

    func secretType(_ node: Node, field: String) throws(PolicyFileError) -> SecretType {
        guard let name = node.string, let type = SecretType(rawValue: name) else {
            throw error(node, field, "unknown type '\(node.string ?? "?")' (expected one of \(SecretType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return type
    }

    func rule(_ node: Node, field: String) throws(PolicyFileError) -> RedactionPolicy.Rule {
        func action(_ node: Node) throws(PolicyFileError) -> RedactionAction {
            guard let name = node.string, let action = RedactionAction(rawValue: name) else {
                throw error(node, field, "unknown action '\(node.string ?? "?")' (expected mask, partial or token)")
            }
            return action
        }
        if node.scalar != nil { return RedactionPolicy.Rule(action: try action(node)) }
        guard let map = node.mapping else { throw error(node, field, "expected an action or {action: …, keep_last: …}") }
        var result = RedactionPolicy.Rule(action: .mask)
        var sawAction = false
        for (key, value) in map {
            switch key.string {
            case "action": result.action = try action(value); sawAction = true
            case "keep_last":
                guard let n = value.int, (1...8).contains(n) else { throw error(value, "\(field).keep_last", "expected a number from 1 to 8") }
                result.keepLast = n
            default: throw error(key, "\(field).\(key.string ?? "?")", "unknown field (expected action, keep_last)")
            }
        }
        guard sawAction else { throw error(node, "\(field).action", "missing") }
        return result
    }

    func strings(_ node: Node, field: String) throws(PolicyFileError) -> [String] {
        guard let seq = node.sequence else { throw error(node, field, "expected a list of strings") }
        var out: [String] = []
        for (index, item) in seq.enumerated() {
            guard let s = item.scalar?.string, !s.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw error(item, "\(field)[\(index)]", "expected a non-empty string")
            }
            out.append(s)
        }
        return out
    }

    func formats(_ node: Node, field: String) throws(PolicyFileError) -> [RedactionPolicy.Format] {
        guard let seq = node.sequence else { throw error(node, field, "expected a list of {name, pattern, keywords}") }
        var out: [RedactionPolicy.Format] = []
        for (index, item) in seq.enumerated() {
            let here = "\(field)[\(index)]"
            guard let map = item.mapping else { throw error(item, here, "expected {name: …, pattern: …}") }
            var name: String?, pattern: ShapePattern?, keywords: [String] = []
            for (key, value) in map {
                switch key.string {
                case "name": name = value.string
                case "pattern":
                    guard let source = value.string else { throw error(value, "\(here).pattern", "expected a string") }
                    do { pattern = try ShapePattern(source) } catch {
                        throw self.error(value, "\(here).pattern", "invalid shape \"\(source)\": \(error)")
                    }
                    if let p = pattern, p.minLength < 6 {
                        throw self.error(value, "\(here).pattern", "shape \"\(source)\" can match fewer than 6 characters; too broad")
                    }
                case "keywords": keywords = try strings(value, field: "\(here).keywords")
                default: throw error(key, "\(here).\(key.string ?? "?")", "unknown field (expected name, pattern, keywords)")
                }
            }
            guard let name, !name.isEmpty else { throw error(item, "\(here).name", "missing") }
            guard let pattern else { throw error(item, "\(here).pattern", "missing") }
            out.append(RedactionPolicy.Format(name: name, pattern: pattern, keywords: keywords))
        }
        return out
    }
}
