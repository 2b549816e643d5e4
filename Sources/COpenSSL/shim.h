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
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>

static inline unsigned long kamirelay_openssl_version_number(void) {
    return OPENSSL_VERSION_NUMBER;
}

// --- TLS target: macros wrapped for Swift -------------------------------------------------

// Protocol versions.
static inline int kamirelay_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int kamirelay_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }
static inline int kamirelay_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) { return (int)SSL_CTX_set_min_proto_version(ctx, v); }
static inline int kamirelay_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int v) { return (int)SSL_CTX_set_max_proto_version(ctx, v); }
static inline int kamirelay_SSL_set_min_proto_version(SSL *s, int v) { return (int)SSL_set_min_proto_version(s, v); }
static inline int kamirelay_SSL_set_max_proto_version(SSL *s, int v) { return (int)SSL_set_max_proto_version(s, v); }

// Options and modes.
static inline uint64_t kamirelay_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t kamirelay_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t kamirelay_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t kamirelay_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline long kamirelay_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline long kamirelay_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long kamirelay_SSL_CTX_set_session_cache_mode_off(SSL_CTX *ctx) { return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); }
static inline long kamirelay_SSL_CTX_set_session_cache_mode_server(SSL_CTX *ctx) { return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER); }

// Groups and chains.
static inline int kamirelay_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
static inline int kamirelay_SSL_set1_groups_list(SSL *s, const char *list) { return (int)SSL_set1_groups_list(s, list); }
static inline int kamirelay_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x) { return (int)SSL_CTX_add1_chain_cert(ctx, x); }

// Server name indication.
static inline int kamirelay_TLSEXT_NAMETYPE_host_name(void) { return TLSEXT_NAMETYPE_host_name; }
static inline int kamirelay_SSL_TLSEXT_ERR_OK(void) { return SSL_TLSEXT_ERR_OK; }
static inline int kamirelay_SSL_TLSEXT_ERR_ALERT_FATAL(void) { return SSL_TLSEXT_ERR_ALERT_FATAL; }
static inline int kamirelay_SSL_TLSEXT_ERR_NOACK(void) { return SSL_TLSEXT_ERR_NOACK; }
static inline int kamirelay_SSL_AD_UNRECOGNIZED_NAME(void) { return SSL_AD_UNRECOGNIZED_NAME; }
typedef int (*kamirelay_servername_cb)(SSL *, int *, void *);
static inline long kamirelay_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, kamirelay_servername_cb cb) {
    return SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline int kamirelay_SSL_set_tlsext_host_name(SSL *s, const char *name) { return (int)SSL_set_tlsext_host_name(s, name); }

// Ex-data indices (how C callbacks reach Swift state).
static inline int kamirelay_SSL_get_ex_new_index(void) { return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }
static inline int kamirelay_SSL_CTX_get_ex_new_index(void) { return SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL); }

// Memory BIOs: an empty read BIO answers "retry", never EOF.
static inline long kamirelay_BIO_set_mem_eof_return(BIO *b, int v) { return BIO_set_mem_eof_return(b, v); }
static inline size_t kamirelay_BIO_ctrl_pending(BIO *b) { return BIO_ctrl_pending(b); }
/// Bytes allocated by a memory BIO (it keeps its peak size after being drained).
static inline size_t kamirelay_BIO_mem_capacity(BIO *b) {
    BUF_MEM *m = NULL;
    if (BIO_get_mem_ptr(b, &m) <= 0 || m == NULL) return 0;
    return m->max;
}

// Session tickets: HMAC-SHA256 parameters for the ticket key callback.
static inline int kamirelay_ticket_mac_init(EVP_MAC_CTX *mctx, const unsigned char *key, size_t keylen) {
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, keylen);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(mctx, params);
}

// Certificates.
static inline X509_NAME *kamirelay_X509_get_subject_name(const X509 *x) { return X509_get_subject_name(x); }
static inline int kamirelay_X509_set_version_v3(X509 *x) { return X509_set_version(x, X509_VERSION_3); }
static inline int kamirelay_NID_subject_alt_name(void) { return NID_subject_alt_name; }
static inline int kamirelay_NID_basic_constraints(void) { return NID_basic_constraints; }
static inline int kamirelay_NID_key_usage(void) { return NID_key_usage; }
static inline int kamirelay_NID_ext_key_usage(void) { return NID_ext_key_usage; }
static inline int kamirelay_NID_subject_key_identifier(void) { return NID_subject_key_identifier; }
static inline int kamirelay_NID_authority_key_identifier(void) { return NID_authority_key_identifier; }
static inline int kamirelay_EVP_PKEY_RSA(void) { return EVP_PKEY_RSA; }
static inline int kamirelay_EVP_PKEY_EC(void) { return EVP_PKEY_EC; }
static inline int kamirelay_SSL_FILETYPE_PEM(void) { return SSL_FILETYPE_PEM; }
/// Password callback that refuses: encrypted private keys fail to load instead of prompting on a terminal.
static inline int kamirelay_refuse_password(char *buf, int size, int rwflag, void *u) {
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}
static inline X509 *kamirelay_PEM_read_bio_X509(BIO *b) { return PEM_read_bio_X509(b, NULL, kamirelay_refuse_password, NULL); }
static inline EVP_PKEY *kamirelay_PEM_read_bio_PrivateKey(BIO *b) { return PEM_read_bio_PrivateKey(b, NULL, kamirelay_refuse_password, NULL); }
static inline long kamirelay_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }

static inline int kamirelay_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *kamirelay_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }

// Errors.
static inline int kamirelay_ERR_GET_LIB(unsigned long e) { return ERR_GET_LIB(e); }
static inline int kamirelay_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }
#endif
