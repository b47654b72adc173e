#!/bin/bash
# cli_explain.sh - `attn explain`: the numbers it prints, checked against an
# attention computed here in pure Python from the inputs (never against the
# seed's hand arithmetic, which has slips: it writes e_12 = 0.35 where
# 0.1*0.4 + 0.2*0.5 + 0.3*0.6 = 0.32), CSV and .npy inputs, and its errors.
#
# usage: bash tests/cli_explain.sh PATH_TO_attn
source "$(dirname "$0")/lib_cli.sh" "$@"
NPY="python3 $HERE/cli_npy.py"

# The expected rows, worked out independently: expect.py Q.csv K.csv V.csv
# SCORE CAUSAL prints, for every query i, "scores i a_i1 ..", "weights i w_i1 .."
# and "out i y_i1 ..", where a = the scaled scores (-inf where hidden).
cat >expect.py <<'EOF'
import math, sys
def read(path):
    rows = []
    for line in open(path):
        line = line.split("#")[0].strip()
        if line:
            rows.append([float(x) for x in line.split(",")])
    return rows
Q, K, V = read(sys.argv[1]), read(sys.argv[2]), read(sys.argv[3])
score, causal = sys.argv[4], sys.argv[5]
d = len(Q[0])
for i, q in enumerate(Q):
    a = []
    for j, k in enumerate(K):
        e = sum(x * y for x, y in zip(q, k))          # step 1: e_ij = q_i . k_j
        if score == "scaled_dot":
            s = e / math.sqrt(d)                      # step 2: a_ij = e_ij / sqrt(d)
        elif score == "cosine":
            s = e / (math.sqrt(sum(x * x for x in q)) * math.sqrt(sum(y * y for y in k)))
        else:
            s = e
        off = 0 if causal == "top-left" else len(K) - len(Q)
        if causal != "none" and j > i + off:
            s = -math.inf
        a.append(s)
    m = max(a)
    ex = [math.exp(s - m) if s != -math.inf else 0.0 for s in a]
    w = [x / sum(ex) for x in ex] if m != -math.inf else [0.0] * len(a)   # step 3: softmax
    y = [sum(w[j] * V[j][c] for j in range(len(V))) for c in range(len(V[0]))]  # step 4
    print("scores", i + 1, *a)
    print("weights", i + 1, *w)
    print("out", i + 1, *y)
EOF

# row TEXT SECTION LABEL: the numbers of matrix row LABEL ("q_1") after the
# first line starting with SECTION ("step 3").
row() {
    printf '%s\n' "$1" | awk -v sec="$2" -v lab="$3" 'index($0, sec) == 1 { f = 1 } f && $1 == lab { $1 = ""; print; exit }'
}

# near NAME GOT WANT: two lists of numbers agree to the 6 printed decimals.
near() {
    if python3 - "$2" "$3" <<'EOF'; then ok "$1: $2"; else bad "$1: got '$2', want '$3'"; fi
import sys
got, want = sys.argv[1].split(), sys.argv[2].split()
ok = len(got) == len(want) and len(got) > 0
for g, w in zip(got, want):
    g, w = float(g), float(w)
    ok = ok and (g == w if w in (float("inf"), float("-inf")) else abs(g - w) <= 1.5e-6)
sys.exit(0 if ok else 1)
EOF
}

# check_all NAME TEXT QCSV KCSV VCSV SCORE CAUSAL: every query's scaled scores
# (step 2), weights (step 3) and output (step 4) match expect.py.
check_all() {
    local name=$1 text=$2 expected
    expected=$(python3 expect.py "$3" "$4" "$5" "$6" "$7")
    local i=1
    while printf '%s\n' "$expected" | grep -q "^scores $i "; do
        near "$name step 2 q_$i" "$(row "$text" "step 2" "q_$i")" "$(printf '%s\n' "$expected" | awk -v i=$i '$1 == "scores" && $2 == i { $1 = $2 = ""; print }')"
        near "$name step 3 q_$i" "$(row "$text" "step 3" "q_$i")" "$(printf '%s\n' "$expected" | awk -v i=$i '$1 == "weights" && $2 == i { $1 = $2 = ""; print }')"
        near "$name step 4 y_$i" "$(row "$text" "step 4" "y_$i")" "$(printf '%s\n' "$expected" | awk -v i=$i '$1 == "out" && $2 == i { $1 = $2 = ""; print }')"
        i=$((i + 1))
    done
}

# has NAME TEXT FIXED_STRING
has() {
    if printf '%s\n' "$2" | grep -qF -- "$3"; then ok "$1"; else bad "$1: no line with '$3'"; fi
}

# expect_fail NAME STATUS PATTERN ARGS...: exit STATUS, one stderr line
# starting "attn: error:" that matches PATTERN (grep -E), nothing on stdout.
expect_fail() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$ATTN" "$@" >stdout.txt 2>stderr.txt
    local got=$?
    if [ "$got" != "$want" ]; then
        bad "$name: exit $got, want $want; stderr: $(cat stderr.txt)"
    elif [ "$(wc -l <stderr.txt)" != 1 ] || ! grep -q '^attn: error: ' stderr.txt; then
        bad "$name: stderr is not one 'attn: error:' line: $(cat stderr.txt)"
    elif ! grep -qE -- "$pat" stderr.txt; then
        bad "$name: stderr does not match '$pat': $(cat stderr.txt)"
    elif [ -s stdout.txt ]; then
        bad "$name: printed on stdout"
    else
        ok "$name (exit $want: $(cat stderr.txt))"
    fi
}

# ------------------------------------------------ seed 002's worked example
printf '0.1,0.2,0.3\n0.4,0.5,0.6\n0.7,0.8,0.9\n1.0,1.1,1.2\n' >seed_qk.csv
printf '1.0,1.1,1.2\n1.3,1.4,1.5\n1.6,1.7,1.8\n1.9,2.0,2.1\n' >seed_v.csv
text=$("$ATTN" explain)
st=$?
if [ $st = 0 ]; then ok "explain exits 0"; else bad "explain exits $st"; fi
has "header says what attention computes" "$text" "Attention: each query q_i scores every key k_j"
has "step 1 formula" "$text" "step 1  raw scores     e_ij = q_i . k_j"
has "step 2 formula" "$text" "step 2  scaled scores  a_ij = e_ij / sqrt(d),  d = 3"
has "step 3 formula" "$text" "step 3  weights        w_ij = exp(a_ij) / sum_j exp(a_ij)"
has "step 4 formula" "$text" "step 4  outputs        y_i = sum_j w_ij v_j"
has "e_11 written out" "$text" "e_11 = 0.1*0.1 + 0.2*0.2 + 0.3*0.3 = 0.140000"
has "e_12 computed, not the seed's 0.35" "$text" "e_12 = 0.1*0.4 + 0.2*0.5 + 0.3*0.6 = 0.320000"
has "e_14 written out" "$text" "e_14 = 0.1*1.0 + 0.2*1.1 + 0.3*1.2 = 0.680000"
has "a_11 written out" "$text" "a_11 = 0.140000 / sqrt(3) = 0.080829"
near "raw scores q_1" "$(row "$text" "step 1" "q_1")" "0.14 0.32 0.50 0.68"
near "raw scores q_4" "$(row "$text" "step 1" "q_4")" "0.68 1.67 2.66 3.65"
check_all "seed 002" "$text" seed_qk.csv seed_qk.csv seed_v.csv scaled_dot none
# The first row once more, from awk alone, for a second opinion.
want=$(awk 'BEGIN { s = sqrt(3); a[1] = 0.14 / s; a[2] = 0.32 / s; a[3] = 0.50 / s; a[4] = 0.68 / s;
    for (j = 1; j <= 4; j++) t += exp(a[j]); for (j = 1; j <= 4; j++) printf "%.9f ", exp(a[j]) / t }')
near "seed 002 weights q_1 (awk)" "$(row "$text" "step 3" "q_1")" "$want"
# The written-out softmax subtracts the row's maximum m = a_14 first (the stable form).
has "softmax: the row maximum is named and subtracted" "$text" "largest score m = max_j a_1j = 0.392598 subtracted first"
has "softmax denominator written out" "$text" \
    "sum_j exp(a_1j - m) = exp(-0.311769) + exp(-0.207846) + exp(-0.103923) + exp(0.000000) = "
want=$(awk 'BEGIN { s = sqrt(3); for (j = 1; j <= 4; j++) t += exp((0.14 + 0.18 * (j - 1) - 0.68) / s); printf "%.6f", t }')
has "softmax denominator's value (awk: $want)" "$text" "+ exp(0.000000) = $want"
has "w_11 written out" "$text" "w_11 = exp(-0.311769) / $want = 0.212478"
has "log-sum-exp = m + log(sum)" "$text" "log-sum-exp of row 1: 1.629748"

text=$("$ATTN" explain --score dot)
check_all "seed 002 --score dot" "$text" seed_qk.csv seed_qk.csv seed_v.csv dot none
text=$("$ATTN" explain --score cosine --causal top-left)
check_all "seed 002 --score cosine --causal top-left" "$text" seed_qk.csv seed_qk.csv seed_v.csv cosine top-left
has "causal hides keys with -inf" "$text" "a_12 = -inf"
has "causal rule stated" "$text" "causal top-left: query i sees keys j <= i"

# ------------------------------------------------- huge scores: exp(a) overflows
# Scores 1000, 999, -1000 (exp(1000) is inf in double): every number printed is
# finite, the written-out softmax is exp(a - m), and the weights are right.
printf '1000\n-3\n' >qh.csv
printf '1\n0.999\n-1\n' >kh.csv
printf '1,2\n3,4\n5,6\n' >vh.csv
text=$("$ATTN" explain --q qh.csv --k kh.csv --v vh.csv --score dot)
st=$?
if [ $st = 0 ]; then ok "huge scores: exit 0"; else bad "huge scores: exit $st"; fi
if printf '%s\n' "$text" | grep -qiE 'inf|nan'; then
    bad "huge scores: inf or nan printed: $(printf '%s\n' "$text" | grep -iE 'inf|nan' | head -3)"
else
    ok "huge scores: no inf and no nan anywhere in the output"
fi
has "huge scores: stable denominator" "$text" \
    "sum_j exp(a_1j - m) = exp(0.000000) + exp(-1.000000) + exp(-2000.000000) = 1.367879"
check_all "huge scores (--score dot)" "$text" qh.csv kh.csv vh.csv dot none
# Scores 1e308 and -1e308: even a - m overflows; written as the subtraction, no inf.
printf '1e154\n1\n' >qx.csv
printf '1e154\n-1e154\n' >kx.csv
printf '1\n2\n' >vx.csv
text=$("$ATTN" explain --q qx.csv --k kx.csv --v vx.csv --score dot)
st=$?
if [ $st = 0 ] && ! printf '%s\n' "$text" | grep -qiE 'inf|nan'; then
    ok "scores +-1e308: exit 0, no inf and no nan in the output"
else
    bad "scores +-1e308: exit $st: $(printf '%s\n' "$text" | grep -iE 'inf|nan' | head -3)"
fi
has "scores +-1e308: matrices in exponent form" "$text" "q_1   1.000000e+308  -1.000000e+308"
has "scores +-1e308: a - m written as a subtraction" "$text" \
    "sum_j exp(a_1j - m) = exp(0.000000) + exp(-1.000000e+308 - 1.000000e+308) = 1.000000"
near "scores +-1e308: weights q_1" "$(row "$text" "step 3" "q_1")" "1 0"

# ------------------------------------------------------------ CSV and .npy
cat >q.csv <<'EOF'
# three queries of size 2
1, 0
0.5,-1.5   # a comment after the numbers

2,2
EOF
printf '1,0\n0,1\n-1,0.25\n3,1\n' >k.csv
printf '1,2,3\n4,5,6\n7,8,9\n-1,0,1\n' >v.csv
text=$("$ATTN" explain --q q.csv --k k.csv --v v.csv)
st=$?
if [ $st = 0 ]; then ok "explain CSV exits 0"; else bad "explain CSV exits $st"; fi
has "CSV: negative values written in parentheses" "$text" "e_13 = 1.0*(-1.0) + 0.0*0.25 = -1.000000"
check_all "CSV (3x2, 4x2, 4x3)" "$text" q.csv k.csv v.csv scaled_dot none
text=$("$ATTN" explain --q q.csv --k k.csv --v v.csv --causal bottom-right)
check_all "CSV --causal bottom-right" "$text" q.csv k.csv v.csv scaled_dot bottom-right

$NPY write q.npy f4 3,2 =1,0,0.5,-1.5,2,2
$NPY write k.npy f8 4,2 =1,0,0,1,-1,0.25,3,1
$NPY write v.npy f4 4,3 =1,2,3,4,5,6,7,8,9,-1,0,1
text_npy=$("$ATTN" explain --q q.npy --k k.npy --v v.npy)
check_all ".npy (f4, f8)" "$text_npy" q.csv k.csv v.csv scaled_dot none

# ------------------------------------------------------------------ errors
printf '1,2,3\n4,5,6\n7,8\n' >ragged.csv
printf '1,2\n3,abc\n' >word.csv
printf '1,2\n3,\n' >empty.csv
printf '# nothing\n\n' >nothing.csv
$NPY write cube.npy f4 2,3,2 1
expect_fail "ragged CSV" 1 "ragged.csv line 3, column 3" explain --q ragged.csv --k k.csv --v v.csv
expect_fail "non-numeric CSV" 1 "word.csv line 2, column 2: 'abc' is not a number" explain --q q.csv --k word.csv --v v.csv
expect_fail "empty CSV value" 1 "empty.csv line 2, column 2" explain --q q.csv --k k.csv --v empty.csv
expect_fail "CSV without numbers" 1 "nothing.csv" explain --q nothing.csv --k k.csv --v v.csv
expect_fail "missing file" 1 "nothere.csv" explain --q nothere.csv --k k.csv --v v.csv
expect_fail "3-D .npy" 1 "cube.npy has shape \(2, 3, 2\)" explain --q cube.npy --k k.csv --v v.csv
expect_fail "q and k of different sizes" 1 "head dim" explain --q q.csv --k v.csv --v v.csv
expect_fail "v with 3 rows, k with 4" 1 "v.csv|q.csv" explain --q q.csv --k k.csv --v q.csv
expect_fail "--score bilinear refused" 2 "bilinear.*attn run" explain --score bilinear
expect_fail "--score additive refused" 2 "additive.*attn run" explain --score additive
expect_fail "--score nope" 2 "--score 'nope'" explain --score nope
expect_fail "--causal nope" 2 "--causal 'nope'" explain --causal nope
expect_fail "--q without --k, --v" 2 "--k" explain --q q.csv
expect_fail "unknown option" 2 "--bogus" explain --bogus
expect_fail "option without value" 2 "--q" explain --q
expect_fail "stray argument" 2 "stray" explain stray

help=$("$ATTN" explain --help)
st=$?
missing=""
for o in --q --k --v --score --causal --help scaled_dot dot cosine top-left bottom-right CSV; do
    printf '%s\n' "$help" | grep -q -- "$o" || missing="$missing $o"
done
if [ $st = 0 ] && [ -z "$missing" ]; then ok "explain --help names every option"; else bad "explain --help: exit $st, missing:$missing"; fi

finish
