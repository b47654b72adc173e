/*
 * draw.h - pictures of attention for the attn tool: heatmaps of weight
 * matrices, grids of them (one per head plus their average), and line charts
 * of loss curves.  Drawn with cairo; text set with pango, so labels in any
 * script render (Chinese needs a CJK font such as fonts-wqy-microhei).
 *
 * Output format by the path's extension, case-insensitive: ".png" or ".svg";
 * anything else is refused.  Every file is written atomically: the bytes go
 * to a temporary file beside the target (".NAME.XXXXXX"), which is synced and
 * renamed over the target only when complete, so a failure leaves neither a
 * partial picture nor a temporary.
 *
 * Sizes are in pixels (an SVG's width and height are in px, 1:1 with the
 * PNG's).  A picture's natural size follows from its content (matrix size,
 * label lengths); `width` > 0 scales the whole picture to exactly that width
 * (the height keeps the aspect ratio).
 *
 * In SVG the glyphs are drawn as outlines (so the picture looks the same
 * everywhere), and every text is also written as a transparent <text>
 * element at the same place, so the labels can be searched, selected and read
 * by scripts; the title becomes the SVG's <title>.
 *
 * Every function returns ATTN_OK, or on failure a status (ATTN_ERR_INVALID:
 * bad extension or arguments; ATTN_ERR_IO: the file could not be written;
 * ATTN_ERR_NOMEM; ATTN_ERR_FORMAT: cairo refused to draw) with a message in
 * err (errsize bytes, always NUL-terminated) naming the file and the problem.
 * Strings must be valid UTF-8 (the caller checks; see draw_utf8_valid).
 */
#ifndef ATTN_DRAW_H
#define ATTN_DRAW_H

#include "attn.h"

#include <stddef.h>
#include <stdint.h>

typedef enum draw_format { DRAW_PNG = 1, DRAW_SVG = 2 } draw_format;

/* The format named by path's extension.  On failure err says which extension
 * was found ("heat.jpg: unknown picture format '.jpg'; use .png or .svg") and
 * ATTN_ERR_INVALID is returned.  Reads nothing from disk. */
attn_status draw_format_of(const char *path, draw_format *fmt, char *err, size_t errsize);

/* Nonzero when s is valid UTF-8 (pango draws nothing sensible otherwise). */
int draw_utf8_valid(const char *s);

/* One heatmap: values (rows, cols), row-major, element (i, j) at
 * values[i * cols + j].  Any finite values draw, up to +-DBL_MAX.  NaN is
 * drawn grey, +inf and -inf in the colours of the scale's top and bottom
 * ("nan", "inf", "-inf" when values are printed); none of them moves the
 * automatic scale.  Labels: rows (resp. cols) UTF-8 strings, or
 * NULL for the indices 0..n-1.  Long column labels are rotated. */
typedef struct draw_heatmap {
    const double *values;
    int64_t rows, cols;
    const char *const *row_labels; /* rows entries or NULL */
    const char *const *col_labels; /* cols entries or NULL */
    const char *title;             /* panel title, NULL for none */
} draw_heatmap;

/* How heatmaps are drawn.  Zero-initialised means: colour scale [0, 1] when
 * every finite value lies in it, else [min, max] of the data; no values in
 * the cells; no picture title; natural size. */
typedef struct draw_heatmap_style {
    double vmin, vmax;     /* the colour scale when vmin < vmax; else automatic (above) */
    int show_values;       /* print each value in its cell (cells grow to fit) */
    const char *title;     /* title over the whole picture, NULL for none */
    int width;             /* > 0: scale the picture to this width in pixels */
} draw_heatmap_style;

/* Draw n >= 1 heatmaps as a grid (one when n == 1), with one colour scale
 * shared by all (so panels compare), one colour bar with tick labels on the
 * right, and the style's title on top, into path.  Panels are laid out in
 * ceil(sqrt(n)) columns; each panel has its own labels and title.
 * On success *out_w / *out_h (may be NULL) receive the picture's size. */
attn_status draw_heatmaps(const char *path, const draw_heatmap *maps, int n, const draw_heatmap_style *style,
                          int *out_w, int *out_h, char *err, size_t errsize);

/* One named curve: n points (x[i], y[i]), drawn in order; any finite
 * coordinates draw, up to +-DBL_MAX.  Points whose x or y is not finite (or
 * y <= 0 with a log scale) are skipped, and the line joins the points on
 * either side, so a curve logged every k steps of another is still one
 * line. */
typedef struct draw_series {
    const char *name;
    const double *x, *y;
    int64_t n;
} draw_series;

typedef struct draw_chart {
    const draw_series *series;
    int n;                 /* number of series, >= 1 */
    const char *title;     /* NULL for none */
    const char *xlabel;    /* NULL: "step" */
    const char *ylabel;    /* NULL: "loss" */
    int log_y;             /* logarithmic y axis */
    int width;             /* > 0: scale the picture to this width in pixels */
} draw_chart;

/* A line chart of the chart's series with axes, ticks, tick labels, a grid
 * and a legend, into path.  ATTN_ERR_INVALID when no series has a point that
 * can be drawn.  *out_w / *out_h (may be NULL) receive the size. */
attn_status draw_line_chart(const char *path, const draw_chart *chart, int *out_w, int *out_h, char *err,
                            size_t errsize);

/* Release what cairo, pango and fontconfig keep between pictures (the font
 * list, glyph caches), so that leak checkers see a clean exit.  Call it when
 * no drawing is in progress, typically once before the command returns;
 * later drawings still work (they rebuild the caches).  Cannot fail. */
void draw_release(void);

#endif
