import Foundation
import Logging
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The server context new connections use, swappable at run time (hot certificate reload).
///
/// Create handlers with `makeHandler()` (or `TLSServerHandler(context: provider.current)`) in the
/// child channel initializer. `reload()` re-reads the certificate files named in the
/// configuration, validates everything, and only then swaps: new connections get the new
/// certificates, live connections keep the context they started with (each retains its own), and a
/// bad file leaves the old context in service and throws.
public final class TLSServerContextProvider: Sendable {
    private let state: NIOLockedValueBox<(context: TLSServerContext, configuration: TLSServerConfiguration, generation: Int)>
    private let logger: Logger

    /// Loads `configuration`; throws `TLSConfigurationError` if it is unusable.
    public init(configuration: TLSServerConfiguration, logger: Logger = Logger(label: "kamirelay.tls")) throws {
        let context = try TLSServerContext(configuration: configuration)
        self.state = NIOLockedValueBox((context, configuration, 1))
        self.logger = logger
        Self.logWarnings(context, logger: logger)
        logger.info("TLS certificates loaded", metadata: ["summary": "\(context.summary)"])
    }

    /// The context for a connection accepted now.
    public var current: TLSServerContext { state.withLockedValue { $0.context } }

    /// Incremented by every successful reload (1 after `init`).
    public var generation: Int { state.withLockedValue { $0.generation } }

    /// A handler for a new connection, using the current context.
    public func makeHandler() throws -> TLSServerHandler {
        try TLSServerHandler(context: current)
    }

    /// Re-reads the certificate files (or loads `newConfiguration`, if given) and swaps them in.
    /// On failure the running context stays in service, the failure is logged, and the error is thrown.
    @discardableResult
    public func reload(_ newConfiguration: TLSServerConfiguration? = nil) throws -> TLSServerContext {
        let configuration = newConfiguration ?? state.withLockedValue { $0.configuration }
        let context: TLSServerContext
        do {
            context = try TLSServerContext(configuration: configuration)
        } catch {
            logger.error("TLS reload rejected; the previous certificates stay in service",
                         metadata: ["error": "\(error)"])
            throw error
        }
        let generation = state.withLockedValue { value -> Int in
            value = (context, configuration, value.generation + 1)
            return value.generation
        }
        Self.logWarnings(context, logger: logger)
        logger.notice("TLS certificates reloaded",
                      metadata: ["generation": "\(generation)", "summary": "\(context.summary)"])
        return context
    }

    /// Reloads on every SIGHUP until the returned handle is cancelled (or released). Reload
    /// failures are logged and leave the old certificates in service.
    ///
    /// This installs the process's SIGHUP handler (see `HangupSignalWatcher`). An application that
    /// handles SIGHUP itself (for example with ServiceLifecycle) should call `reload()` from there
    /// instead.
    public func reloadOnHangupSignal() -> TLSReloadSignalHandle {
        let id = HangupSignalWatcher.shared.add { [weak self] in
            _ = try? self?.reload()
        }
        return TLSReloadSignalHandle(id: id)
    }

    private static func logWarnings(_ context: TLSServerContext, logger: Logger) {
        for warning in context.warnings {
            logger.warning("TLS certificate outside its validity period (policy: warn)", metadata: ["problem": "\(warning)"])
        }
    }
}

/// Keeps a SIGHUP → reload subscription alive; `cancel()` ends it.
public final class TLSReloadSignalHandle: Sendable {
    private let id: UInt64

    init(id: UInt64) { self.id = id }

    public func cancel() { HangupSignalWatcher.shared.remove(id) }

    deinit { cancel() }
}

/// The write end of the SIGHUP self-pipe; the signal handler's only state.
///
/// `nonisolated(unsafe)` is sound: it is written once, in `HangupSignalWatcher.init`, before the
/// handler that reads it is installed, and never changes afterwards.
nonisolated(unsafe) private var hangupPipeWriteEnd: CInt = -1

/// Async-signal-safe: one `write(2)` to a non-blocking pipe.
private let hangupHandler: @convention(c) (CInt) -> Void = { _ in
    let saved = errno
    var byte: UInt8 = 1
    _ = write(hangupPipeWriteEnd, &byte, 1)
    errno = saved
}

/// Turns SIGHUP into callbacks on an ordinary thread, with the self-pipe trick: a real
/// `sigaction` handler writes a byte to a pipe, and a watcher thread (with SIGHUP unblocked, so
/// the signal always has a thread to land on) reads it and runs the callbacks. Unlike a dispatch
/// signal source with `SIG_IGN`, this does not depend on every other thread blocking SIGHUP.
final class HangupSignalWatcher: Sendable {
    static let shared = HangupSignalWatcher()

    private let callbacks = NIOLockedValueBox<(next: UInt64, entries: [UInt64: @Sendable () -> Void])>((0, [:]))

    private init() {
        var ends: [CInt] = [-1, -1]
        guard pipe(&ends) == 0 else { return }  // no pipe: reloads stay available through reload()
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        hangupPipeWriteEnd = ends[1]
        let readEnd = ends[0]
        let callbacks = self.callbacks
        let thread = Thread {
            var hangup = sigset_t()
            sigemptyset(&hangup)
            sigaddset(&hangup, SIGHUP)
            pthread_sigmask(SIG_UNBLOCK, &hangup, nil)
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let n = read(readEnd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                for callback in callbacks.withLockedValue({ Array($0.entries.values) }) { callback() }
            }
        }
        thread.name = "kamirelay-sighup"
        thread.start()
        var action = sigaction()
        action.__sigaction_handler.sa_handler = hangupHandler
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGHUP, &action, nil)
    }

    func add(_ callback: @escaping @Sendable () -> Void) -> UInt64 {
        callbacks.withLockedValue { value in
            value.next += 1
            value.entries[value.next] = callback
            return value.next
        }
    }

    func remove(_ id: UInt64) {
        callbacks.withLockedValue { _ = $0.entries.removeValue(forKey: id) }
    }
}
