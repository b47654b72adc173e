/*
 * numwords.h - numbers 0..999999 as English words and as Chinese numerals,
 * by rule: the data of `attn train translate`.
 *
 * English, British style:
 *   - 0..19 one word; 20..99 "<tens>" or "<tens>-<unit>" ("forty-two");
 *   - 100..999: "<unit> hundred", then " and <0..99 words>" when the rest is
 *     not zero ("one hundred and one", "three hundred and twelve");
 *   - 1000..999999: "<1..999 words> thousand", then the rest r (0..999):
 *     nothing when r = 0, " and <words>" when r < 100 ("one thousand and
 *     five", "ten thousand and one"), else " <words>" ("one thousand two
 *     hundred and three").
 *   So "and" comes before the last part exactly when it is below 100 and a
 *   hundreds or thousands part precedes it.
 * Chinese (formal digits, 二 never 两):
 *   - a group 1..9999 writes each non-zero digit followed by its unit (千,
 *     百, 十, none); a run of zeros between non-zero digits is one 零;
 *     trailing zeros are silent: 101 一百零一, 110 一百一十, 1010 一千零一十;
 *   - n = w * 10000 + r (w 1..99): group(w) 万, then nothing when r = 0,
 *     else 零 when r < 1000, then group(r): 10001 一万零一, 100010 十万零一十;
 *   - a number that starts with 一十 drops the 一: 10 十, 11 十一, 100000 十万,
 *     but 110 一百一十 keeps it inside;
 *   - 0 is 零.
 */
#ifndef ATTN_NUMWORDS_H
#define ATTN_NUMWORDS_H

#include <stddef.h>

enum { NUMWORDS_MAX = 999999 };

/* Write n's English words (ASCII) / Chinese numeral (UTF-8) into buf of
 * `size` bytes (128 is always enough).  Return the length, or -1 when n is
 * outside 0..999999 or buf is too small (buf then holds ""). */
int numwords_english(int n, char *buf, size_t size);
int numwords_chinese(int n, char *buf, size_t size);

#endif
