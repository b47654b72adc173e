#!/bin/bash
# cli_train.sh - the `attn train` demos in short, deterministic versions:
#   - next-vector (1500 SGD steps, the seed's lr 0.1, batch 1): the logged
#     training loss falls at least 10-fold and the test MSE ends below 10% of
#     the best baseline;
#   - translate (a tiny model, 150 AdamW steps of 16 sentences, lr 5e-3): the loss falls at least
#     3-fold; `attn translate` loads the checkpoint, prints a translation and
#     draws the cross-attention picture (a valid PNG);
#   - --report writes JSON with the keys {task, metric, value, baselines,
#     steps, seconds, seed}; --loss-csv has the header viz-loss reads;
#   - --save/--resume: 200 steps in one run, and 100 steps + resume to 200
#     (translate: 60 and 30 + 30),
#     give bitwise the same final loss, test metric and tensors (the
#     safetensors data after the header; the header differs in the time);
#   - the number words against hand-written cases (English and Chinese);
#   - bad arguments: "attn: error:" on one line and exit status 2;
#   - `attn explain --picture` writes a PNG.
#
# usage: bash tests/cli_train.sh PATH_TO_attn
set -u
ATTN=${1:?usage: cli_train.sh PATH_TO_attn}
ATTN=$(cd "$(dirname "$ATTN")" && pwd)/$(basename "$ATTN")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
# One thread: the runs are small, and OpenMP barriers crawl on a busy machine
# (the results do not depend on the thread count).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# ---- the number words --------------------------------------------------------
while IFS='|' read -r n en zh; do
    [ -z "$n" ] && continue
    want=$(printf '%s\t%s\t%s' "$n" "$en" "$zh")
    got=$("$ATTN" translate --rule "$n" 2>&1)
    if [ "$got" = "$want" ]; then ok "numwords $n: $en = $zh"; else bad "numwords $n: got '$got', want '$want'"; fi
done <<'EOF'
0|zero|零
7|seven|七
10|ten|十
11|eleven|十一
15|fifteen|十五
20|twenty|二十
21|twenty-one|二十一
99|ninety-nine|九十九
100|one hundred|一百
101|one hundred and one|一百零一
110|one hundred and ten|一百一十
115|one hundred and fifteen|一百一十五
312|three hundred and twelve|三百一十二
1000|one thousand|一千
1001|one thousand and one|一千零一
1010|one thousand and ten|一千零一十
1100|one thousand one hundred|一千一百
2005|two thousand and five|二千零五
4005|four thousand and five|四千零五
10000|ten thousand|一万
10001|ten thousand and one|一万零一
10010|ten thousand and ten|一万零一十
11000|eleven thousand|一万一千
20000|twenty thousand|二万
100000|one hundred thousand|十万
100010|one hundred thousand and ten|十万零一十
100100|one hundred thousand one hundred|十万零一百
101000|one hundred and one thousand|十万一千
110000|one hundred and ten thousand|十一万
305012|three hundred and five thousand and twelve|三十万五千零一十二
999999|nine hundred and ninety-nine thousand nine hundred and ninety-nine|九十九万九千九百九十九
EOF

# ---- errors ------------------------------------------------------------------
# expect_usage NAME ARGS...: exit 2, one "attn: error:" line on stderr
expect_usage() {
    local name=$1
    shift
    "$ATTN" "$@" >stdout.txt 2>stderr.txt
    local got=$?
    if [ "$got" -ne 2 ]; then
        bad "$name: exit status $got, expected 2 ($(head -c 200 stderr.txt))"
    elif [ "$(wc -l <stderr.txt)" -ne 1 ] || ! grep -q '^attn: error: ' stderr.txt; then
        bad "$name: expected one 'attn: error:' line, got: $(head -c 300 stderr.txt)"
    else
        ok "$name ($(cut -c 14-90 stderr.txt))"
    fi
}
expect_usage "train without a task" train
expect_usage "unknown task" train next-word
expect_usage "unknown option" train next-vector --frobnicate
expect_usage "--steps 0" train next-vector --steps 0
expect_usage "--steps not a number" train next-vector --steps ten
expect_usage "--seed negative" train next-vector --seed -3
expect_usage "--lr 0" train next-vector --lr 0
expect_usage "--keys below length-1" train next-vector --keys 3
expect_usage "--picture .jpg" train next-vector --picture a.jpg
expect_usage "--heads not dividing d-model" train translate --d-model 30 --heads 4
expect_usage "--layers 0" train translate --layers 0
expect_usage "translate without words" translate
expect_usage "translate unknown word" translate "four thousand and fiv"
expect_usage "--rule out of range" translate --rule 1000000
"$ATTN" translate "one" --model missing.ckpt >/dev/null 2>stderr.txt
st=$?
if [ "$st" -eq 1 ] && grep -q '^attn: error: .*missing.ckpt' stderr.txt; then ok "translate with a missing model: exit 1"; else bad "missing model: status $st, $(cat stderr.txt)"; fi

# ---- explain --picture ------------------------------------------------------------
if "$ATTN" explain --picture explain.png >out.txt 2>err.txt && grep -q '^wrote explain.png' out.txt &&
    head -c 8 explain.png | od -An -c | grep -q 'P   N   G'; then ok "explain --picture writes a PNG"
else bad "explain --picture: $(cat err.txt)"; fi
expect_usage "explain --picture .jpg" explain --picture e.jpg

# ---- next-vector ---------------------------------------------------------------
# first_last CSV: the first and the last logged training loss
first_last() { awk -F, 'NR == 2 { f = $2 } END { print f, $2 }' "$1"; }
# falls CSV FACTOR: the last loss is at least FACTOR times below the first
falls() { first_last "$1" | awk -v k="$2" '{ exit !($2 * k < $1) }'; }

if "$ATTN" train next-vector --steps 1500 --quiet --loss-csv nv.csv --report nv.json >nv.txt 2>err.txt; then
    if falls nv.csv 10; then ok "next-vector: loss falls 10-fold in 1500 steps ($(first_last nv.csv))"
    else bad "next-vector: loss did not fall 10-fold: $(first_last nv.csv)"; fi
    if python3 - nv.json <<'EOF'; then ok "next-vector: report JSON has the keys, model < 10% of the best baseline"; else bad "next-vector report: $(cat nv.json)"; fi
import json, sys
r = json.load(open(sys.argv[1]))
assert set(r) == {"task", "metric", "value", "baselines", "steps", "seconds", "seed"}, r.keys()
assert r["task"] == "next-vector" and r["metric"] == "test_mse" and r["steps"] == 1500 and r["seed"] == 1
assert set(r["baselines"]) == {"train_mean", "input_average", "linear_regression"}
best = min(r["baselines"].values())
assert r["value"] < 0.1 * best, (r["value"], best)
assert r["seconds"] > 0
EOF
    if head -1 nv.csv | grep -qx 'step,train_loss,test_mse'; then ok "next-vector: loss CSV header"; else bad "loss CSV header: $(head -1 nv.csv)"; fi
else
    bad "next-vector run failed: $(cat err.txt)"
fi

# same_tensors A B: the safetensors data (after the header) are identical
same_tensors() {
    python3 - "$1" "$2" <<'EOF'
import struct, sys
def data(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return b[8 + n:]
sys.exit(0 if data(sys.argv[1]) == data(sys.argv[2]) else 1)
EOF
}
# resume_check NAME N ARGS...: 2N steps vs N (--stop-at, as if interrupted) + resume to 2N
resume_check() {
    local name=$1 n=$2
    shift 2
    "$ATTN" train "$@" --steps $((2 * n)) --quiet --save full.ckpt --report full.json >full.txt 2>err.txt &&
        "$ATTN" train "$@" --steps $((2 * n)) --stop-at "$n" --quiet --save half.ckpt >half.txt 2>>err.txt &&
        "$ATTN" train "$@" --steps $((2 * n)) --quiet --resume half.ckpt --save resumed.ckpt --report resumed.json \
            >resumed.txt 2>>err.txt
    if [ $? -ne 0 ]; then
        bad "$name: save/resume run failed: $(cat err.txt)"
        return
    fi
    local a b
    a=$(grep 'final training loss' full.txt)
    b=$(grep 'final training loss' resumed.txt)
    if [ -n "$a" ] && [ "$a" = "$b" ] && same_tensors full.ckpt resumed.ckpt &&
        python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); sys.exit(a["value"]!=b["value"])' \
            full.json resumed.json; then
        ok "$name: $n + resume $n = $((2 * n)) steps bit for bit ($a)"
    else
        bad "$name: resumed run differs: '$a' vs '$b'"
    fi
}
resume_check "next-vector" 100 next-vector
"$ATTN" train next-vector --steps 200 --quiet --resume half.ckpt --seed 2 >/dev/null 2>stderr.txt
if [ $? -eq 1 ] && grep -q 'seed' stderr.txt; then ok "resume with another seed is refused"; else bad "resume with another seed: $(cat stderr.txt)"; fi
"$ATTN" train next-vector --steps 200 --quiet --resume half.ckpt --length 6 >/dev/null 2>stderr.txt
if [ $? -eq 1 ] && grep -q 'trained as' stderr.txt; then ok "resume with another configuration is refused"; else bad "resume with another config: $(cat stderr.txt)"; fi

# ---- translate -------------------------------------------------------------------
TINY=(--d-model 32 --heads 2 --d-ff 64 --layers 1 --batch 16 --warmup 20 --lr 5e-3 --test 20)
if "$ATTN" train translate "${TINY[@]}" --steps 150 --quiet --save tr.ckpt --loss-csv tr.csv --report tr.json \
    >tr.txt 2>err.txt; then
    if falls tr.csv 3; then ok "translate: loss falls 3-fold in 150 steps ($(first_last tr.csv))"
    else bad "translate: loss did not fall 3-fold: $(first_last tr.csv)"; fi
    if python3 - tr.json <<'EOF'; then ok "translate: report JSON has the keys"; else bad "translate report: $(cat tr.json)"; fi
import json, sys
r = json.load(open(sys.argv[1]))
assert set(r) == {"task", "metric", "value", "baselines", "steps", "seconds", "seed"}, r.keys()
assert r["task"] == "translate" and r["metric"] == "test_exact_match" and 0 <= r["value"] <= 1
assert r["steps"] == 150 and isinstance(r["baselines"], dict)
EOF
    if [ -s tr.attention.png ] && head -c 8 tr.attention.png | od -An -c | grep -q 'P   N   G'; then
        ok "translate: the cross-attention picture beside the checkpoint"
    else bad "translate: no tr.attention.png"; fi
    if "$ATTN" translate "four thousand and five" --model tr.ckpt --picture four.png >out.txt 2>err.txt &&
        grep -q 'rule: 四千零五 (4005)' out.txt && [ -s four.png ]; then
        ok "attn translate loads the checkpoint: four thousand and five -> $(grep -v '^wrote\|^rule' out.txt)"
    else bad "attn translate: $(cat out.txt err.txt)"; fi
else
    bad "translate run failed: $(cat err.txt)"
fi
resume_check "translate" 30 translate "${TINY[@]}"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
