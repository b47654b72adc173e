#!/bin/bash
# cli_viz.sh - `attn viz` and `attn viz-loss`: valid PNG (signature, IHDR) and
# SVG (parsed as XML) of the size the tool reports, the same size in both
# formats, labels (Latin and Chinese) present as SVG text, heads drawn as a
# grid with their average, and every error: the right exit status, one line
# "attn: error: ..." naming the problem, and no picture and no temporary file
# left behind.  Inputs are written by tests/cli_viz.py (no NumPy needed).
#
# usage: bash tests/cli_viz.sh PATH_TO_attn
source "$(dirname "$0")/lib_cli.sh" "$@"
PY="python3 $HERE/cli_viz.py"

# leftovers: pictures and temporaries (NAME.tmp.XXXXXX, or hidden files) in the directory
leftovers() { ls -A | grep -E '\.(png|svg)$|^\.|\.tmp\.' | grep -v -x -E "${KEEP:-^$}"; }

# expect_fail NAME STATUS PATTERN ARGS... : attn exits with STATUS, prints
# exactly one line on stderr starting "attn: error:" and matching PATTERN
# (grep -E), nothing on stdout, and leaves no picture or temporary.
expect_fail() {
    local name=$1 want=$2 pattern=$3
    shift 3
    "$ATTN" "$@" >stdout.txt 2>stderr.txt
    local got=$?
    local lines
    lines=$(wc -l <stderr.txt)
    if [ "$got" -ne "$want" ]; then
        bad "$name: exit status $got, expected $want ($(head -c 300 stderr.txt))"
    elif [ "$lines" -ne 1 ] || ! grep -q '^attn: error: ' stderr.txt; then
        bad "$name: expected one 'attn: error:' line, got: $(head -c 300 stderr.txt)"
    elif ! grep -q -E -- "$pattern" stderr.txt; then
        bad "$name: message does not match '$pattern': $(cat stderr.txt)"
    elif [ -s stdout.txt ]; then
        bad "$name: printed on stdout: $(head -c 200 stdout.txt)"
    elif [ -n "$(leftovers)" ]; then
        bad "$name: left files behind: $(leftovers | tr '\n' ' ')"
    else
        ok "$name (exit $got: $(cut -c 14-100 stderr.txt))"
    fi
    rm -f stdout.txt stderr.txt
}

# png_size FILE / svg_size FILE [TEXT...]: "W H", or empty on failure (the
# reason on stderr)
png_size() { $PY png "$1"; }
svg_size() { $PY svg "$@"; }

# reported FILE: the "W H" attn printed in "wrote FILE (W x H pixels)"
reported() { sed -n "s/^wrote $1 (\([0-9]*\) x \([0-9]*\) pixels)\$/\1 \2/p" out.txt; }

$PY npy w66.npy 6,6 || exit 1
$PY npy w245.npy 2,4,5 || exit 1
$PY npy w1245.npy 1,2,4,5 f8 || exit 1
$PY npy w3245.npy 3,2,4,5 || exit 1
$PY npy w57.npy 5,7 || exit 1

# --- help -------------------------------------------------------------------
if "$ATTN" viz --help >out.txt 2>err.txt && grep -q '^usage: attn viz W.npy' out.txt && [ ! -s err.txt ]; then
    ok "viz --help"
else
    bad "viz --help: $(head -c 200 out.txt err.txt)"
fi
if "$ATTN" viz-loss --help >out.txt 2>err.txt && grep -q '^usage: attn viz-loss LOSSES.csv' out.txt; then
    ok "viz-loss --help"
else
    bad "viz-loss --help: $(head -c 200 out.txt err.txt)"
fi

# --- one heatmap: PNG and SVG ------------------------------------------------
ROWS="I,saw,the,cat,on,mat"
if "$ATTN" viz w66.npy --rows "$ROWS" --cols "$ROWS" --values --title "one head" -o heat.png >out.txt 2>err.txt; then
    size=$(png_size heat.png)
    rep=$(reported heat.png)
    if [ -n "$size" ] && [ "$size" = "$rep" ]; then
        ok "viz PNG: valid, IHDR $size = reported size"
        read -r w h <<<"$size"
        # 6 cells of at least 36 px (values shown) plus labels, colour bar and margins
        if [ "$w" -ge 250 ] && [ "$w" -le 600 ] && [ "$h" -ge 230 ] && [ "$h" -le 600 ]; then
            ok "viz PNG: size $w x $h is plausible for 6 x 6 cells with values"
        else
            bad "viz PNG: size $w x $h is implausible for 6 x 6 cells"
        fi
    else
        bad "viz PNG: IHDR '$size', reported '$rep' ($(cat err.txt))"
    fi
else
    bad "viz PNG: $(cat err.txt)"
fi
png_wh=$(png_size heat.png 2>/dev/null)
if "$ATTN" viz w66.npy --rows "$ROWS" --cols "$ROWS" --values --title "one head" -o heat.svg >out.txt 2>err.txt; then
    size=$(svg_size heat.svg I saw cat mat "one head" 0.54 2>&1)
    if [ "$size" = "$png_wh" ] && [ "$size" = "$(reported heat.svg)" ]; then
        ok "viz SVG: valid XML, width/height $size = the PNG's, labels, title and values are text"
    else
        bad "viz SVG: '$size', expected '$png_wh'"
    fi
    if grep -q '<title>one head</title>' heat.svg; then ok "viz SVG: <title>"; else bad "viz SVG: no <title>"; fi
else
    bad "viz SVG: $(cat err.txt)"
fi

# --width scales to exactly that width, in both formats
if "$ATTN" viz w66.npy --width 800 -o wide.png >out.txt 2>&1 && "$ATTN" viz w66.npy --width 800 -o wide.svg >>out.txt 2>&1; then
    p=$(png_size wide.png)
    s=$(svg_size wide.svg 2>&1)
    if [ "${p%% *}" = 800 ] && [ "$p" = "$s" ]; then ok "--width 800: PNG and SVG $p"; else bad "--width 800: PNG '$p' SVG '$s'"; fi
else
    bad "--width 800: $(cat out.txt)"
fi

# labels in any script: Chinese rows, English columns, a Chinese title
if "$ATTN" viz w57.npy --rows 三,百,一,十,二 --cols three,hundred,and,twelve,"<eos>",x,y \
    --title "三百一十二" -o zh.svg >out.txt 2>err.txt; then
    if svg_size zh.svg 三 百 一 十 二 three "<eos>" "三百一十二" >/dev/null 2>err.txt; then
        ok "Chinese labels and title are SVG text (and '<eos>' is escaped)"
    else
        bad "Chinese labels: $(cat err.txt)"
    fi
    if "$ATTN" viz w57.npy --rows 三,百,一,十,二 --cols three,hundred,and,twelve,"<eos>",x,y -o zh.png >out.txt 2>&1 &&
        [ -n "$(png_size zh.png)" ]; then
        ok "Chinese labels: PNG"
    else
        bad "Chinese labels: PNG: $(cat out.txt)"
    fi
else
    bad "Chinese labels: $(cat err.txt)"
fi

# labels from files, one per line (commas allowed), CRLF and a BOM tolerated
printf '\xef\xbb\xbfthe, first\r\nsecond\r\nthird\r\nfourth\r\n' >rows.txt
printf 'k0\nk1\nk,2\nk3\nk4\n' >cols.txt
if "$ATTN" viz w245.npy --head 1 --rows-file rows.txt --cols-file cols.txt -o files.svg >out.txt 2>err.txt &&
    svg_size files.svg "the, first" fourth "k,2" >/dev/null 2>err.txt; then
    ok "--rows-file/--cols-file: labels with commas"
else
    bad "--rows-file/--cols-file: $(cat err.txt)"
fi

# --- heads ------------------------------------------------------------------
if "$ATTN" viz w245.npy -o grid.svg >out.txt 2>err.txt &&
    svg_size grid.svg "head 0" "head 1" "average of 2 heads" >/dev/null 2>err.txt; then
    ok "(H, Lq, Lk): a grid of every head plus the average"
else
    bad "(H, Lq, Lk) grid: $(cat err.txt)"
fi
if "$ATTN" viz w245.npy --head 1 -o one.svg >out.txt 2>&1 && svg_size one.svg "head 1" >/dev/null &&
    ! svg_size one.svg "head 0" >/dev/null 2>&1; then
    ok "--head 1 draws head 1 only"
else
    bad "--head 1: $(cat out.txt)"
fi
if "$ATTN" viz w245.npy --average -o avg.svg >out.txt 2>&1 && svg_size avg.svg "average of 2 heads" >/dev/null &&
    ! svg_size avg.svg "head 0" >/dev/null 2>&1; then
    ok "--average draws the average only"
else
    bad "--average: $(cat out.txt)"
fi
if "$ATTN" viz w1245.npy -o b1.png >out.txt 2>&1 && [ -n "$(png_size b1.png)" ]; then
    ok "(1, H, Lq, Lk) float64"
else
    bad "(1, H, Lq, Lk) float64: $(cat out.txt)"
fi
if "$ATTN" viz w3245.npy --batch 2 -o b3.png >out.txt 2>&1 && [ -n "$(png_size b3.png)" ]; then
    ok "(3, H, Lq, Lk) with --batch 2"
else
    bad "--batch 2: $(cat out.txt)"
fi
printf '0.5,0.5\n0.1,0.9\n' >w.csv
if "$ATTN" viz w.csv -o csv.png >out.txt 2>&1 && [ -n "$(png_size csv.png)" ]; then
    ok "a CSV matrix as W"
else
    bad "a CSV matrix as W: $(cat out.txt)"
fi

# --- loss curves ------------------------------------------------------------
printf 'step,train,test\n0,2.3,2.4\n100,1.5,\n200,0.9,1.2\n# a comment\n\n300,0.5,nan\n400,0.31,0.6\n' >loss.csv
if "$ATTN" viz-loss loss.csv -o loss.png --title "learning" >out.txt 2>err.txt &&
    [ "$(png_size loss.png)" = "$(reported loss.png)" ]; then
    ok "viz-loss PNG: valid, IHDR = reported size $(png_size loss.png)"
else
    bad "viz-loss PNG: $(cat err.txt)"
fi
if "$ATTN" viz-loss loss.csv -o loss.svg --log >out.txt 2>err.txt &&
    svg_size loss.svg train test step >/dev/null 2>err.txt; then
    ok "viz-loss SVG --log: legend names and axis title are text"
else
    bad "viz-loss SVG: $(cat err.txt)"
fi
# --- values near the ends of double: hi - lo overflows, the picture must not ---
# is_png FILE: non-empty and starts with the 8-byte PNG signature
is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }
printf '1e308,-1e308\n0,0.5\n' >huge.csv
if "$ATTN" viz huge.csv -o huge.png >out.txt 2>err.txt && is_png huge.png && [ ! -s err.txt ] &&
    [ "$(png_size huge.png)" = "$(reported huge.png)" ]; then
    ok "1e308 and -1e308: exit 0, a valid PNG ($(png_size huge.png))"
else
    bad "1e308 and -1e308: $(cat err.txt)"
fi
MAXD=1.7976931348623157e308 # DBL_MAX
if "$ATTN" viz huge.csv --values --range -$MAXD,$MAXD -o huge_range.svg >out.txt 2>err.txt &&
    svg_size huge_range.svg 1e+308 -1e+308 0.5 >/dev/null 2>err.txt; then
    ok "--range -DBL_MAX,DBL_MAX with --values: SVG with every value as text"
else
    bad "--range -DBL_MAX,DBL_MAX: $(cat err.txt)"
fi
# three heads holding +-DBL_MAX: their average is +-DBL_MAX too (the sum of v / H must not overflow)
python3 "$HERE/cli_npy.py" write maxheads.npy f8 3,2,2 =$MAXD,-$MAXD,1,2,$MAXD,-$MAXD,3,4,$MAXD,-$MAXD,5,6
if "$ATTN" viz maxheads.npy --average --values -o maxavg.svg >out.txt 2>err.txt &&
    svg_size maxavg.svg "average of 3 heads" 1.8e+308 -1.8e+308 >/dev/null 2>err.txt &&
    ! grep -q '>-\?inf<' maxavg.svg; then
    ok "the average of heads at +-DBL_MAX is +-1.8e+308, not inf"
else
    bad "average of heads at +-DBL_MAX: $(cat err.txt) $(grep -o '>[^<]*inf<' maxavg.svg | head -3)"
fi
# non-finite values keep their colours (nan grey, +-inf the scale's ends) beside huge finite ones
printf 'nan,inf\n-inf,%s\n-%s,0\n' $MAXD $MAXD >nonfinite.csv
if "$ATTN" viz nonfinite.csv --values -o nonfinite.svg >out.txt 2>err.txt &&
    svg_size nonfinite.svg nan inf -inf 1.8e+308 >/dev/null 2>err.txt; then
    ok "nan, inf and -inf beside +-DBL_MAX: drawn, printed as nan, inf, -inf"
else
    bad "nan, inf and -inf beside +-DBL_MAX: $(cat err.txt)"
fi
printf 'step,a\n0,1e308\n1,-1e308\n-%s,0\n' $MAXD >huge_loss.csv
if "$ATTN" viz-loss huge_loss.csv -o huge_loss.png >out.txt 2>err.txt && is_png huge_loss.png &&
    [ "$(png_size huge_loss.png)" = "$(reported huge_loss.png)" ]; then
    ok "viz-loss with steps and losses near +-1e308: a valid PNG"
else
    bad "viz-loss near +-1e308: $(cat err.txt)"
fi

# every picture so far stays; the failures below must add none
KEEP="$(ls -A | grep -E '\.(png|svg)$' | paste -sd'|' -)"

# --- errors: exit status, message, no picture, no temporary -------------------
head -c 100 w66.npy >trunc_header.npy
head -c 150 w66.npy >trunc_data.npy
printf 'not a numpy file at all' >corrupt.npy
expect_fail "corrupt weights file" 1 '^attn: error: corrupt\.npy: .*magic' viz corrupt.npy -o c.png
expect_fail "truncated header" 1 '^attn: error: trunc_header\.npy: ' viz trunc_header.npy -o c.png
expect_fail "truncated data" 1 '^attn: error: trunc_data\.npy: .*(truncat|short|bytes)' viz trunc_data.npy -o c.svg
expect_fail "missing weights file" 1 'nope\.npy' viz nope.npy -o c.png
expect_fail "wrong row label count" 2 '--rows has 3 labels but w66\.npy has 6 rows' viz w66.npy --rows a,b,c -o c.png
expect_fail "wrong column label count" 2 '--cols has 7 labels but w66\.npy has 6 columns' \
    viz w66.npy --cols a,b,c,d,e,f,g -o c.svg
expect_fail "wrong label count from a file" 2 '--rows-file has 4 labels but w66\.npy has 6 rows' \
    viz w66.npy --rows-file rows.txt -o c.png
expect_fail "bad extension" 2 "c\.jpg: unknown picture format '\.jpg'" viz w66.npy -o c.jpg
expect_fail "no extension" 2 'must end in \.png or \.svg' viz w66.npy -o picture
expect_fail "no -o" 2 'no output picture' viz w66.npy
expect_fail "no weights file" 2 'no weights file' viz -o c.png
expect_fail "unknown option" 2 'unknown option --bogus' viz w66.npy -o c.png --bogus
expect_fail "batch > 1 without --batch" 2 'batch of 3.*--batch' viz w3245.npy -o c.png
expect_fail "--batch out of range" 2 '--batch 3 is out of range' viz w3245.npy --batch 3 -o c.png
expect_fail "--head out of range" 2 '--head 2 is out of range.*2 heads' viz w245.npy --head 2 -o c.png
expect_fail "--head with --average" 2 'choose one' viz w245.npy --head 0 --average -o c.png
expect_fail "bad --range" 2 "--range '1,0'" viz w66.npy --range 1,0 -o c.png
expect_fail "bad --width" 2 '--width 5 is out of range' viz w66.npy --width 5 -o c.png
$PY npy r1.npy 5
expect_fail "rank 1 weights" 1 'r1\.npy has shape \(5\)' viz r1.npy -o c.png
expect_fail "output directory missing" 1 'nodir/c\.png: cannot create the temporary' viz w66.npy -o nodir/c.png
mkdir d.png
KEEP0=$KEEP
KEEP="$KEEP|d\.png" # the directory itself
expect_fail "output is a directory (rename fails)" 1 'd\.png: cannot rename' viz w66.npy -o d.png
KEEP=$KEEP0
rmdir d.png
expect_fail "viz-loss: bad extension" 2 "c\.gif: unknown picture format" viz-loss loss.csv -o c.gif
expect_fail "viz-loss: missing file" 1 'nope\.csv: cannot read' viz-loss nope.csv -o c.png
printf 'step,a\n0,1\n1,abc\n' >badnum.csv
expect_fail "viz-loss: not a number" 1 "badnum\.csv line 3, column 2: 'abc' is not a number" viz-loss badnum.csv -o c.png
printf 'step,a,b\n0,1,2\n1,2\n' >ragged.csv
expect_fail "viz-loss: ragged row" 1 'ragged\.csv line 3: 2 fields but the header has 3' viz-loss ragged.csv -o c.svg
printf '0,1\n1,2\n' >noheader.csv
expect_fail "viz-loss: no header" 1 'noheader\.csv line 1: .*header' viz-loss noheader.csv -o c.png
printf 'step,a\n' >empty.csv
expect_fail "viz-loss: no data" 1 'empty\.csv: no data' viz-loss empty.csv -o c.png
printf 'step,a\n0,-1\n1,0\n' >nonpos.csv
expect_fail "viz-loss --log: nothing positive" 1 'no point to draw' viz-loss nonpos.csv --log -o c.png

# a failure leaves an existing picture untouched; a success replaces it
cp heat.png before.png
KEEP="$KEEP|before\.png"
expect_fail "failure keeps the old picture" 1 'corrupt\.npy' viz corrupt.npy -o heat.png
if cmp -s heat.png before.png; then ok "the old heat.png is byte for byte unchanged"; else bad "heat.png changed"; fi
if "$ATTN" viz w57.npy -o heat.png >out.txt 2>&1 && ! cmp -s heat.png before.png && [ -n "$(png_size heat.png)" ] &&
    [ -z "$(ls -A | grep '^\.')" ]; then
    ok "a success replaces the picture and leaves no temporary"
else
    bad "replacing heat.png: $(cat out.txt)"
fi

finish
