#!/usr/bin/env bash
# cli_bench.sh ATTN - `attn bench` on small shapes: JSON fields, every op, errors.
set -u
ATTN=$1
fail=0
check() { if eval "$2"; then :; else echo "FAIL: $1"; fail=1; fi; }
for op in fwd bwd decode; do
  out=$("$ATTN" bench --op $op --shape 1,2,40,1100,16 --threads 2 --rounds 3 --json 2>&1)
  check "$op exits 0 ($out)" '[ $? -eq 0 ]'
  for f in op B H Lq Lk D causal threads kernel median_ms gflops peak_gflops pct_peak pct_peak_paired max_err; do
    check "$op json has $f" 'echo "$out" | grep -q "\"$f\":"'
  done
done
# GQA/MQA: each op, and both decode paths (group x queries below 8, and 8 or more)
for c in "fwd 1,4,40,300,16 2" "bwd 1,4,40,300,16 1" "decode 1,4,2,1100,16 2" "decode 1,4,8,1100,16 1"; do
  set -- $c
  kv=$3
  out=$("$ATTN" bench --op $1 --shape $2 --kv-heads $kv --threads 2 --rounds 3 --json 2>&1)
  check "$1 $2 --kv-heads $kv exits 0 ($out)" '[ $? -eq 0 ]'
  check "$1 --kv-heads $kv json has Hkv" 'echo "$out" | grep -q "\"Hkv\":$kv"'
done
# f16 and bf16 key/value caches: forward, both decode paths, backward (on f32 copies)
for dt in f16 bf16; do
  for c in "fwd 1,2,40,300,16" "decode 1,2,2,1100,16" "decode 1,2,8,1100,16" "bwd 1,2,40,300,16"; do
    set -- $c
    out=$("$ATTN" bench --op $1 --shape $2 --kv-dtype $dt --threads 2 --rounds 3 --json 2>&1)
    check "$1 $2 --kv-dtype $dt exits 0 ($out)" '[ $? -eq 0 ]'
    check "$1 --kv-dtype $dt json says so" 'echo "$out" | grep -q "\"kv_dtype\":\"$dt\""'
    err=$(echo "$out" | sed -n 's/.*"max_err":\([^,}]*\).*/\1/p')
    check "$1 --kv-dtype $dt agrees with the reference (max_err $err)" 'awk -v e="$err" "BEGIN { exit !(e != \"\" && e + 0 < 1e-5) }"'
  done
done
out=$("$ATTN" bench --memory --kv-dtype f16 2>&1)
check "--memory --kv-dtype f16 exits 2 ($out)" '[ $? -eq 2 ]'
check "--memory --kv-dtype f16 says why ($out)" 'echo "$out" | grep -q "kv-dtype f16 needs --shape"'
out=$("$ATTN" bench --op fwd --shape 1,2,40,300,16 --kv-dtype f8 2>&1)
check "bad kv-dtype exits 2 ($out)" '[ $? -eq 2 ] && echo "$out" | grep -q "f8.*f32, f16 or bf16"'
out=$("$ATTN" bench --op fwd --shape 1,4,8,8,8 --kv-heads 3 2>&1)
check "kv-heads not dividing H exits 2" '[ $? -eq 2 ]'
check "kv-heads error names both values ($out)" 'echo "$out" | grep -q "kv-heads is 3.*4 query heads"'
"$ATTN" bench --kv-heads 2 >/dev/null 2>&1; check "kv-heads without shape exits 2" '[ $? -eq 2 ]'
out=$("$ATTN" bench --op fwd --shape 1,1,33,33,8 --causal --kernel scalar --rounds 2 2>&1)
check "text mode names the kernel ($out)" 'echo "$out" | grep -q "kernel=scalar"'
"$ATTN" bench --op nope >/dev/null 2>&1; check "bad op exits 2" '[ $? -eq 2 ]'
"$ATTN" bench --shape 1,2,3 >/dev/null 2>&1; check "bad shape exits 2" '[ $? -eq 2 ]'
"$ATTN" bench --kernel avx9 >/dev/null 2>&1; check "bad kernel exits 2" '[ $? -eq 2 ]'
[ $fail -eq 0 ] && echo "cli_bench: ok"
exit $fail
