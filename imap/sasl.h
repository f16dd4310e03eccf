/*
 * imap/sasl.h - SASL messages for AUTHENTICATE: PLAIN (RFC 4616), XOAUTH2 and
 * OAUTHBEARER (RFC 7628), and the error an OAuth2 server sends back.  Pure
 * functions over memory, no I/O, so tests can check every byte.  Not
 * installed; nothing outside imap/ and its tests may include it.
 *
 * Every buffer these functions return may hold a password or an access
 * token: the caller wipes it (ni__sasl_free) rather than just freeing it.
 */
#ifndef NATIDLE_IMAP_SASL_H
#define NATIDLE_IMAP_SASL_H

#include <stddef.h>

/* Base64 (RFC 4648 section 4, with padding) of in[0..n) into out, which
 * must hold (n + 2) / 3 * 4 + 1 bytes; out is NUL-terminated.  Returns the
 * length written (without the NUL). */
size_t ni__base64_encode(const unsigned char *in, size_t n, char *out);

/* Decode base64 in[0..n) (padding optional, no other bytes allowed) into
 * out, which must hold n / 4 * 3 + 3 bytes.  Returns the decoded length, or
 * (size_t)-1 when in is not base64. */
size_t ni__base64_decode(const char *in, size_t n, unsigned char *out);

/* The base64 initial response of AUTHENTICATE PLAIN for user and pass
 * (authzid empty), in a new buffer with room for 3 more bytes after the
 * NUL-terminated text (the caller may append CRLF).  *n is its length.
 * Returns NULL when out of memory. */
char *ni__sasl_plain(const char *user, const char *pass, size_t *n);

/* The base64 initial response for an OAuth2 access token token[0..len):
 *   bearer 0 (XOAUTH2):     "user=" user ^A "auth=Bearer " token ^A ^A
 *   bearer 1 (OAUTHBEARER): "n,a=" user "," ^A "host=" host ^A "port=" port
 *                           ^A "auth=Bearer " token ^A ^A  (RFC 7628 3.1),
 *                           with "," and "=" in user written "=2C" and "=3D"
 *                           (the gs2 header's saslname, RFC 5801 4).
 * Same buffer shape and return as ni__sasl_plain().  The caller has checked
 * that user and token hold no control characters. */
char *ni__sasl_oauth2(int bearer, const char *user, const char *host, unsigned port,
                      const char *token, size_t len, size_t *n);

/* Wipe buf[0..n) and free it; NULL is allowed. */
void ni__sasl_free(char *buf, size_t n);

/* Read the error an OAuth2 server sends as a continuation when it refuses a
 * token (RFC 7628 3.2.2; XOAUTH2 does the same): base64 of a JSON object
 * such as {"status":"401","schemes":"bearer","scope":"mail"}.  Copies the
 * top-level "status" member (a string or a number) into status[0..cap),
 * printable ASCII only and cut to fit; "" when there is none.  Returns 0,
 * or -1 when b64[0..n) is not base64 of a JSON object (status is "" then). */
int ni__oauth2_error_status(const char *b64, size_t n, char *status, size_t cap);

/* 1 when an error status says the token itself was refused (expired,
 * revoked, badly signed), so a fresh token may succeed: "401" (XOAUTH2,
 * HTTP Unauthorized) or "invalid_token" (RFC 6750 3.1).  Else 0. */
int ni__oauth2_status_is_token(const char *status);

#endif /* NATIDLE_IMAP_SASL_H */
