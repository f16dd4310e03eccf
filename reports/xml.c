/* Escaping CSV text for SVG and HTML.  Fields come from files anyone could
 * have edited, so every byte is checked: markup characters become entities
 * and anything that is not valid XML 1.0 character data becomes U+FFFD. */
#include <stdint.h>
#include <stdio.h>

#include "reports/report_int.h"

static const char replacement[] = "\xEF\xBF\xBD";

/* Length of the valid UTF-8 sequence of an XML character at p, or 0. */
static size_t utf8_char(const unsigned char *p) {
  static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  size_t n;
  uint32_t cp;
  if (p[0] >= 0xC2 && p[0] <= 0xDF) {
    n = 2;
    cp = p[0] & 0x1F;
  } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
    n = 3;
    cp = p[0] & 0x0F;
  } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
    n = 4;
    cp = p[0] & 0x07;
  } else {
    return 0;
  }
  /* A NUL ends the string, and it fails this test too, so no over-read. */
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE ||
      cp == 0xFFFF)
    return 0;
  return n;
}

void ni__xml_text(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned char c = *p;
    if (c >= 0x80) {
      size_t n = utf8_char(p);
      if (n) {
        fwrite(p, 1, n, out);
        p += n;
      } else {
        fputs(replacement, out);
        p++;
      }
      continue;
    }
    switch (c) {
    case '&':
      fputs("&amp;", out);
      break;
    case '<':
      fputs("&lt;", out);
      break;
    case '>':
      fputs("&gt;", out);
      break;
    case '"':
      fputs("&quot;", out);
      break;
    case '\'':
      fputs("&#39;", out);
      break;
    default:
      /* XML 1.0 allows tab, LF and CR among the C0 controls; an LF in a
       * label would still be folded into a space by the renderer. */
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
        fputs(replacement, out);
      else
        fputc(c, out);
    }
    p++;
  }
}
