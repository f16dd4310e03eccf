/*
 * imap/sasl.c - SASL messages for AUTHENTICATE and the OAuth2 error reply
 * (see sasl.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/conn_internal.h"
#include "imap/sasl.h"

static const char b64_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ni__base64_encode(const unsigned char *in, size_t n, char *out) {
  size_t o = 0, i;
  for (i = 0; i + 2 < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_tbl[v >> 18 & 63];
    out[o++] = b64_tbl[v >> 12 & 63];
    out[o++] = b64_tbl[v >> 6 & 63];
    out[o++] = b64_tbl[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
    out[o++] = b64_tbl[v >> 18 & 63];
    out[o++] = b64_tbl[v >> 12 & 63];
    out[o++] = i + 1 < n ? b64_tbl[v >> 6 & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

size_t ni__base64_decode(const char *in, size_t n, unsigned char *out) {
  size_t o = 0, i, k = 0;
  unsigned v = 0;
  /* Up to two "=" of padding end the input; nothing may follow them. */
  while (n > 0 && in[n - 1] == '=' && k < 2) {
    n--;
    k++;
  }
  if ((n + k) % 4 != 0 && k > 0) return (size_t)-1;
  if (n % 4 == 1) return (size_t)-1; /* 6 bits cannot end a byte */
  for (i = 0; i < n; i++) {
    const char *at = in[i] ? strchr(b64_tbl, in[i]) : NULL;
    if (at == NULL) return (size_t)-1;
    v = v << 6 | (unsigned)(at - b64_tbl);
    if (i % 4 == 3) {
      out[o++] = (unsigned char)(v >> 16);
      out[o++] = (unsigned char)(v >> 8);
      out[o++] = (unsigned char)v;
      v = 0;
    }
  }
  if (n % 4 == 2) {
    out[o++] = (unsigned char)(v >> 4);
  } else if (n % 4 == 3) {
    out[o++] = (unsigned char)(v >> 10);
    out[o++] = (unsigned char)(v >> 2);
  }
  return o;
}

void ni__sasl_free(char *buf, size_t n) {
  if (!buf) return;
  ni__wipe(buf, n);
  free(buf);
}

/* The message raw[0..rawn) in base64, in a buffer with 3 spare bytes after
 * the NUL; raw is wiped (it holds the secret in clear) and freed. */
static char *encode_and_wipe(unsigned char *raw, size_t rawn, size_t *n) {
  size_t cap = (rawn + 2) / 3 * 4 + 1 + 3;
  char *out = malloc(cap);
  if (out) *n = ni__base64_encode(raw, rawn, out);
  ni__sasl_free((char *)raw, rawn);
  return out;
}

char *ni__sasl_plain(const char *user, const char *pass, size_t *n) {
  /* RFC 4616: authzid NUL authcid NUL passwd. */
  size_t ul = strlen(user), pl = strlen(pass), rawn = 2 + ul + pl;
  unsigned char *raw = malloc(rawn);
  if (!raw) return NULL;
  raw[0] = 0;
  memcpy(raw + 1, user, ul);
  raw[1 + ul] = 0;
  memcpy(raw + 2 + ul, pass, pl);
  return encode_and_wipe(raw, rawn, n);
}

/* Append s[0..k) at *o. */
static void put(unsigned char *raw, size_t *o, const char *s, size_t k) {
  memcpy(raw + *o, s, k);
  *o += k;
}

char *ni__sasl_oauth2(int bearer, const char *user, const char *host, unsigned port,
                      const char *token, size_t len, size_t *n) {
  char portstr[16];
  size_t ul = strlen(user), o = 0;
  /* Room for the worst case: every byte of user escaped to three. */
  size_t rawn = 64 + 3 * ul + strlen(host) + len;
  unsigned char *raw = malloc(rawn);
  if (!raw) return NULL;
  if (bearer) {
    put(raw, &o, "n,a=", 4);
    for (size_t i = 0; i < ul; i++) {
      if (user[i] == ',')
        put(raw, &o, "=2C", 3);
      else if (user[i] == '=')
        put(raw, &o, "=3D", 3);
      else
        raw[o++] = (unsigned char)user[i];
    }
    put(raw, &o, ",\x01host=", 7);
    put(raw, &o, host, strlen(host));
    int k = snprintf(portstr, sizeof portstr, "\x01port=%u", port);
    put(raw, &o, portstr, (size_t)k);
  } else {
    put(raw, &o, "user=", 5);
    put(raw, &o, user, ul);
  }
  put(raw, &o,
      "\x01"
      "auth=Bearer ",
      13);
  put(raw, &o, token, len);
  put(raw, &o, "\x01\x01", 2);
  char *out = encode_and_wipe(raw, o, n);
  /* encode_and_wipe wiped the o bytes used; nothing was written past them. */
  return out;
}

/* ---- the JSON error ---- */

/* A cursor over the decoded JSON. */
typedef struct jcur {
  const char *s;
  size_t pos, end;
} jcur;

static void jws(jcur *j) {
  while (j->pos < j->end && strchr(" \t\r\n", j->s[j->pos]) && j->s[j->pos])
    j->pos++;
}

/* RFC 8259 section 7: a string at pos.  Copies its value into out[0..cap)
 * (printable ASCII only: other bytes and escapes outside ASCII become "?")
 * when out is not NULL.  Returns 0 or -1. */
static int jstring(jcur *j, char *out, size_t cap) {
  size_t o = 0;
  if (j->pos >= j->end || j->s[j->pos] != '"') return -1;
  j->pos++;
  while (j->pos < j->end) {
    unsigned char ch = (unsigned char)j->s[j->pos++];
    if (ch == '"') {
      if (out) out[o] = '\0';
      return 0;
    }
    if (ch == '\\') {
      if (j->pos >= j->end) return -1;
      ch = (unsigned char)j->s[j->pos++];
      if (ch == 'u') {
        if (j->end - j->pos < 4) return -1;
        char hex[5] = {0};
        memcpy(hex, j->s + j->pos, 4);
        char *endp;
        unsigned long v = strtoul(hex, &endp, 16);
        if (*endp) return -1;
        j->pos += 4;
        ch = v < 0x80 ? (unsigned char)v : '?';
      } else if (ch && strchr("bfnrt", ch)) {
        ch = '\n'; /* a control character: shown as "?" below */
      } else if (ch != '"' && ch != '\\' && ch != '/') {
        return -1;
      }
    }
    if (out && o + 1 < cap) out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  return -1;
}

/* Any JSON value at pos, stepped over.  Nested objects and arrays are
 * counted, not recursed into, so a hostile reply cannot exhaust the stack.
 * A scalar (number, true, false, null) is copied into out when out is not
 * NULL.  Returns 0 or -1. */
static int jvalue(jcur *j, char *out, size_t cap) {
  size_t depth = 0, a;
  if (out) out[0] = '\0';
  jws(j);
  if (j->pos >= j->end) return -1;
  if (j->s[j->pos] == '"') return jstring(j, out, cap);
  if (j->s[j->pos] != '{' && j->s[j->pos] != '[') {
    a = j->pos;
    while (j->pos < j->end && strchr("+-.0123456789eEtrufalsn", j->s[j->pos]) && j->s[j->pos])
      j->pos++;
    if (j->pos == a) return -1;
    if (out) {
      size_t k = j->pos - a < cap - 1 ? j->pos - a : cap - 1;
      memcpy(out, j->s + a, k);
      out[k] = '\0';
    }
    return 0;
  }
  do {
    char ch = j->s[j->pos];
    if (ch == '"') {
      if (jstring(j, NULL, 0) < 0) return -1;
      continue;
    }
    if (ch == '{' || ch == '[')
      depth++;
    else if (ch == '}' || ch == ']')
      depth--;
    j->pos++;
  } while (depth > 0 && j->pos < j->end);
  return depth == 0 ? 0 : -1;
}

int ni__oauth2_error_status(const char *b64, size_t n, char *status, size_t cap) {
  status[0] = '\0';
  unsigned char *json = malloc(n / 4 * 3 + 3);
  if (!json) return -1;
  size_t jn = ni__base64_decode(b64, n, json);
  jcur j = {(const char *)json, 0, jn == (size_t)-1 ? 0 : jn};
  int rc = -1, found = 0;
  jws(&j);
  if (jn == (size_t)-1 || j.pos >= j.end || json[j.pos++] != '{') goto out;
  jws(&j);
  if (j.pos < j.end && json[j.pos] == '}') {
    rc = 0;
    goto out;
  }
  for (;;) {
    char key[16];
    jws(&j);
    if (jstring(&j, key, sizeof key) < 0) goto out;
    jws(&j);
    if (j.pos >= j.end || json[j.pos++] != ':') goto out;
    /* Only the first "status" counts; the value of any other key is
     * stepped over. */
    int want = !found && strcmp(key, "status") == 0;
    if (jvalue(&j, want ? status : NULL, cap) < 0) goto out;
    found |= want;
    jws(&j);
    if (j.pos >= j.end) goto out;
    if (json[j.pos] == '}') {
      rc = 0;
      goto out;
    }
    if (json[j.pos++] != ',') goto out;
  }
out:
  if (rc < 0) status[0] = '\0';
  free(json);
  return rc;
}

int ni__oauth2_status_is_token(const char *status) {
  return strcmp(status, "401") == 0 || strcasecmp(status, "invalid_token") == 0;
}
