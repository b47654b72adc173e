#!/bin/bash
# cli_run.sh - `attn run`, `attn --help`, `attn --version`: outputs checked
# against an independent pure-Python attention (tests/cli_npy.py), every usage
# error (exit 2) and runtime error (exit 1), and that a failed run leaves no
# output file.
#
# usage: bash tests/cli_run.sh PATH_TO_attn
source "$(dirname "$0")/lib_cli.sh" "$@"
NPY="python3 $HERE/cli_npy.py"

# expect_fail NAME STATUS ARGS... : attn exits with STATUS, says exactly one
# line on stderr starting "attn: error:", and leaves no out*.npy file.
expect_fail() {
    local name=$1 want=$2
    shift 2
    rm -f out*.npy
    "$ATTN" "$@" >stdout.txt 2>stderr.txt
    local got=$?
    local lines
    lines=$(wc -l <stderr.txt)
    if [ "$got" != "$want" ]; then
        bad "$name: exit $got, want $want; stderr: $(cat stderr.txt)"
    elif ! head -n 1 stderr.txt | grep -q '^attn: error: ' || [ "$lines" != 1 ]; then
        bad "$name: stderr is not one 'attn: error:' line: $(cat stderr.txt)"
    elif ls out*.npy >/dev/null 2>&1; then
        bad "$name: left $(ls out*.npy) behind"
    else
        ok "$name (exit $want: $(cat stderr.txt))"
    fi
}

# expect_match NAME RUN_ARGS -- CHECK_ARGS : attn run succeeds and cli_npy.py
# check agrees with its outputs.
expect_match() {
    local name=$1
    shift
    local run=() chk=()
    while [ "$1" != "--" ]; do run+=("$1"); shift; done
    shift
    chk=("$@")
    rm -f out*.npy
    if ! "$ATTN" run "${run[@]}" 2>stderr.txt; then
        bad "$name: attn run failed: $(cat stderr.txt)"
        return
    fi
    if $NPY check "${chk[@]}" >check.txt 2>&1; then
        ok "$name: $(tr '\n' ';' <check.txt)"
    else
        bad "$name: $(tr '\n' ';' <check.txt)"
    fi
}

# Inputs: random normal values, fixed seeds.
$NPY write q2.npy f4 4,8 11
$NPY write k2.npy f4 6,8 12
$NPY write v2.npy f8 6,5 13
$NPY write q4.npy f4 2,4,5,8 21
$NPY write k4.npy f8 2,2,7,8 22
$NPY write v4.npy f4 2,2,7,3 23
$NPY write k1.npy f4 1,7,8 24
$NPY write v1.npy f4 1,7,3 25
$NPY write q3.npy f8 4,5,8 26
$NPY write mb.npy b1 5,7 27
$NPY write mf.npy f4 5,7 28
$NPY write mbq.npy b1 4,6 29
$NPY write w.npy f4 8,8 30
$NPY write kd.npy f4 6,7 31
$NPY write vshort.npy f4 5,5 32
$NPY write q1.npy f4 8 33
$NPY write kh3.npy f4 2,3,7,8 34
$NPY write vh3.npy f4 2,3,7,3 35
$NPY write kf16.npy f2 2,2,7,8 36
$NPY write vf16.npy f2 2,2,7,3 37
printf 'not a npy file\n' >garbage.npy

# -------------------------------------------------------------- results
expect_match "2-D, f32/f64 mix, out + lse + weights" \
    -q q2.npy -k k2.npy -v v2.npy -o out.npy --lse out_l.npy --weights out_w.npy -- \
    --q q2.npy --k k2.npy --v v2.npy --out out.npy --lse out_l.npy --weights out_w.npy
expect_match "GQA (2,4,5,8) with k,v (2,2,7,*), bool mask, causal bottom-right" \
    -q q4.npy -k k4.npy -v v4.npy -o out.npy --lse out_l.npy --weights out_w.npy --mask mb.npy --causal bottom-right -- \
    --q q4.npy --k k4.npy --v v4.npy --out out.npy --lse out_l.npy --weights out_w.npy --mask mb.npy --causal bottom-right
expect_match "MQA (4,5,8) with k,v (1,7,*), float mask, --threads 2" \
    -q q3.npy -k k1.npy -v v1.npy -o out.npy --weights out_w.npy --mask mf.npy --threads 2 -- \
    --q q3.npy --k k1.npy --v v1.npy --out out.npy --weights out_w.npy --mask mf.npy
expect_match "causal top-left, --window 1,0, --kernel reference" \
    -q q2.npy -k k2.npy -v v2.npy -o out.npy --lse out_l.npy --causal top-left --window 1,0 --kernel reference -- \
    --q q2.npy --k k2.npy --v v2.npy --out out.npy --lse out_l.npy --causal top-left --window 1,0
expect_match "bool mask (4,6) on 2-D, --window -1,1" \
    -q q2.npy -k k2.npy -v v2.npy -o out.npy --weights out_w.npy --mask mbq.npy --window -1,1 -- \
    --q q2.npy --k k2.npy --v v2.npy --out out.npy --weights out_w.npy --mask mbq.npy --window -1,1
expect_match "--score dot --scale 0.5" \
    -q q2.npy -k k2.npy -v v2.npy -o out.npy --lse out_l.npy --score dot --scale 0.5 -- \
    --q q2.npy --k k2.npy --v v2.npy --out out.npy --lse out_l.npy --score dot --scale 0.5
expect_match "--score cosine" \
    -q q4.npy -k k4.npy -v v4.npy -o out.npy --weights out_w.npy --score cosine -- \
    --q q4.npy --k k4.npy --v v4.npy --out out.npy --weights out_w.npy --score cosine
expect_match "f16 k and v (a half-precision cache), GQA, causal" \
    -q q4.npy -k kf16.npy -v vf16.npy -o out.npy --lse out_l.npy --causal bottom-right -- \
    --q q4.npy --k kf16.npy --v vf16.npy --out out.npy --lse out_l.npy --causal bottom-right
expect_match "--score bilinear --score-w (8,8)" \
    -q q2.npy -k k2.npy -v v2.npy -o out.npy --weights out_w.npy --score bilinear --score-w w.npy -- \
    --q q2.npy --k k2.npy --v v2.npy --out out.npy --weights out_w.npy --score bilinear --score-w w.npy

# Output dtypes and shapes, as a reader sees them.
rm -f out*.npy
"$ATTN" run -q q4.npy -k k4.npy -v v4.npy -o out.npy --lse out_l.npy --weights out_w.npy 2>/dev/null
shapes="$($NPY shape out.npy); $($NPY shape out_l.npy); $($NPY shape out_w.npy)"
if [ "$shapes" = "f4 (2, 4, 5, 3); f4 (2, 4, 5); f4 (2, 4, 5, 7)" ]; then ok "output shapes: $shapes"; else bad "output shapes: $shapes"; fi
rm -f out*.npy
"$ATTN" run -q q2.npy -k k2.npy -v v2.npy -o out.npy --lse out_l.npy 2>/dev/null
shapes="$($NPY shape out.npy); $($NPY shape out_l.npy)"
if [ "$shapes" = "f4 (4, 5); f4 (4)" ]; then ok "2-D output shapes: $shapes"; else bad "2-D output shapes: $shapes"; fi

# -------------------------------------------------------- usage errors: 2
base=(run -q q2.npy -k k2.npy -v v2.npy -o out.npy)
expect_fail "unknown option" 2 "${base[@]}" --frobnicate
expect_fail "unknown short option" 2 "${base[@]}" -x
expect_fail "option without its value" 2 "${base[@]}" --lse
expect_fail "stray argument" 2 "${base[@]}" extra.npy
expect_fail "missing -q" 2 run -k k2.npy -v v2.npy -o out.npy
expect_fail "missing -k" 2 run -q q2.npy -v v2.npy -o out.npy
expect_fail "missing -v" 2 run -q q2.npy -k k2.npy -o out.npy
expect_fail "missing -o" 2 run -q q2.npy -k k2.npy -v v2.npy --lse out_l.npy
expect_fail "--scale abc" 2 "${base[@]}" --scale abc
expect_fail "--scale 1x" 2 "${base[@]}" --scale 1x
expect_fail "--scale inf" 2 "${base[@]}" --scale inf
expect_fail "--scale 0" 2 "${base[@]}" --scale 0
expect_fail "--window 3 (no comma)" 2 "${base[@]}" --window 3
expect_fail "--window a,b" 2 "${base[@]}" --window a,b
expect_fail "--window 1, (no right)" 2 "${base[@]}" --window 1,
expect_fail "--window -2,0" 2 "${base[@]}" --window -2,0
expect_fail "--threads -1" 2 "${base[@]}" --threads -1
expect_fail "--threads 0" 2 "${base[@]}" --threads 0
expect_fail "--threads two" 2 "${base[@]}" --threads two
expect_fail "--causal sideways" 2 "${base[@]}" --causal sideways
expect_fail "--score nope" 2 "${base[@]}" --score nope
expect_fail "--kernel nope" 2 "${base[@]}" --kernel nope
expect_fail "bilinear without --score-w" 2 "${base[@]}" --score bilinear
expect_fail "--score-w without bilinear" 2 "${base[@]}" --score-w w.npy
expect_fail "additive without its matrices" 2 "${base[@]}" --score additive --score-wq w.npy
expect_fail "-o and --lse the same file" 2 "${base[@]}" --lse out.npy
expect_fail "unknown command" 2 frobnicate
expect_fail "no command" 2
expect_fail "option before the command" 2 --frobnicate

# ------------------------------------------------------ runtime errors: 1
expect_fail "missing input file" 1 run -q nothere.npy -k k2.npy -v v2.npy -o out.npy
expect_fail "garbage .npy" 1 run -q garbage.npy -k k2.npy -v v2.npy -o out.npy
expect_fail "q of rank 1" 1 run -q q1.npy -k k2.npy -v v2.npy -o out.npy
expect_fail "k head dim 7, q 8" 1 run -q q2.npy -k kd.npy -v v2.npy -o out.npy --lse out_l.npy
expect_fail "v with 5 keys, k with 6" 1 run -q q2.npy -k k2.npy -v vshort.npy -o out.npy --weights out_w.npy
expect_fail "mask of the wrong shape" 1 run -q q2.npy -k k2.npy -v v2.npy -o out.npy --mask mb.npy
expect_fail "Hq 4 not a multiple of Hkv 3" 1 run -q q4.npy -k kh3.npy -v vh3.npy -o out.npy
expect_fail "missing mask file" 1 "${base[@]}" --mask nothere.npy
expect_fail "-o into a missing directory" 1 run -q q2.npy -k k2.npy -v v2.npy -o nodir/out.npy
expect_fail "second output (--lse) fails: -o removed" 1 "${base[@]}" --lse nodir/out_l.npy
expect_fail "third output (--weights) fails: -o, --lse removed" 1 "${base[@]}" --lse out_l.npy \
    --weights nodir/out_w.npy
# outputs that existed before a failed run keep their old contents
printf 'old output\n' >keep_o.npy
cp keep_o.npy keep_l.npy
"$ATTN" "${base[@]/out.npy/keep_o.npy}" --lse keep_l.npy --weights nodir/out_w.npy 2>/dev/null
st=$?
if [ "$st" = 1 ] && [ "$(cat keep_o.npy)" = "old output" ] && [ "$(cat keep_l.npy)" = "old output" ]; then
    ok "a failed run leaves existing outputs untouched"
else
    bad "a failed run changed existing outputs (exit $st): $(head -c 20 keep_o.npy | od -c | head -1)"
fi
rm -f keep_o.npy keep_l.npy
if ls nodir* .*.tmp* *.tmp* *.staged.* >/dev/null 2>&1; then bad "temporary files left: $(ls -a)"; else ok "no temporary files left"; fi

# Outputs get the permissions of any new file (0666 & ~umask), and an
# existing output keeps its own, not those of the staging file (0600).
rm -f out*.npy
printf 'old\n' >out_l.npy
chmod 640 out_l.npy
(umask 022 && "$ATTN" "${base[@]}" --lse out_l.npy 2>stderr.txt)
modes="$(stat -c %a out.npy) $(stat -c %a out_l.npy)"
if [ "$modes" = "644 640" ]; then ok "output permissions (new 644, existing 640): $modes"
else bad "output permissions: new and existing are $modes, want 644 640: $(cat stderr.txt)"; fi
rm -f out*.npy

# ------------------------------------------------------- help and version
want="attn 0.1.0 (library 0.1.0)"
got=$("$ATTN" --version)
if [ $? = 0 ] && [ "$got" = "$want" ]; then ok "--version: $got"; else bad "--version: '$got', want '$want'"; fi
help=$("$ATTN" --help)
st=$?
missing=""
for c in explain run bench; do printf '%s\n' "$help" | grep -q "^  $c " || missing="$missing $c"; done
if [ $st = 0 ] && [ -z "$missing" ]; then ok "--help lists explain, run, bench"; else bad "--help: exit $st, missing:$missing"; fi
help=$("$ATTN" run --help)
st=$?
missing=""
for o in -q -k -v -o --weights --lse --scale --causal --mask --window --score --score-w --score-wq --score-wk \
    --score-v --threads --kernel --help top-left bottom-right; do
    printf '%s\n' "$help" | grep -q -- "$o" || missing="$missing $o"
done
if [ $st = 0 ] && [ -z "$missing" ]; then ok "run --help names every option"; else bad "run --help: exit $st, missing:$missing"; fi
if "$ATTN" help run | cmp -s - <(printf '%s\n' "$help"); then ok "'attn help run' = 'attn run --help'"; else bad "'attn help run' differs"; fi

finish
