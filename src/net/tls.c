/* tls.c — see tls.h.  L3 8.1.4.1c, 8.1.4.8a, 8.1.2.2: every link is TLS. */
#include "net/tls.h"

#include "core/fsutil.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

static ih_err ssl_fail(const char *what)
{
    char msg[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, msg, sizeof msg);
    ERR_clear_error();
    return ih_fail(IH_E_CONFIG, "%s: %s", what, msg);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

ih_err ih_tls_server_ctx(const char *cert_file, const char *key_file, SSL_CTX **out)
{
    IH_TRY(ih_check_private(key_file));
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return ssl_fail("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* partial writes: a slow reader takes what it can and the rest waits in
     * the connection's buffer (server.c never blocks on a client) */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    /* one read() per record instead of two (header, then body); what is
     * read ahead stays in OpenSSL, and server.c asks SSL_has_pending()
     * before it waits on the socket */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
                                     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"
                                     "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305") != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
        SSL_CTX_free(ctx);
        return ssl_fail("TLS parameters");
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        SSL_CTX_free(ctx);
        return ssl_fail(cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return ssl_fail(key_file);
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"ihos", 4);
    *out = ctx;
    return IH_OK;
}

ih_err ih_tls_fingerprint(const char *cert_file, char *out, size_t n)
{
    FILE *f = fopen(cert_file, "r");
    if (!f) return ih_fail(IH_E_IO, "open %s", cert_file);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x) return ssl_fail(cert_file);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = X509_digest(x, EVP_sha256(), md, &len);
    X509_free(x);
    if (!ok || n < len * 3) return ih_fail(IH_E_INTERNAL, "fingerprint");
    for (unsigned int i = 0; i < len; i++) snprintf(out + 3 * i, 4, "%02X%s", md[i], i + 1 < len ? ":" : "");
    return IH_OK;
}
