/*
 * natidle/imap.h - the IMAP wire layer without I/O: an incremental response
 * parser and a command builder.
 *
 * The parser is fed whatever bytes arrived from the socket, in any split, and
 * hands out one complete response at a time.  It reads no clock, touches no
 * socket and keeps no global state, so it is deterministic and fuzzable.  Every
 * buffer it keeps is bounded by ni_parser_limits; a response that would exceed
 * a bound is an error (NI_ELIMIT) before anything is allocated for it.  Errors
 * are sticky: once ni_parser_feed() failed it keeps returning the same error
 * until ni_parser_reset().
 *
 * Line ends: RFC 3501 ends every line with CRLF, but some servers end a line
 * with a bare LF (seen after AUTHENTICATE).  The parser takes a bare LF
 * wherever a line may end, as if it were CRLF: at the end of a response, and
 * after a literal announcement "{n}", whose n bytes follow it.  It is never
 * looked for inside a literal's n bytes (CR, LF and NUL there are data).  A
 * CR must still be followed by LF, and a NUL outside a literal is an error.
 * The decision rests on each byte alone, so every split of the input gives
 * the same responses, and the limits count the line end as received (1 byte
 * for LF, 2 for CRLF).  ni_resp.raw holds the bytes as received; the other
 * fields exclude the final line end, whichever it was.
 *
 * The command builder produces one command line (without its tag) as a list of
 * chunks, splitting it after every synchronizing literal so the sender can wait
 * for the server's "+" continuation before sending the literal's bytes.
 */
#ifndef NATIDLE_IMAP_H
#define NATIDLE_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "natidle/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A byte string that is not owned by the holder.  p is never NULL and p[n] is
 * always a NUL byte, so p can be handed to C string functions when the data
 * itself holds no NUL (literals may).  The empty string is p = "", n = 0. */
typedef struct ni_str {
  const char *p;
  size_t n;
} ni_str;

/* Hard bounds on what one parser accepts.  All sizes are in bytes.
 *   max_line:     one line of a response, from its start or from the end of
 *                 the previous literal to its line end (CRLF or LF, included).
 *   max_literal:  one literal's announced length {n}.
 *   max_response: one whole response, all lines and literals together.
 *   max_depth:    nesting depth of parenthesised lists (and of brackets).
 * A zero field means "use the default". */
typedef struct ni_parser_limits {
  size_t max_line;
  size_t max_literal;
  size_t max_response;
  unsigned max_depth;
} ni_parser_limits;

#define NI_PARSER_DEFAULT_MAX_LINE ((size_t)64 * 1024)
#define NI_PARSER_DEFAULT_MAX_LITERAL ((size_t)1024 * 1024)
#define NI_PARSER_DEFAULT_MAX_RESPONSE ((size_t)2 * 1024 * 1024)
#define NI_PARSER_DEFAULT_MAX_DEPTH 16u

/* Fill *l with the defaults: max_line 64 KiB, max_literal 1 MiB,
 * max_response 2 MiB, max_depth 16. */
NI_API void ni_parser_limits_default(ni_parser_limits *l);

/* What kind of line a response started with. */
typedef enum {
  NI_RESP_TAGGED,   /* "a1 OK ..." */
  NI_RESP_UNTAGGED, /* "* ..." */
  NI_RESP_CONTINUE  /* "+ ..." */
} ni_resp_kind;

/* The response's type.  Unknown untagged responses are NI_R_OTHER with their
 * raw text in data, so the client survives server extensions.  New types
 * are added at the end, so the values of the others never change. */
typedef enum {
  NI_R_OK,
  NI_R_NO,
  NI_R_BAD,
  NI_R_BYE,
  NI_R_PREAUTH,
  NI_R_CAPABILITY,
  NI_R_EXISTS,
  NI_R_EXPUNGE,
  NI_R_RECENT,
  NI_R_FETCH,
  NI_R_FLAGS,
  NI_R_SEARCH,
  NI_R_LIST,
  NI_R_STATUS,
  NI_R_ENABLED,
  NI_R_OTHER,
  NI_R_NAMESPACE /* RFC 2342: data is the three lists, raw; see ni_namespace_parse() */
} ni_resp_type;

/* The parts of a FETCH response natidle uses.  Fields that were not in the
 * response are empty strings / zero. */
typedef struct ni_fetch {
  uint32_t seq; /* message sequence number */
  uint32_t uid; /* UID, when has_uid */
  int has_uid;
  ni_str flags;          /* raw contents of FLAGS (...), e.g. "\\Seen \\Recent" */
  int has_envelope;      /* an ENVELOPE was present */
  ni_str env_date;       /* ENVELOPE date, unquoted; empty for NIL */
  ni_str env_subject;    /* ENVELOPE subject, unquoted; empty for NIL */
  ni_str env_from;       /* first From address: "Name <mbox@host>" or "mbox@host" */
  ni_str env_message_id; /* ENVELOPE message-id, unquoted; empty for NIL */
  ni_str header_section; /* section of a BODY[...] item, e.g. "HEADER.FIELDS (FROM TO SUBJECT)" */
  ni_str header;         /* that item's bytes (a literal or a quoted string) */
} ni_fetch;

/* One response.  All ni_str point into the parser's memory and stay valid
 * until the next call on the same parser. */
typedef struct ni_resp {
  ni_resp_kind kind;
  ni_resp_type type; /* for NI_RESP_CONTINUE, type is NI_R_OTHER */
  ni_str tag;        /* tagged responses only */
  uint32_t number;   /* EXISTS/EXPUNGE/RECENT count, or FETCH sequence number */
  ni_str code;       /* response code atom, upper-cased, e.g. "APPENDUID"; empty when none */
  ni_str code_arg;   /* the rest inside the brackets, raw */
  uint32_t code_n1;  /* APPENDUID uidvalidity; UIDVALIDITY; UIDNEXT; else 0 */
  uint32_t code_n2;  /* APPENDUID uid; else 0 */
  ni_str text;       /* human-readable text after the code, or continuation text */
  ni_str caps;       /* CAPABILITY list (untagged or [CAPABILITY ...]), space-separated */
  ni_str data;       /* raw data of SEARCH/LIST/STATUS/FLAGS/ENABLED/NAMESPACE/OTHER */
  ni_fetch fetch;    /* NI_R_FETCH only */
  ni_str raw;        /* the whole response as received, literals and CRLFs included */
} ni_resp;

typedef struct ni_parser ni_parser;

/* Create a parser.  limits NULL means defaults; a zero field in limits means
 * that field's default.  Returns NULL when out of memory. */
NI_API ni_parser *ni_parser_new(const ni_parser_limits *limits);

/* Free a parser and everything it holds.  NULL is allowed. */
NI_API void ni_parser_free(ni_parser *p);

/* Drop buffered input and any sticky error, keeping the limits (e.g. after
 * STARTTLS, where plaintext bytes must not leak into the TLS stream). */
NI_API void ni_parser_reset(ni_parser *p);

/* Consume bytes from buf[0..len) until one response is complete or the input
 * ends.  *consumed is set to the number of bytes used (the caller feeds the
 * rest in the next call).
 * Returns 1: *out holds one response, valid until the next call on p;
 *         0: all len bytes were consumed and a response is still incomplete;
 *        <0: NI_EPARSE (malformed), NI_ELIMIT (a limit was exceeded) or
 *            -ENOMEM.  The error is sticky: later calls return it again and
 *            consume nothing; ni_parser_errstr() says what went wrong. */
NI_API int ni_parser_feed(ni_parser *p, const char *buf, size_t len, size_t *consumed,
                          ni_resp *out);

/* A short message about the sticky error, e.g. "literal too large"; "" when
 * there is none.  Static or owned by p; valid until the next call on p. */
NI_API const char *ni_parser_errstr(const ni_parser *p);

/* Bytes of an incomplete response the parser currently holds. */
NI_API size_t ni_parser_buffered(const ni_parser *p);

/* 1 when the space-separated capability list caps holds cap as a whole atom,
 * compared case-insensitively (e.g. "IDLE", "AUTH=PLAIN"), else 0. */
NI_API int ni_caps_has(ni_str caps, const char *cap);

/* Iterate a list of numbers separated by spaces, such as SEARCH data
 * "1 5 9".  Each call takes the next number from the front of *list and
 * advances *list past it.
 * Returns 1 with *out set, 0 at the end of the list, NI_EPARSE when the next
 * token is not a number that fits in 32 bits. */
NI_API int ni_uint_list_next(ni_str *list, uint32_t *out);

/* The hierarchy delimiter of an untagged LIST response (RFC 3501 7.2.2),
 * e.g. '/' from '* LIST (\Noselect) "/" ""'.  It is how a client learns
 * the separator from a server without NAMESPACE: the reply to LIST "" ""
 * names the delimiter and the root (RFC 3501 6.3.8).  Sets *delim, '\0' when
 * the server sent NIL (a flat name space, no hierarchy).
 * Returns 0, or NI_EPARSE when r is not an untagged LIST response or its
 * data is not "(flags) SP delimiter SP ...". */
NI_API int ni_list_delimiter(const ni_resp *r, char *delim);

/* The three lists of a NAMESPACE response (RFC 2342 section 5). */
typedef enum {
  NI_NS_PERSONAL = 0,    /* the user's own mailboxes */
  NI_NS_OTHER_USERS = 1, /* other users' mailboxes shared with the user */
  NI_NS_SHARED = 2       /* shared folders */
} ni_ns_kind;

/* One namespace: a mailbox name starting with prefix belongs to it, and its
 * levels are separated by delim.  prefix is as the server sent it, with the
 * quoting removed but modified UTF-7 (RFC 3501 5.1.3) left as is, e.g.
 * "INBOX." or "#shared/"; it is NUL-terminated in the caller's buffer.
 * delim is '\0' when the server sent NIL (no hierarchy). */
typedef struct ni_namespace {
  ni_str prefix;
  char delim;
} ni_namespace;

/* Read one list of an untagged NAMESPACE response r (type NI_R_NAMESPACE),
 * e.g. for kind NI_NS_PERSONAL, from
 *   * NAMESPACE (("INBOX." ".")) (("user." ".")) (("" "."))
 * the one namespace prefix "INBOX." with delim '.'.  The prefixes may be
 * quoted strings or literals; extension data after a delimiter is skipped.
 * The first max namespaces are stored in ns[0..max), their prefixes copied
 * into buf[0..cap) (r->data.n + max bytes always suffice).  ns or buf NULL
 * only counts.
 * Returns the number of namespaces of that kind (more than max when some
 * were not stored; 0 when the server sent NIL: it has none of that kind),
 * NI_EPARSE when r is not a well-formed NAMESPACE response, NI_ELIMIT when
 * buf is too small. */
NI_API int ni_namespace_parse(const ni_resp *r, ni_ns_kind kind, ni_namespace *ns, size_t max,
                              char *buf, size_t cap);

/*
 * Command builder.  A command is built WITHOUT its tag (the client prepends
 * "TAG ") as chunks: chunk 0 starts the command; every chunk i > 0 follows a
 * literal announcement and, unless LITERAL+ was chosen, must only be sent
 * after the server's "+" continuation.
 *
 * Strings given to ni_cmd_string() are sent as (RFC 3501 4):
 *   - an atom when every byte is an ATOM-CHAR, the string is not "NIL",
 *     not empty and at most 1024 bytes long;
 *   - a quoted string, with \ and " escaped, when every byte is printable
 *     7-bit and it is at most 1024 bytes long;
 *   - a literal otherwise (CR, LF, 8-bit bytes, long strings).
 * ni_cmd_string() sends bytes as they are, so a UTF-8 mailbox name given to
 * it goes as a literal of its UTF-8 bytes, which only servers with
 * UTF8=ACCEPT enabled (RFC 6855) take as a name; use ni_cmd_mailbox() for
 * mailbox names, which encodes them in modified UTF-7 (RFC 3501 5.1.3) for
 * every other server.  NUL bytes cannot be sent in a string (only literal8
 * could carry them) and are refused with NI_EUSAGE.
 *
 * A call that fails with NI_EUSAGE leaves the command unchanged; after
 * -ENOMEM the command may be half-built and should only be freed.
 */
typedef struct ni_cmd ni_cmd;

/* Start a command with its verb, e.g. "UID FETCH": one or more atoms
 * separated by single spaces.  Returns NULL when the verb is not valid or
 * out of memory. */
NI_API ni_cmd *ni_cmd_new(const char *verb);

/* Free a command; its memory (which may hold a password) is wiped first.
 * NULL is allowed. */
NI_API void ni_cmd_free(ni_cmd *c);

/* on != 0: announce literals as {n+} (LITERAL+ / LITERAL-), which needs no
 * continuation; affects literals added after this call. */
NI_API void ni_cmd_literal_plus(ni_cmd *c, int on);

/* Append " " and raw token(s) as given: sequence sets, "(FLAGS UID)",
 * "\\Seen".  Returns 0, NI_EUSAGE when atom is empty or holds CR, LF or
 * NUL (or the command is finished), -ENOMEM. */
NI_API int ni_cmd_atom(ni_cmd *c, const char *atom);

/* Append " " and s[0..n) as an astring: atom, quoted string or literal,
 * whichever is safe (see above).  Returns 0, NI_EUSAGE when s holds a NUL
 * byte (or the command is finished), -ENOMEM. */
NI_API int ni_cmd_string(ni_cmd *c, const char *s, size_t n);

/* Append " " and the mailbox name name[0..n), given in UTF-8.  utf8_ok != 0
 * (the server has UTF8=ACCEPT enabled) sends the UTF-8 bytes as they are;
 * otherwise the name is first encoded in modified UTF-7 (RFC 3501 5.1.3):
 * "&" becomes "&-" and each run of non-ASCII characters becomes "&" base64
 * of UTF-16 "-", e.g. "Entw\xc3\xbcrfe" -> "Entw&APw-rfe".  Either way the
 * result is then sent like ni_cmd_string().  Returns 0, NI_EUSAGE when the
 * name is not valid UTF-8, holds NUL (or the command is finished), -ENOMEM. */
NI_API int ni_cmd_mailbox(ni_cmd *c, const char *name, size_t n, int utf8_ok);

/* Append " " and data[0..n) always as a literal (e.g. the message of
 * APPEND); NUL bytes are refused with NI_EUSAGE.  Returns 0, NI_EUSAGE,
 * -ENOMEM. */
NI_API int ni_cmd_literal(ni_cmd *c, const char *data, size_t n);

/* Mark the command as holding a secret (a password): callers must never log
 * its text. */
NI_API void ni_cmd_secret(ni_cmd *c);

/* 1 when ni_cmd_secret() was called on c, else 0. */
NI_API int ni_cmd_is_secret(const ni_cmd *c);

/* Append the final CRLF; no argument may be added afterwards.  Returns 0,
 * NI_EUSAGE when already finished, -ENOMEM. */
NI_API int ni_cmd_finish(ni_cmd *c);

/* Number of chunks (at least 1). */
NI_API size_t ni_cmd_nchunks(const ni_cmd *c);

/* Chunk i (0 <= i < ni_cmd_nchunks(c)); the empty string when i is out of
 * range.  Valid until the next change to c. */
NI_API ni_str ni_cmd_chunk(const ni_cmd *c, size_t i);

/* 1 when chunk i must only be sent after a "+" continuation from the server
 * (i > 0 and the literal before it was synchronizing), else 0. */
NI_API int ni_cmd_chunk_needs_continuation(const ni_cmd *c, size_t i);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_IMAP_H */
