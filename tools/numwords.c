/*
 * numwords.c - numbers as English words and Chinese numerals (see numwords.h
 * for the rules).
 */
#include "numwords.h"

#include <stdio.h>
#include <string.h>

static const char *const ones[20] = {"zero",    "one",     "two",       "three",    "four",
                                     "five",    "six",     "seven",     "eight",    "nine",
                                     "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                     "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const tens[10] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};

typedef struct out {
    char *buf;
    size_t size, len;
    int bad;
} out;

static void put(out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->bad || o->len + n + 1 > o->size) {
        o->bad = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n + 1);
    o->len += n;
}

static void english_below_100(out *o, int n)
{
    if (n < 20) {
        put(o, ones[n]);
        return;
    }
    put(o, tens[n / 10]);
    if (n % 10) {
        put(o, "-");
        put(o, ones[n % 10]);
    }
}

/* 1..999 */
static void english_below_1000(out *o, int n)
{
    if (n >= 100) {
        put(o, ones[n / 100]);
        put(o, " hundred");
        if (n % 100) {
            put(o, " and ");
            english_below_100(o, n % 100);
        }
    } else {
        english_below_100(o, n);
    }
}

static int finish(out *o)
{
    if (o->bad) {
        if (o->size)
            o->buf[0] = 0;
        return -1;
    }
    return (int)o->len;
}

int numwords_english(int n, char *buf, size_t size)
{
    out o = {buf, size, 0, size == 0};
    if (size)
        buf[0] = 0;
    if (n < 0 || n > NUMWORDS_MAX)
        o.bad = 1;
    else if (n == 0)
        put(&o, ones[0]);
    else {
        int th = n / 1000, r = n % 1000;
        if (th) {
            english_below_1000(&o, th);
            put(&o, " thousand");
            if (r)
                put(&o, r < 100 ? " and " : " ");
        }
        if (r)
            english_below_1000(&o, r);
    }
    return finish(&o);
}

static const char *const digit_zh[10] = {"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"};
static const char *const unit_zh[4] = {"", "十", "百", "千"};

/* A group 1..9999: non-zero digits with their units, one 零 per run of
 * zeros between non-zero digits, trailing zeros silent. */
static void chinese_group(out *o, int n)
{
    int d[4] = {n % 10, n / 10 % 10, n / 100 % 10, n / 1000}, started = 0, zero = 0;
    for (int k = 3; k >= 0; k--) {
        if (d[k] == 0) {
            zero = started;
            continue;
        }
        if (zero)
            put(o, digit_zh[0]);
        zero = 0, started = 1;
        put(o, digit_zh[d[k]]);
        put(o, unit_zh[k]);
    }
}

int numwords_chinese(int n, char *buf, size_t size)
{
    out o = {buf, size, 0, size == 0};
    if (size)
        buf[0] = 0;
    if (n < 0 || n > NUMWORDS_MAX)
        o.bad = 1;
    else if (n == 0)
        put(&o, digit_zh[0]);
    else {
        int w = n / 10000, r = n % 10000;
        if (w) {
            chinese_group(&o, w);
            put(&o, "万");
            if (r && r < 1000)
                put(&o, digit_zh[0]);
        }
        if (r)
            chinese_group(&o, r);
        /* a leading 一十 is said 十 */
        static const char yishi[] = "一十";
        if (!o.bad && strncmp(buf, yishi, sizeof yishi - 1) == 0) {
            size_t skip = strlen("一");
            memmove(buf, buf + skip, o.len - skip + 1);
            o.len -= skip;
        }
    }
    return finish(&o);
}
