#!/bin/bash
# lib_cli.sh - what the tool's shell tests share.  Sourced, never run:
#
#   source "$(dirname "$0")/lib_cli.sh" "$1"    # $1: path to the attn binary
#   ...  ok "what passed"  /  bad "what failed, and why"  ...
#   finish                                      # "N passed, N failed"; exit status
#
# Sets ATTN (absolute path of the tool), HERE (the tests folder) and moves into
# a fresh temporary directory that is removed on exit.
set -u
ATTN=${1:?usage: bash $(basename "$0") PATH_TO_attn}
ATTN=$(cd "$(dirname "$ATTN")" && pwd)/$(basename "$ATTN") # the test runs in a temporary directory
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}
