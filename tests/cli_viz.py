"""cli_viz.py - helpers for tests/cli_viz.sh, standard library only.

  python3 cli_viz.py npy OUT.npy SHAPE [f4|f8]   write attention-like weights:
                                                  rows that are softmaxes, SHAPE "2,3,4"
  python3 cli_viz.py png FILE                    check a PNG's signature and IHDR; print "W H"
  python3 cli_viz.py svg FILE [TEXT ...]          parse an SVG; print "W H"; fail unless each
                                                  TEXT is the content of a <text> element
Exit status 0 when the file is valid, 1 with a message otherwise.
"""
import math
import struct
import sys
import xml.etree.ElementTree as ET
import zlib


def write_npy(path, shape, code):
    n = 1
    for s in shape:
        n *= s
    lk = shape[-1]
    vals = []
    for r in range(n // lk):
        # a deterministic softmax row: a peak that moves with the row index
        scores = [-abs((j - (r * 7) % lk)) * 0.9 + math.sin(r * 3 + j) * 0.3 for j in range(lk)]
        m = max(scores)
        e = [math.exp(s - m) for s in scores]
        t = sum(e)
        vals += [x / t for x in e]
    shape_txt = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '<%s', 'fortran_order': False, 'shape': %s, }" % (code, shape_txt)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%d%s" % (len(vals), "f" if code == "f4" else "d"), *vals))


def check_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("%s: no PNG signature" % path)
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        sys.exit("%s: the first chunk is not IHDR" % path)
    w, h = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[29:33])[0]
    if zlib.crc32(data[12:29]) & 0xFFFFFFFF != crc:
        sys.exit("%s: IHDR CRC mismatch" % path)
    if not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        sys.exit("%s: no IEND chunk at the end" % path)
    print(w, h)


def px(value):
    v = value.strip()
    for unit in ("px", "pt"):
        if v.endswith(unit):
            v = v[: -len(unit)]
    return float(v)


def check_svg(path, texts):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        sys.exit("%s: not well-formed XML: %s" % (path, e))
    if root.tag != "{http://www.w3.org/2000/svg}svg":
        sys.exit("%s: the root element is %s, not svg" % (path, root.tag))
    w, h = px(root.get("width", "0")), px(root.get("height", "0"))
    found = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    missing = [t for t in texts if t not in found]
    if missing:
        sys.exit("%s: no <text> element holds %s (found %d texts)" % (path, missing, len(found)))
    print("%g %g" % (w, h))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "npy":
        shape = [int(s) for s in sys.argv[3].split(",")]
        write_npy(sys.argv[2], shape, sys.argv[4] if len(sys.argv) > 4 else "f4")
    elif len(sys.argv) == 3 and sys.argv[1] == "png":
        check_png(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "svg":
        check_svg(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
