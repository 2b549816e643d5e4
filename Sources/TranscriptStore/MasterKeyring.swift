import Sealing

/// The master key(s) a store may unwrap tenant keys with: the current one and, while a
/// `keys rotate-master` is being finished, the previous one. Each tenant-key row records the id
/// of the master key that wraps it.
public struct MasterKeyring: Sendable {
    public private(set) var keys: [String: GuardedKey]
    /// The id new tenant keys are wrapped with.
    public private(set) var currentID: String

    public init(currentID: String, key: GuardedKey) {
        precondition(key.count == 32, "master keys are 32 bytes")
        keys = [currentID: key]
        self.currentID = currentID
    }

    /// Adds another key (e.g. the previous one during a master rotation) without making it current.
    public mutating func add(id: String, key: GuardedKey) {
        precondition(key.count == 32, "master keys are 32 bytes")
        keys[id] = key
    }

    /// Adds `key` and makes it current.
    public mutating func makeCurrent(id: String, key: GuardedKey) {
        add(id: id, key: key)
        currentID = id
    }

    public var current: GuardedKey { keys[currentID]! }
}
