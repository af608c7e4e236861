/*  sasl.h — SASL (RFC 4422) for every protocol face of the gateway: SMTP AUTH (RFC 4954),
    POP3 AUTH (RFC 5034) and IMAP AUTHENTICATE (RFC 9051 6.2.2) all carry the client's
    responses in base64, with "*" to cancel and "=" for an empty initial response. One decoder
    for those lines and for the mechanisms PLAIN (RFC 4616) and LOGIN, so that every protocol
    takes and refuses the same things. Touches no socket: the protocol reads the lines, sends
    its own challenges and gives its own replies. */
#ifndef MAILBUS_SASL_H
#define MAILBUS_SASL_H

#include <stddef.h>

#include "mb_limits.h"

/* The longest decoded response taken: a PLAIN message with an authzid and an authcid of
   MAX_ADDRESS octets each (RFC 5321 4.5.3.1.3), the longest password and its two NULs */
#define SASL_MAX_RESPONSE (2 * MAX_ADDRESS + MAX_PASSWORD + 8)
/* Buffer sizes for what the mechanisms give: the user is an address, NUL-terminated */
#define SASL_USER_SIZE (MAX_ADDRESS + 1)
#define SASL_PASSWORD_SIZE (MAX_PASSWORD + 1)

typedef enum { SASL_UNKNOWN = 0, SASL_PLAIN, SASL_LOGIN } sasl_mechanism_t;

typedef enum {
    SASL_OK = 0,
    SASL_CANCELLED,   /* the response was "*": the client ends the exchange */
    SASL_BAD_BASE64,  /* not base64 (RFC 4648 4, padded), or longer than the caller's room */
    SASL_BAD_MESSAGE, /* base64, but not what the mechanism wants */
} sasl_status_t;

/* The mechanism named by name[0..len) (case-insensitive, RFC 4422 3.1); SASL_UNKNOWN for
   any other */
sasl_mechanism_t sasl_mechanism (const char *name, size_t len);

/* "PLAIN", "LOGIN" (NULL for SASL_UNKNOWN) */
const char *sasl_mechanism_name (sasl_mechanism_t mechanism);

/* Decodes one client response, text[0..len) without its CRLF, into out (size octets) and
   sets *out_len: base64 as RFC 4648 4 with padding; "=" is the empty response (RFC 4954 4,
   RFC 5034 4) and so is an empty line; "*" cancels. */
sasl_status_t sasl_decode (const char *text, size_t len, unsigned char *out, size_t size, size_t *out_len);

/* RFC 4616 2: message = [authzid] NUL authcid NUL passwd. Copies authcid into user and passwd
   into password, NUL-terminated. SASL_BAD_MESSAGE unless there are exactly two NULs, the
   authcid and the password are not empty and fit, and the authzid is empty or the authcid
   (acting as another identity is not something we allow). */
sasl_status_t sasl_plain_parse (const unsigned char *message, size_t len, char *user, size_t user_size,
                                char *password, size_t password_size);

/* A PLAIN response as it comes on the wire: sasl_decode, then sasl_plain_parse; the decoded
   octets are wiped */
sasl_status_t sasl_plain (const char *text, size_t len, char *user, size_t user_size, char *password,
                          size_t password_size);

/* One field of LOGIN (the user name, then the password; draft-murchison-sasl-login), decoded:
   copied NUL-terminated into field; SASL_BAD_MESSAGE when it holds a NUL or does not fit */
sasl_status_t sasl_login_field (const unsigned char *data, size_t len, char *field, size_t size);

#endif
