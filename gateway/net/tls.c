/*  tls.c — TLS server context and the self-signed demo certificate. */
#include "tls.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>

static char *
s_openssl_error (const char *what)
{
    unsigned long err = ERR_get_error ();
    char text[256] = "";
    if (err)
        ERR_error_string_n (err, text, sizeof text);
    ERR_clear_error ();
    return zsys_sprintf ("%s%s%s", what, *text ? ": " : "", text);
}

static int
s_add_ext (X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb (&ctx);
    X509V3_set_ctx (&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid (NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int rc = X509_add_ext (cert, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free (ext);
    return rc;
}

int
tls_ensure_self_signed (const char *cert_path, const char *key_path, const char *hostname, char **error)
{
    if (access (cert_path, R_OK) == 0 && access (key_path, R_OK) == 0)
        return 0;
    int rc = -1;
    EVP_PKEY *key = EVP_EC_gen ("P-256");
    X509 *cert = X509_new ();
    FILE *file = NULL;
    if (!key || !cert) {
        *error = s_openssl_error ("cannot make a key");
        goto done;
    }
    X509_set_version (cert, 2); /* v3, for subjectAltName */
    unsigned char serial[16];
    RAND_bytes (serial, sizeof serial);
    serial[0] &= 0x7f; /* a positive serial number (RFC 5280 4.1.2.2) */
    BIGNUM *bn = BN_bin2bn (serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER (bn, X509_get_serialNumber (cert));
    BN_free (bn);
    X509_gmtime_adj (X509_getm_notBefore (cert), -60);
    X509_gmtime_adj (X509_getm_notAfter (cert), 365L * 24 * 3600);
    X509_set_pubkey (cert, key);
    X509_NAME *name = X509_get_subject_name (cert);
    X509_NAME_add_entry_by_txt (name, "O", MBSTRING_ASC, (const unsigned char *)"mailbus demo", -1, -1, 0);
    X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1, -1, 0);
    X509_set_issuer_name (cert, name);
    char san[600];
    if (strcmp (hostname, "localhost") == 0)
        snprintf (san, sizeof san, "DNS:localhost,IP:127.0.0.1");
    else
        snprintf (san, sizeof san, "DNS:localhost,DNS:%s,IP:127.0.0.1", hostname);
    if (s_add_ext (cert, NID_subject_alt_name, san) != 0 ||
        s_add_ext (cert, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        s_add_ext (cert, NID_key_usage, "critical,digitalSignature") != 0 ||
        s_add_ext (cert, NID_ext_key_usage, "serverAuth") != 0) {
        *error = s_openssl_error ("cannot add certificate extensions");
        goto done;
    }
    if (X509_sign (cert, key, EVP_sha256 ()) == 0) {
        *error = s_openssl_error ("cannot sign the certificate");
        goto done;
    }
    /* the key is written 0600 from its first byte */
    unlink (key_path);
    int fd = open (key_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || !(file = fdopen (fd, "w"))) {
        if (fd >= 0)
            close (fd);
        *error = zsys_sprintf ("cannot create %s: %s", key_path, strerror (errno));
        goto done;
    }
    if (PEM_write_PrivateKey (file, key, NULL, NULL, 0, NULL, NULL) != 1) {
        *error = s_openssl_error ("cannot write the key");
        goto done;
    }
    fclose (file);
    file = fopen (cert_path, "w");
    if (!file) {
        *error = zsys_sprintf ("cannot create %s: %s", cert_path, strerror (errno));
        goto done;
    }
    if (PEM_write_X509 (file, cert) != 1) {
        *error = s_openssl_error ("cannot write the certificate");
        goto done;
    }
    rc = 0;
done:
    if (file)
        fclose (file);
    X509_free (cert);
    EVP_PKEY_free (key);
    return rc;
}

SSL_CTX *
tls_server_new (const char *cert_path, const char *key_path, char **error)
{
    assert (cert_path && key_path && error);
    SSL_CTX *ctx = SSL_CTX_new (TLS_server_method ());
    if (!ctx) {
        *error = s_openssl_error ("cannot make a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
    /* no renegotiation, no compression (CRIME); the server picks the cipher */
    SSL_CTX_set_options (ctx,
                         SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode (ctx, SSL_MODE_AUTO_RETRY);
    if (SSL_CTX_use_certificate_chain_file (ctx, cert_path) != 1) {
        char *why = s_openssl_error ("cannot load certificate");
        *error = zsys_sprintf ("%s: %s", cert_path, why);
        free (why);
        SSL_CTX_free (ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file (ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key (ctx) != 1) {
        char *why = s_openssl_error ("cannot load the key");
        *error = zsys_sprintf ("%s: %s", key_path, why);
        free (why);
        SSL_CTX_free (ctx);
        return NULL;
    }
    return ctx;
}

int
tls_fingerprint (SSL_CTX *ctx, char *buf, size_t size)
{
    X509 *cert = SSL_CTX_get0_certificate (ctx);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!cert || X509_digest (cert, EVP_sha256 (), md, &n) != 1 || size < n * 3) {
        snprintf (buf, size, "unknown");
        return -1;
    }
    for (unsigned int i = 0; i < n; i++)
        snprintf (buf + i * 3, size - i * 3, "%02X%s", md[i], i + 1 < n ? ":" : "");
    return 0;
}
