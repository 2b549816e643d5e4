import Dispatch
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
    public func reloadOnSignal(_ signalNumber: Int32 = SIGHUP, queue: DispatchQueue = .global()) -> TLSReloadSignalHandle {
        signal(signalNumber, SIG_IGN)  // let the dispatch source, not the default action, see it
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
        source.setEventHandler { [self] in
            _ = try? reload()
        }
        source.resume()
        return TLSReloadSignalHandle(source: source)
    }

    private static func logWarnings(_ context: TLSServerContext, logger: Logger) {
        for warning in context.warnings {
            logger.warning("TLS certificate outside its validity period (policy: warn)", metadata: ["problem": "\(warning)"])
        }
    }
}

/// Keeps a SIGHUP → reload subscription alive; `cancel()` ends it.
///
/// `@unchecked Sendable` is sound: the only state is an immutable reference to a dispatch source,
/// and `DispatchSource.cancel()` is documented as safe to call from any thread.
public final class TLSReloadSignalHandle: @unchecked Sendable {
    private let source: any DispatchSourceSignal

    init(source: any DispatchSourceSignal) { self.source = source }

    public func cancel() { source.cancel() }

    deinit { source.cancel() }
}
