#!/usr/bin/env bash
# run.sh BUILD_DIR - the NumPy cross-checks, with the project's .venv.
set -uo pipefail
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
py=.venv/bin/python
if [ ! -x "$py" ] || ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "python cross-checks: skipped (numpy not installed in .venv)"
  exit 0
fi
pass=0 fail=0 skip=0
for t in tests/*_crosscheck.py; do
  [ -e "$t" ] || continue
  # tests/NAME_crosscheck.py checks the C test binary BUILD/test_NAME (or the
  # library beside it); exit 77 means skipped (a Python package is missing)
  name=$(basename "$t" _crosscheck.py)
  "$py" "$t" "$build/test_$name"
  rc=$?
  if [ "$rc" -eq 0 ]; then pass=$((pass+1)); elif [ "$rc" -eq 77 ]; then skip=$((skip+1)); else echo "FAIL: $t"; fail=$((fail+1)); fi
done
echo "python cross-checks: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
