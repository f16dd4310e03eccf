#!/usr/bin/env python3
"""Tell whether a PNG screenshot shows something: decode it with the standard
library only (8-bit RGB or RGBA, not interlaced, as browsers write them) and
check it against limits.

    png_stats.py FILE [--min-colours N] [--min-ink SHARE] [--region X0,Y0,X1,Y1]
                      [--want-colour RRGGBB]...

Prints "width height colours ink" (ink: the share of pixels that are not
near-white) and exits 1 when the image has fewer distinct colours than
--min-colours or less ink than --min-ink, or lacks a --want-colour (at
least 5 pixels within 3 of it in each channel), within --region when given.
An error page of the browser has ink too; the colours of the plot's own
marks tell that the plot itself was drawn.
"""
import argparse
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG: depth %d, colour type %d, interlace %d"
                         % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("png")
    ap.add_argument("--min-colours", type=int, default=0)
    ap.add_argument("--min-ink", type=float, default=0.0)
    ap.add_argument("--region", help="X0,Y0,X1,Y1 in pixels")
    ap.add_argument("--want-colour", action="append", default=[], help="RRGGBB")
    a = ap.parse_args()
    wants = {c: 0 for c in a.want_colour}
    w, h, bpp, rows = decode(a.png)
    x0, y0, x1, y1 = (int(v) for v in a.region.split(",")) if a.region else (0, 0, w, h)
    x1, y1 = min(x1, w), min(y1, h)
    colours, ink, total = set(), 0, 0
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            px = row[x * bpp:x * bpp + 3]
            colours.add(px)
            total += 1
            if min(px) < 230:
                ink += 1
            for c in wants:
                if all(abs(px[i] - int(c[2 * i:2 * i + 2], 16)) <= 3 for i in range(3)):
                    wants[c] += 1
    share = ink / total if total else 0.0
    print("%d %d %d %.4f" % (w, h, len(colours), share))
    missing = [c for c, n in wants.items() if n < 5]
    if len(colours) < a.min_colours or share < a.min_ink or missing:
        print("png_stats: %s looks blank: %d colours (want %d), ink %.4f (want %.4f)%s"
              % (a.png, len(colours), a.min_colours, share, a.min_ink,
                 ", lacks " + " ".join(missing) if missing else ""), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
