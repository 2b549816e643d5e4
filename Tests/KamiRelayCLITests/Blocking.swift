import Foundation

/// Runs blocking code (a subprocess to its end, a polling loop) on a thread of its own.
///
/// Why: the Swift concurrency pool that runs every test of this process has one thread per core
/// (two in CI). A test that waits for `kamirelay` subprocesses on it (key derivation, password
/// hashing: many seconds on a loaded machine) holds a pool thread for the whole wait; two such
/// tests froze every other test, and the relay servers other tests talk to, for up to a minute,
/// and those tests then failed their (then short) timeouts.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// Polls `condition` every `interval` until it holds (true) or `seconds` pass (false). The
/// deadline only bounds a hang: on a loaded machine a server process can take long to start.
/// Blocks: call it inside ``offPool(_:)``.
func waitUntil(seconds: Double, every interval: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: interval)
    }
}
