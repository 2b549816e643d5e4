import Foundation
import Hummingbird
import NIOCore

/// The web widget: `/` (a full-page chat), `/widget.js` (also embeddable on a shop's own site)
/// and `/widget.css`. Files from `Sources/Relay/Widget`, loaded once at start.
enum WidgetAssets {
    /// The page's policy: only our own script, style and WebSocket; nothing inline, no frames.
    static let pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// A file of the Relay resource bundle, read once at start (a missing one is a build error).
    static func load(_ name: String, subdirectory: String = "Widget") -> ByteBuffer {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: subdirectory),
              let data = try? Data(contentsOf: url) else {
            preconditionFailure("asset \(subdirectory)/\(name) missing from the Relay resource bundle")
        }
        return ByteBuffer(bytes: data)
    }

    static func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        addStatic([
            ("/", "index.html", "text/html; charset=utf-8"),
            ("/widget.js", "widget.js", "text/javascript; charset=utf-8"),
            ("/widget.css", "widget.css", "text/css; charset=utf-8"),
        ], from: "Widget", to: router)
    }

    /// Serves bundled files under the pages' strict Content-Security-Policy (HEAD too: the
    /// relay's router answers HEAD for every GET route).
    static func addStatic<Context: RequestContext>(_ assets: [(path: String, file: String, type: String)], from subdirectory: String,
                                                   to router: Router<Context>) {
        for asset in assets {
            let body = load(asset.file, subdirectory: subdirectory)
            let type = asset.type
            router.get(RouterPath(asset.path)) { _, _ -> Response in
                var response = Response(status: .ok, body: .init(byteBuffer: body))
                response.headers[.contentType] = type
                response.headers[.contentSecurityPolicy] = pagePolicy
                return response
            }
        }
    }
}
