import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Keeps a master-key replacement and a running relay apart.
///
/// `serve` holds a shared `flock` on `<data-dir>/.kamirelay.lock` for as long as it runs; the
/// commands that replace the master key (`keys rotate-master`, `epoch run`, `erase --epoch-now`)
/// need it exclusively. A relay keeps the master key it started with in memory: replacing the
/// file under it would leave it unable to unwrap the new tenant-key versions (no new chats)
/// and, worse, its own scheduled epoch would wrap keys under a master key that exists only in
/// its memory. So each side refuses while the other runs. The kernel drops the lock when the
/// process exits, however it exits.
final class DataDirectoryLock {
    private var descriptor: Int32

    enum Mode { case serving, replacingMasterKey }

    /// Takes the lock without waiting, or throws a ``CLIError`` that says who holds it.
    init(dataDirectory: String, _ mode: Mode) throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let path = dataDirectory + "/.kamirelay.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        let operation = (mode == .serving ? LOCK_SH : LOCK_EX) | LOCK_NB
        guard flock(fd, operation) == 0 else {
            let busy = errno == EWOULDBLOCK
            close(fd)
            guard busy else { throw CLIError("cannot lock \(path): \(String(cString: strerror(errno)))") }
            switch mode {
            case .serving:
                throw CLIError("""
                    a master-key replacement (`kamirelay keys rotate-master` or the erasure epoch) is running on \(dataDirectory); \
                    start the relay when it has finished
                    """)
            case .replacingMasterKey:
                throw CLIError("""
                    a relay (`kamirelay serve`) is running on \(dataDirectory) and holds the current master key in memory, \
                    so the master key cannot be replaced under it. Stop it first (SIGTERM drains the chats), or let its \
                    scheduler run the erasure epoch (at most 24 h after an erasure)
                    """)
            }
        }
        descriptor = fd
    }

    /// Releases the lock (closing the descriptor releases it); the holder calls it in a `defer`.
    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
