#ifndef KAMIRELAY_COPENSSL_SHIM_H
#define KAMIRELAY_COPENSSL_SHIM_H
// The system OpenSSL 3 (Debian's libssl3). Macros Swift cannot import are wrapped
// below as static inline functions.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/opensslv.h>

static inline unsigned long kamirelay_openssl_version_number(void) {
    return OPENSSL_VERSION_NUMBER;
}
#endif
