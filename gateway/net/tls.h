/*  tls.h — the gateway's TLS server context (OpenSSL, TLS 1.2 and later), and the
    self-signed certificate it makes for itself on first start when none is configured,
    so that STARTTLS works out of the box on a demo machine. */
#ifndef MAILBUS_TLS_H
#define MAILBUS_TLS_H

#include <openssl/ssl.h>

/* Creates cert_path and key_path (key mode 0600) with a new P-256 key and a self-signed
   certificate for hostname (CN=hostname, subjectAltName DNS:localhost, DNS:hostname,
   IP:127.0.0.1), valid for a year. Does nothing when both files exist.
   Returns 0, or -1 with a message in *error (caller frees). */
int tls_ensure_self_signed (const char *cert_path, const char *key_path, const char *hostname, char **error);

/* A server context with the certificate chain and key, TLS 1.2 minimum.
   Returns NULL with a message in *error (caller frees). */
SSL_CTX *tls_server_new (const char *cert_path, const char *key_path, char **error);

/* "AB:CD:..." SHA-256 fingerprint of the context's certificate into buf */
int tls_fingerprint (SSL_CTX *ctx, char *buf, size_t size);

#endif
