import NIOCore
@testable import Relay
import Testing

/// The address the per-IP limits count a connection under.
struct ClientAddressTests {
    @Test("An IPv4 client on a dual-stack [::] listener counts as its IPv4 address")
    func mappedIPv4IsTheSameClient() throws {
        #expect(try SocketAddress(ipAddress: "::ffff:203.0.113.7", port: 50_000).clientAddress == "203.0.113.7")
        #expect(try SocketAddress(ipAddress: "203.0.113.7", port: 50_001).clientAddress == "203.0.113.7")
    }

    @Test("Other IPv6 addresses are kept whole")
    func otherIPv6StaysWhole() throws {
        #expect(try SocketAddress(ipAddress: "::1", port: 1).clientAddress == "::1")
        #expect(try SocketAddress(ipAddress: "2001:db8::ffff:1", port: 1).clientAddress == "2001:db8::ffff:1")
        // Only the ::ffff:0:0/96 prefix maps IPv4; an address merely ending in ffff does not.
        #expect(try SocketAddress(ipAddress: "::ffff", port: 1).clientAddress == "::ffff")
    }

    @Test func unixSocketsHaveNoClientAddress() throws {
        #expect(try SocketAddress(unixDomainSocketPath: "/tmp/kamirelay-test.sock").clientAddress == nil)
    }
}
