#!/usr/bin/env python3
"""cli_npy.py - .npy files and an independent attention for the attn tool's tests.

Pure Python (struct only, no NumPy), so the shell tests run anywhere.

  cli_npy.py write PATH DTYPE SHAPE SEED        random normal values (DTYPE f4, f8, f2 or b1;
                                                 b1 = random booleans, each row keeping one true)
  cli_npy.py write PATH DTYPE SHAPE =v1,v2,...  the given values, in C order
  cli_npy.py shape PATH                          prints "DTYPE (s0, s1, ...)" as read
  cli_npy.py check --q Q --k K --v V --out OUT [--weights W] [--lse L] [--mask M]
                   [--causal top-left|bottom-right] [--window L,R] [--scale S]
                   [--score scaled_dot|dot|cosine|bilinear] [--score-w W]
      recomputes attention in double precision from the input files and compares
      every output with |got - want| <= 1e-5 + 1e-5 |want| (the outputs are float32,
      about 6e-8 relative rounding; the rest is slack for float32 inputs' products).
      Exit 0 if all match, 1 otherwise, printing the worst element.
"""
import ast
import math
import random
import struct
import sys

CODES = {"f4": ("<f4", "f", 4), "f8": ("<f8", "d", 8), "f2": ("<f2", "e", 2), "b1": ("|b1", "B", 1)}


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def write_npy(path, dtype, shape, values):
    descr, fmt, _ = CODES[dtype]
    shape_txt = "(" + "".join("%d, " % s for s in shape).rstrip(" ") + ")"
    if len(shape) > 1:
        shape_txt = "(" + ", ".join(str(s) for s in shape) + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_txt)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        if dtype == "b1":
            f.write(bytes(1 if v else 0 for v in values))
        else:
            f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


def read_npy(path):
    """(dtype code, shape, flat list of floats)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError("%s: not a .npy file" % path)
    major = data[6]
    if major == 1:
        hlen = struct.unpack("<H", data[8:10])[0]
        start = 10
    else:
        hlen = struct.unpack("<I", data[8:12])[0]
        start = 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    if header["fortran_order"]:
        raise ValueError("%s: Fortran order" % path)
    code = {"<f4": "f4", "<f8": "f8", "<f2": "f2", "|b1": "b1"}[header["descr"]]
    shape = tuple(header["shape"])
    n = numel(shape)
    _, fmt, size = CODES[code]
    body = data[start + hlen:]
    if len(body) != n * size:
        raise ValueError("%s: %d data bytes, expected %d" % (path, len(body), n * size))
    vals = list(struct.unpack("<%d%s" % (n, fmt), body))
    return code, shape, vals


class Arr:
    """A flat array with a shape, indexed right-aligned with broadcasting."""

    def __init__(self, shape, vals):
        self.shape = tuple(shape)
        self.vals = vals
        self.strides = []
        s = 1
        for d in reversed(self.shape):
            self.strides.insert(0, s)
            s *= d

    def at(self, idx):
        """Element at the right-aligned index idx (len(idx) >= rank); sizes of 1 broadcast."""
        idx = idx[len(idx) - len(self.shape):]
        off = 0
        for i, d, st in zip(idx, self.shape, self.strides):
            off += (i if d > 1 else 0) * st
        return self.vals[off]


def load(path):
    code, shape, vals = read_npy(path)
    return code, Arr(shape, vals)


def pad4(shape):
    return (1,) * (4 - len(shape)) + tuple(shape)


def attention(q, k, v, mask=None, mask_is_bool=False, causal=None, window=None, scale=None, score="scaled_dot",
              w=None):
    """Returns (out, lse, weights) as dicts keyed by 4-D indices."""
    B, Hq, Lq, D = pad4(q.shape)
    _, Hkv, Lk, _ = pad4(k.shape)
    Dv = v.shape[-1]
    Bk = pad4(k.shape)[0]
    group = Hq // Hkv
    if scale is None:
        scale = 1.0 / math.sqrt(D) if score == "scaled_dot" else 1.0
    out, lse, weights = {}, {}, {}
    for b in range(B):
        for h in range(Hq):
            hk = h // group
            bk = b if Bk > 1 else 0
            for i in range(Lq):
                qi = [q.at((b, h, i, c)) for c in range(D)]
                s = []
                for j in range(Lk):
                    kj = [k.at((bk, hk, j, c)) for c in range(k.shape[-1])]
                    if score == "bilinear":
                        x = sum(qi[a] * w.at((h, a, c)) * kj[c] for a in range(D) for c in range(len(kj)))
                    else:
                        x = sum(a * c for a, c in zip(qi, kj))
                    if score == "cosine":
                        nq = max(math.sqrt(sum(a * a for a in qi)), 1e-12)
                        nk = max(math.sqrt(sum(c * c for c in kj)), 1e-12)
                        x = x / (nq * nk)
                    x *= scale
                    off = 0 if causal == "top-left" else Lk - Lq
                    visible = True
                    if causal and j > i + off:
                        visible = False
                    if window:
                        left, right = window
                        woff = Lk - Lq if causal != "top-left" else 0
                        if left >= 0 and j < i + woff - left:
                            visible = False
                        if right >= 0 and j > i + woff + right:
                            visible = False
                    if mask is not None:
                        m = mask.at((b, h, i, j))
                        if mask_is_bool:
                            visible = visible and bool(m)
                        else:
                            x += m
                    s.append(x if visible else -math.inf)
                mx = max(s)
                if mx == -math.inf:
                    p = [0.0] * Lk
                    lse[(b, h, i)] = -math.inf
                else:
                    e = [math.exp(x - mx) if x != -math.inf else 0.0 for x in s]
                    tot = sum(e)
                    p = [x / tot for x in e]
                    lse[(b, h, i)] = mx + math.log(tot)
                for j in range(Lk):
                    weights[(b, h, i, j)] = p[j]
                for c in range(Dv):
                    out[(b, h, i, c)] = sum(p[j] * v.at((bk, hk, j, c)) for j in range(Lk))
    return out, lse, weights


def compare(name, path, expect_shape, want, ndim_key):
    code, shape, vals = read_npy(path)
    if code != "f4":
        print("%s: dtype %s, expected f4" % (name, code))
        return False
    if tuple(shape) != tuple(expect_shape):
        print("%s: shape %s, expected %s" % (name, shape, tuple(expect_shape)))
        return False
    got = Arr(shape, vals)
    worst, where = 0.0, None
    full = pad4(shape) if ndim_key == 4 else (1,) * (3 - len(shape)) + tuple(shape)
    idx_ranges = [range(n) for n in full]

    def walk(prefix, depth):
        nonlocal worst, where
        if depth == len(full):
            g = got.at(prefix)
            wv = want[prefix]
            if wv == -math.inf or g == -math.inf:
                bad = 0.0 if g == wv else math.inf
            else:
                bad = abs(g - wv) / (1e-5 + 1e-5 * abs(wv))
            if bad != bad:
                bad = math.inf
            if bad > worst:
                worst, where = bad, (prefix, g, wv)
            return
        for i in idx_ranges[depth]:
            walk(prefix + (i,), depth + 1)

    walk((), 0)
    if worst > 1.0:
        idx, g, wv = where
        print("%s: at %s got %r, want %r (error %.3g x tolerance)" % (name, idx, g, wv, worst))
        return False
    print("%s: %s matches (worst %.3g x tolerance)" % (name, tuple(shape), worst))
    return True


def main(argv):
    if len(argv) >= 5 and argv[0] == "write":
        path, dtype, shape_txt, src = argv[1], argv[2], argv[3], argv[4]
        shape = tuple(int(s) for s in shape_txt.split(",") if s != "")
        n = numel(shape)
        if src.startswith("="):
            vals = [float(x) for x in src[1:].split(",")] if src != "=" else []
            if dtype == "b1":
                vals = [int(x) for x in vals]
            if len(vals) != n:
                sys.exit("write: %d values for shape %s" % (len(vals), shape))
        else:
            rng = random.Random(int(src))
            if dtype == "b1":
                vals = [rng.random() < 0.6 for _ in range(n)]
                last = shape[-1] if shape else 1
                for r in range(0, n, max(last, 1)):
                    vals[r + rng.randrange(last)] = True
            else:
                vals = [rng.gauss(0, 1) for _ in range(n)]
        write_npy(path, dtype, shape, vals)
        return 0
    if len(argv) == 2 and argv[0] == "shape":
        code, shape, _ = read_npy(argv[1])
        print("%s (%s)" % (code, ", ".join(str(s) for s in shape)))
        return 0
    if argv and argv[0] == "check":
        opts = {}
        it = iter(argv[1:])
        for a in it:
            opts[a.lstrip("-")] = next(it)
        _, q = load(opts["q"])
        _, k = load(opts["k"])
        _, v = load(opts["v"])
        mask, is_bool = None, False
        if "mask" in opts:
            code, mask = load(opts["mask"])
            is_bool = code == "b1"
        window = tuple(int(x) for x in opts["window"].split(",")) if "window" in opts else None
        w = load(opts["score-w"])[1] if "score-w" in opts else None
        if w is not None and len(w.shape) == 2:
            w = Arr((1,) + w.shape, w.vals)
        out, lse, weights = attention(q, k, v, mask, is_bool, opts.get("causal"), window,
                                      float(opts["scale"]) if "scale" in opts else None,
                                      opts.get("score", "scaled_dot"), w)
        lead = q.shape[:-1]
        ok = compare("out", opts["out"], lead + (v.shape[-1],), out, 4)
        if "lse" in opts:
            ok = compare("lse", opts["lse"], lead, lse, 3) and ok
        if "weights" in opts:
            ok = compare("weights", opts["weights"], lead + (k.shape[-2],), weights, 4) and ok
        return 0 if ok else 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
