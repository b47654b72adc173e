/*
 * draw.c - heatmaps, grids of heatmaps and line charts with cairo and pango
 * (see draw.h).
 *
 * Every picture is drawn twice over the same code: once on a 1x1 scratch
 * surface to measure the texts and lay the picture out, then on the real
 * surface of the computed size.  Lengths are in pixels of the natural size;
 * a requested width becomes a cairo_scale of the whole drawing.
 */
#define _POSIX_C_SOURCE 200809L

#include "draw.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <pango/pangocairo.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DRAW_PI 3.14159265358979323846
/* Largest picture side in pixels; cairo's image surfaces stop at 32767. */
#define DRAW_MAX_SIDE 16384

static void set_err(char *err, size_t errsize, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_err(char *err, size_t errsize, const char *fmt, ...)
{
    if (!err || errsize == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

attn_status draw_format_of(const char *path, draw_format *fmt, char *err, size_t errsize)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot && strcasecmp(dot, ".png") == 0) {
        *fmt = DRAW_PNG;
        return ATTN_OK;
    }
    if (dot && strcasecmp(dot, ".svg") == 0) {
        *fmt = DRAW_SVG;
        return ATTN_OK;
    }
    if (dot && dot != base)
        set_err(err, errsize, "%s: unknown picture format '%s'; the name must end in .png or .svg", path, dot);
    else
        set_err(err, errsize, "%s: no picture format: the name must end in .png or .svg", path);
    return ATTN_ERR_INVALID;
}

int draw_utf8_valid(const char *s)
{
    return g_utf8_validate(s, -1, NULL) ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * Colours
 * ------------------------------------------------------------------------ */

typedef struct rgb {
    double r, g, b;
} rgb;

/* A perceptually uniform dark-to-light scale (the viridis colour values,
 * sampled every tenth), interpolated linearly. */
static const unsigned char SCALE[11][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x24, 0x75}, {0x41, 0x44, 0x87}, {0x35, 0x5f, 0x8d},
    {0x2a, 0x78, 0x8e}, {0x21, 0x91, 0x8c}, {0x22, 0xa8, 0x84}, {0x44, 0xbf, 0x70},
    {0x7a, 0xd1, 0x51}, {0xbd, 0xdf, 0x26}, {0xfd, 0xe7, 0x25},
};

/* Colour of t in [0, 1] (clamped). */
static rgb scale_colour(double t)
{
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double pos = t * 10;
    int i = (int)pos;
    if (i >= 10)
        i = 9;
    double f = pos - i;
    rgb c;
    c.r = ((1 - f) * SCALE[i][0] + f * SCALE[i + 1][0]) / 255.0;
    c.g = ((1 - f) * SCALE[i][1] + f * SCALE[i + 1][1]) / 255.0;
    c.b = ((1 - f) * SCALE[i][2] + f * SCALE[i + 1][2]) / 255.0;
    return c;
}

static const rgb MISSING = {0.73, 0.73, 0.73};
static const rgb INK = {0.13, 0.13, 0.13};
static const rgb SOFT = {0.35, 0.35, 0.35};
static const rgb GRID = {0.88, 0.88, 0.88};

/* Distinct line colours for up to ten series, then repeating. */
static const unsigned char PALETTE[10][3] = {
    {0x1f, 0x6f, 0xb4}, {0xe6, 0x6b, 0x0e}, {0x2c, 0x9a, 0x3c}, {0xc9, 0x2a, 0x2b}, {0x84, 0x5a, 0xb8},
    {0x8a, 0x55, 0x4a}, {0xd6, 0x6b, 0xb8}, {0x6f, 0x6f, 0x6f}, {0xa8, 0xa8, 0x1f}, {0x17, 0xaf, 0xc2},
};

static rgb palette_colour(int i)
{
    const unsigned char *p = PALETTE[i % 10];
    rgb c = {p[0] / 255.0, p[1] / 255.0, p[2] / 255.0};
    return c;
}

static void set_colour(cairo_t *cr, rgb c)
{
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

/* ------------------------------------------------------------------------
 * Canvas: a cairo context, a pango layout, and for SVG the texts drawn
 * ------------------------------------------------------------------------ */

typedef struct text_item {
    char *text;
    double x, y;     /* baseline start, device pixels */
    double size;     /* font size, device pixels */
    double angle;    /* degrees, clockwise */
} text_item;

typedef struct canvas {
    cairo_surface_t *surface;
    cairo_t *cr;
    PangoLayout *layout;
    PangoFontDescription *font;
    draw_format fmt;
    int record;      /* keep the texts for the SVG text layer */
    double scale;    /* device pixels per natural pixel */
    text_item *items;
    size_t nitems, cap;
    int oom;
    /* SVG bytes, written by cairo through svg_write */
    unsigned char *svg;
    size_t svg_size, svg_cap;
} canvas;

static cairo_status_t svg_write(void *closure, const unsigned char *data, unsigned int length)
{
    canvas *cv = closure;
    if (cv->svg_size + length > cv->svg_cap) {
        size_t cap = cv->svg_cap ? cv->svg_cap : 65536;
        while (cap < cv->svg_size + length)
            cap *= 2;
        unsigned char *p = realloc(cv->svg, cap);
        if (!p)
            return CAIRO_STATUS_NO_MEMORY;
        cv->svg = p;
        cv->svg_cap = cap;
    }
    memcpy(cv->svg + cv->svg_size, data, length);
    cv->svg_size += length;
    return CAIRO_STATUS_SUCCESS;
}

/* Set up the context and layout on cv->surface.  0 on success. */
static int canvas_setup(canvas *cv)
{
    cv->cr = cairo_create(cv->surface);
    if (cairo_status(cv->cr) != CAIRO_STATUS_SUCCESS)
        return -1;
    cv->layout = pango_cairo_create_layout(cv->cr);
    cv->font = pango_font_description_from_string("Sans");
    if (!cv->layout || !cv->font)
        return -1;
    /* Unhinted metrics, so the layout measured on the scratch surface is the
     * layout drawn, at any scale and on PNG and SVG alike. */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    pango_cairo_context_set_font_options(pango_layout_get_context(cv->layout), fo);
    cairo_font_options_destroy(fo);
    pango_layout_context_changed(cv->layout);
    pango_layout_set_single_paragraph_mode(cv->layout, TRUE);
    cairo_set_line_join(cv->cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cv->cr, CAIRO_LINE_CAP_BUTT);
    return 0;
}

static void canvas_free(canvas *cv)
{
    if (cv->font)
        pango_font_description_free(cv->font);
    if (cv->layout)
        g_object_unref(cv->layout);
    if (cv->cr)
        cairo_destroy(cv->cr);
    if (cv->surface)
        cairo_surface_destroy(cv->surface);
    for (size_t i = 0; i < cv->nitems; i++)
        free(cv->items[i].text);
    free(cv->items);
    free(cv->svg);
    memset(cv, 0, sizeof *cv);
}

/* A scratch canvas for measuring texts.  0 on success. */
static int canvas_measure(canvas *cv)
{
    memset(cv, 0, sizeof *cv);
    cv->scale = 1;
    cv->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    if (cairo_surface_status(cv->surface) != CAIRO_STATUS_SUCCESS)
        return -1;
    return canvas_setup(cv);
}

/* The real canvas, w x h device pixels, drawing at `scale` device pixels per
 * natural pixel, white background.  0 on success. */
static int canvas_open(canvas *cv, draw_format fmt, int w, int h, double scale)
{
    memset(cv, 0, sizeof *cv);
    cv->fmt = fmt;
    cv->scale = scale;
    if (fmt == DRAW_SVG) {
        cv->record = 1;
        cv->surface = cairo_svg_surface_create_for_stream(svg_write, cv, w, h);
        if (cairo_surface_status(cv->surface) != CAIRO_STATUS_SUCCESS)
            return -1;
        cairo_svg_surface_restrict_to_version(cv->surface, CAIRO_SVG_VERSION_1_1);
        cairo_svg_surface_set_document_unit(cv->surface, CAIRO_SVG_UNIT_PX);
    } else {
        cv->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
        if (cairo_surface_status(cv->surface) != CAIRO_STATUS_SUCCESS)
            return -1;
    }
    if (canvas_setup(cv) != 0)
        return -1;
    cairo_set_source_rgb(cv->cr, 1, 1, 1);
    cairo_paint(cv->cr);
    cairo_scale(cv->cr, scale, scale);
    return 0;
}

static void set_font(canvas *cv, double size, int bold)
{
    pango_font_description_set_absolute_size(cv->font, size * PANGO_SCALE);
    pango_font_description_set_weight(cv->font, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(cv->layout, cv->font);
}

/* Width and height of s in the given font (logical extents). */
static void text_size(canvas *cv, const char *s, double size, int bold, double *w, double *h)
{
    set_font(cv, size, bold);
    pango_layout_set_text(cv->layout, s, -1);
    PangoRectangle logical;
    pango_layout_get_extents(cv->layout, NULL, &logical);
    *w = logical.width / (double)PANGO_SCALE;
    *h = logical.height / (double)PANGO_SCALE;
}

static void record_text(canvas *cv, const char *s, double x, double y, double size, double angle)
{
    if (cv->nitems == cv->cap) {
        size_t cap = cv->cap ? 2 * cv->cap : 64;
        text_item *p = realloc(cv->items, cap * sizeof *p);
        if (!p) {
            cv->oom = 1;
            return;
        }
        cv->items = p;
        cv->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy) {
        cv->oom = 1;
        return;
    }
    text_item *it = &cv->items[cv->nitems++];
    it->text = copy;
    it->x = x;
    it->y = y;
    it->size = size;
    it->angle = angle;
}

/* Draw s so that the point (ax, ay) of its box (0,0 = top left, 1,1 =
 * bottom right) lands on (x, y), rotated by angle degrees (negative =
 * counter-clockwise) about that point. */
static void text_draw(canvas *cv, const char *s, double size, int bold, rgb colour, double x, double y, double ax,
                      double ay, double angle)
{
    cairo_t *cr = cv->cr;
    double w, h;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    if (angle != 0)
        cairo_rotate(cr, angle * DRAW_PI / 180);
    text_size(cv, s, size, bold, &w, &h);
    double x0 = -ax * w, y0 = -ay * h;
    cairo_move_to(cr, x0, y0);
    pango_cairo_update_layout(cr, cv->layout);
    set_colour(cr, colour);
    pango_cairo_show_layout(cr, cv->layout);
    if (cv->record) {
        double bx = x0, by = y0 + pango_layout_get_baseline(cv->layout) / (double)PANGO_SCALE;
        cairo_user_to_device(cr, &bx, &by);
        record_text(cv, s, bx, by, size * cv->scale, angle);
    }
    cairo_restore(cr);
}

/* ------------------------------------------------------------------------
 * Writing a file atomically
 * ------------------------------------------------------------------------ */

/* cairo's PNG encoder writes into a growing buffer; the file itself is
 * written in one piece by attn_file_write_atomic. */
static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int length)
{
    g_string_append_len(closure, (const char *)data, (gssize)length);
    return CAIRO_STATUS_SUCCESS;
}

/* Append s to the buffer, escaped for XML text and attribute values. */
static void xml_escaped(GString *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            g_string_append(out, "&amp;");
            break;
        case '<':
            g_string_append(out, "&lt;");
            break;
        case '>':
            g_string_append(out, "&gt;");
            break;
        case '"':
            g_string_append(out, "&quot;");
            break;
        default:
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
                g_string_append_c(out, ' ');
            else
                g_string_append_c(out, *s);
        }
    }
}

/* cairo's SVG with the <title> after the opening <svg> tag and the text
 * layer before the closing one.  NULL when cairo's output lacks either. */
static GString *svg_with_text(const canvas *cv, const char *title)
{
    const char *doc = (const char *)cv->svg;
    size_t n = cv->svg_size;
    const char *open = g_strstr_len(doc, (gssize)n, "<svg");
    const char *open_end = open ? memchr(open, '>', n - (size_t)(open - doc)) : NULL;
    const char *close = g_strrstr_len(doc, (gssize)n, "</svg>");
    if (!open_end || !close || close < open_end)
        return NULL;
    GString *out = g_string_sized_new(n + 256 + cv->nitems * 128);
    g_string_append_len(out, doc, open_end + 1 - doc);
    if (title && *title) {
        g_string_append(out, "\n<title>");
        xml_escaped(out, title);
        g_string_append(out, "</title>");
    }
    g_string_append_len(out, open_end + 1, close - (open_end + 1));
    g_string_append(out, "<g id=\"text\" fill-opacity=\"0\" font-family=\"sans-serif\">\n");
    for (size_t i = 0; i < cv->nitems; i++) {
        const text_item *it = &cv->items[i];
        char num[160];
        snprintf(num, sizeof num, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.2f\"", it->x, it->y, it->size);
        /* %.2f never prints a locale's decimal comma in the C locale the tool runs in */
        g_string_append(out, num);
        if (it->angle != 0) {
            snprintf(num, sizeof num, " transform=\"rotate(%.2f %.2f %.2f)\"", it->angle, it->x, it->y);
            g_string_append(out, num);
        }
        g_string_append_c(out, '>');
        xml_escaped(out, it->text);
        g_string_append(out, "</text>\n");
    }
    g_string_append(out, "</g>\n");
    g_string_append_len(out, close, (gssize)(n - (size_t)(close - doc)));
    return out;
}

/* Finish the drawing on cv and write it to path atomically
 * (attn_file_write_atomic).  On failure path is untouched and no temporary
 * file remains. */
static attn_status canvas_save(canvas *cv, const char *path, const char *title, char *err, size_t errsize)
{
    cairo_status_t cs = cairo_status(cv->cr);
    if (cs == CAIRO_STATUS_SUCCESS)
        cs = cairo_surface_status(cv->surface);
    if (cs == CAIRO_STATUS_SUCCESS && cv->oom)
        cs = CAIRO_STATUS_NO_MEMORY;
    if (cs != CAIRO_STATUS_SUCCESS) {
        set_err(err, errsize, "%s: drawing failed: %s", path, cairo_status_to_string(cs));
        return cs == CAIRO_STATUS_NO_MEMORY ? ATTN_ERR_NOMEM : ATTN_ERR_FORMAT;
    }
    GString *svg = NULL;
    if (cv->fmt == DRAW_SVG) {
        cairo_surface_finish(cv->surface); /* writes the document through svg_write */
        cs = cairo_surface_status(cv->surface);
        if (cs != CAIRO_STATUS_SUCCESS) {
            set_err(err, errsize, "%s: drawing failed: %s", path, cairo_status_to_string(cs));
            return cs == CAIRO_STATUS_NO_MEMORY ? ATTN_ERR_NOMEM : ATTN_ERR_FORMAT;
        }
        svg = svg_with_text(cv, title);
        if (!svg) {
            set_err(err, errsize, "%s: cairo wrote an SVG without <svg> ... </svg>", path);
            return ATTN_ERR_FORMAT;
        }
    }

    GString *png = NULL;
    if (cv->fmt != DRAW_SVG) {
        png = g_string_new(NULL);
        cs = cairo_surface_write_to_png_stream(cv->surface, png_write, png);
        if (cs != CAIRO_STATUS_SUCCESS) {
            g_string_free(png, TRUE);
            set_err(err, errsize, "%s: PNG encoding failed: %s", path, cairo_status_to_string(cs));
            return ATTN_ERR_FORMAT;
        }
    }
    GString *bytes = svg ? svg : png;
    attn_bytes part = {bytes->str, bytes->len};
    attn_status st = attn_file_write_atomic(path, &part, 1);
    g_string_free(bytes, TRUE);
    if (st != ATTN_OK) {
        set_err(err, errsize, "%s", attn_errmsg());
        return st;
    }
    return ATTN_OK;
}

/* The device size for a natural size nw x nh and a requested width (0 =
 * natural); fails when too large. */
static attn_status picture_size(const char *path, double nw, double nh, int width, int *w, int *h, double *scale,
                                char *err, size_t errsize)
{
    double s = width > 0 ? width / nw : 1;
    double dw = width > 0 ? width : ceil(nw), dh = ceil(nh * s);
    if (dw > DRAW_MAX_SIDE || dh > DRAW_MAX_SIDE || dh < 1 || dw < 1) {
        set_err(err, errsize, "%s: the picture would be %.0f x %.0f pixels; the limit is %d on each side", path,
                dw, dh, DRAW_MAX_SIDE);
        return ATTN_ERR_INVALID;
    }
    *w = (int)dw;
    *h = (int)dh;
    *scale = s;
    return ATTN_OK;
}

/* ------------------------------------------------------------------------
 * Ticks and numbers
 * ------------------------------------------------------------------------ */

#define MAX_TICKS 64

/* Scales and axes run over any finite [lo, hi], up to [-DBL_MAX, DBL_MAX],
 * where hi - lo overflows to inf.  These helpers use the direct formula when
 * hi - lo is finite, and halves otherwise: x / 2 is exact for numbers that
 * large (and off by a subnormal's rounding for tiny ones, invisible beside
 * such a span), so nothing overflows. */

/* v clamped to [-DBL_MAX, DBL_MAX]; NaN stays NaN.  Cannot fail. */
static double clamp_finite(double v)
{
    return v > DBL_MAX ? DBL_MAX : v < -DBL_MAX ? -DBL_MAX : v;
}

/* (v - lo) / (hi - lo): where finite v lies on the scale from finite lo to
 * hi > lo, 0 at lo and 1 at hi (beyond them when v is outside).  Never NaN:
 * when v - lo overflows, v is far outside and the result is +-inf. */
static double scale_pos(double v, double lo, double hi)
{
    double span = hi - lo;
    if (isinf(span))
        return (v / 2 - lo / 2) / (hi / 2 - lo / 2);
    return (v - lo) / span;
}

/* (hi - lo) * f for finite lo <= hi and 0 <= f <= 1/2, without overflow. */
static double span_times(double lo, double hi, double f)
{
    double span = hi - lo;
    if (isinf(span))
        return (hi / 2 - lo / 2) * (2 * f);
    return span * f;
}

/* Widen a one-value range [v, v] to a finite lo < hi around v: by 0.5 on
 * each side, or by a quarter of |v| when 0.5 is below v's precision
 * (|v| >= 2^53), clamped to +-DBL_MAX (so v = DBL_MAX is hi itself). */
static void widen_point(double v, double *lo, double *hi)
{
    double pad = v - 0.5 == v ? fabs(v) * 0.25 : 0.5;
    *lo = clamp_finite(v - pad);
    *hi = clamp_finite(v + pad);
}

/* Round numbers (1, 2 or 5 times a power of ten) between finite lo and hi,
 * about `target` of them.  Returns the count; *step receives the spacing.
 * When no round spacing exists (a range of a few subnormals), the ticks are
 * lo and hi themselves. */
static int nice_ticks(double lo, double hi, int target, double *ticks, double *step)
{
    if (!(hi > lo)) {
        ticks[0] = lo;
        *step = 1;
        return 1;
    }
    double raw = span_times(lo, hi, 0.5) / target * 2;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double st = (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
    if (!(st > 0) || isinf(st)) {
        ticks[0] = lo;
        ticks[1] = hi;
        *step = clamp_finite(hi - lo);
        return 2;
    }
    int n = 0;
    for (double k = ceil(lo / st - 1e-9); n < MAX_TICKS; k++) {
        double v = k * st;
        if (isinf(v) || v > hi + st * 1e-9) /* past hi, or past DBL_MAX */
            break;
        if (fabs(v) < st * 1e-9)
            v = 0;
        ticks[n++] = v;
    }
    *step = st;
    return n;
}

/* v as a tick label for ticks `step` apart. */
static void tick_label(double v, double step, char *buf, size_t size)
{
    double a = fabs(v);
    if (v != 0 && (a >= 1e6 || a < 1e-4)) {
        snprintf(buf, size, "%g", v);
        return;
    }
    int dec = step > 0 ? (int)ceil(-log10(step) - 1e-9) : 0;
    if (dec < 0)
        dec = 0;
    if (dec > 8)
        dec = 8;
    snprintf(buf, size, "%.*f", dec, v);
}

/* A value printed in a heatmap cell. */
static void cell_label(double v, int unit_range, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "nan");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else if (unit_range)
        snprintf(buf, size, "%.2f", v);
    else
        snprintf(buf, size, "%.3g", v);
}

/* ------------------------------------------------------------------------
 * Heatmaps
 * ------------------------------------------------------------------------ */

enum { MARGIN = 16, GAP_X = 28, GAP_Y = 22 };
static const double LABEL_SIZE = 12, TICK_SIZE = 11, TITLE_SIZE = 16, PANEL_TITLE_SIZE = 13, VALUE_SIZE = 11;

static const char *map_label(const draw_heatmap *m, int cols, int64_t i, char *buf, size_t size)
{
    const char *const *labels = cols ? m->col_labels : m->row_labels;
    if (labels)
        return labels[i];
    snprintf(buf, size, "%lld", (long long)i);
    return buf;
}

typedef struct hm_layout {
    double vmin, vmax;
    int unit_range;     /* values printed with 2 decimals */
    double cell;
    int rotate_cols;
    double row_w;       /* widest row label */
    double col_ext;     /* col labels' extent above the matrix */
    int64_t row_step, col_step; /* label every row_step-th row */
    double ptitle_h;    /* room for panel titles, 0 if none */
    double title_h;     /* room for the picture title, 0 if none */
    int64_t max_rows, max_cols;
    double panel_w, panel_h;
    int gcols, grows;
    double grid_w, grid_h;
    double bar_x, bar_y, bar_h, bar_w, tick_w;
    double width, height;
} hm_layout;

static attn_status heatmap_layout(canvas *cv, const draw_heatmap *maps, int n, const draw_heatmap_style *st,
                                  hm_layout *L)
{
    memset(L, 0, sizeof *L);
    /* colour scale */
    double lo = INFINITY, hi = -INFINITY;
    for (int p = 0; p < n; p++) {
        int64_t cnt = maps[p].rows * maps[p].cols;
        for (int64_t i = 0; i < cnt; i++) {
            double v = maps[p].values[i];
            if (isfinite(v)) {
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        }
        L->max_rows = maps[p].rows > L->max_rows ? maps[p].rows : L->max_rows;
        L->max_cols = maps[p].cols > L->max_cols ? maps[p].cols : L->max_cols;
    }
    if (st->vmin < st->vmax) {
        L->vmin = st->vmin;
        L->vmax = st->vmax;
    } else if (!(lo <= hi) || (lo >= 0 && hi <= 1)) {
        L->vmin = 0;
        L->vmax = 1;
    } else if (lo == hi) {
        widen_point(lo, &L->vmin, &L->vmax);
    } else {
        L->vmin = lo;
        L->vmax = hi;
    }
    L->unit_range = L->vmin >= -1 && L->vmax <= 1 && (!(lo <= hi) || (lo >= -1 && hi <= 1));

    /* cell size: about 480 pixels for the largest side (whole pixels while
     * cells are 4 or more, for crisp edges), bigger for values */
    int64_t side = L->max_rows > L->max_cols ? L->max_rows : L->max_cols;
    double cell = 480.0 / (double)side;
    cell = cell >= 4 ? floor(cell) : cell < 0.5 ? 0.5 : cell;
    cell = cell > 44 ? 44 : cell;
    double w, h, label_h;
    if (st->show_values) {
        char buf[64];
        double need = 0;
        for (int p = 0; p < n; p++) {
            int64_t cnt = maps[p].rows * maps[p].cols;
            for (int64_t i = 0; i < cnt; i++) {
                cell_label(maps[p].values[i], L->unit_range, buf, sizeof buf);
                text_size(cv, buf, VALUE_SIZE, 0, &w, &h);
                need = w + 8 > need ? w + 8 : need;
            }
        }
        cell = ceil(need) > 36 ? ceil(need) : 36;
    }
    L->cell = cell;

    /* labels */
    text_size(cv, "Ag", LABEL_SIZE, 0, &w, &label_h);
    double col_w = 0;
    for (int p = 0; p < n; p++) {
        char buf[32];
        for (int64_t i = 0; i < maps[p].rows; i++) {
            text_size(cv, map_label(&maps[p], 0, i, buf, sizeof buf), LABEL_SIZE, 0, &w, &h);
            L->row_w = w > L->row_w ? w : L->row_w;
        }
        for (int64_t j = 0; j < maps[p].cols; j++) {
            text_size(cv, map_label(&maps[p], 1, j, buf, sizeof buf), LABEL_SIZE, 0, &w, &h);
            col_w = w > col_w ? w : col_w;
        }
    }
    L->row_step = (int64_t)ceil((label_h + 1) / cell);
    L->rotate_cols = col_w > cell - 4;
    if (L->rotate_cols) {
        L->col_ext = col_w;
        L->col_step = L->row_step;
    } else {
        L->col_ext = label_h;
        L->col_step = 1;
    }

    /* panels */
    double ptitle_w = 0;
    for (int p = 0; p < n; p++)
        if (maps[p].title && *maps[p].title) {
            text_size(cv, maps[p].title, PANEL_TITLE_SIZE, 1, &w, &h);
            L->ptitle_h = h + 6;
            ptitle_w = w > ptitle_w ? w : ptitle_w;
        }
    double mat_w = (double)L->max_cols * cell, mat_h = (double)L->max_rows * cell;
    double left = L->row_w + 6;
    L->panel_w = left + mat_w;
    if (ptitle_w > L->panel_w)
        L->panel_w = ptitle_w;
    L->panel_h = L->ptitle_h + L->col_ext + 6 + mat_h;
    L->gcols = (int)ceil(sqrt((double)n));
    L->grows = (n + L->gcols - 1) / L->gcols;
    L->grid_w = L->gcols * L->panel_w + (L->gcols - 1) * GAP_X;
    L->grid_h = L->grows * L->panel_h + (L->grows - 1) * GAP_Y;

    double title_w = 0;
    if (st->title && *st->title) {
        text_size(cv, st->title, TITLE_SIZE, 1, &title_w, &h);
        L->title_h = h + 10;
    }

    /* colour bar beside the first row of matrices */
    L->bar_w = 14;
    L->bar_x = MARGIN + L->grid_w + 24;
    L->bar_y = MARGIN + L->title_h + L->ptitle_h + L->col_ext + 6;
    L->bar_h = mat_h > 120 ? mat_h : 120;
    double ticks[MAX_TICKS], step;
    int nt = nice_ticks(L->vmin, L->vmax, 5, ticks, &step);
    for (int i = 0; i < nt; i++) {
        char buf[64];
        tick_label(ticks[i], step, buf, sizeof buf);
        text_size(cv, buf, TICK_SIZE, 0, &w, &h);
        L->tick_w = w > L->tick_w ? w : L->tick_w;
    }
    L->width = L->bar_x + L->bar_w + 6 + L->tick_w + MARGIN;
    if (title_w + 2 * MARGIN > L->width)
        L->width = title_w + 2 * MARGIN;
    double bottom = MARGIN + L->title_h + L->grid_h;
    double bar_bottom = L->bar_y + L->bar_h + 8;
    L->height = (bottom > bar_bottom ? bottom : bar_bottom) + MARGIN;
    return ATTN_OK;
}

static rgb value_colour(const hm_layout *L, double v)
{
    if (!isfinite(v))
        return isnan(v) ? MISSING : scale_colour(v > 0 ? 1 : 0);
    return scale_colour(scale_pos(v, L->vmin, L->vmax));
}

/* The cells of one matrix at (x, y): rectangles when there are few, else an
 * image of one pixel per cell scaled up without smoothing. */
static void draw_cells(canvas *cv, const hm_layout *L, const draw_heatmap *m, double x, double y)
{
    cairo_t *cr = cv->cr;
    double c = L->cell;
    if (m->rows * m->cols <= 40000) {
        for (int64_t i = 0; i < m->rows; i++)
            for (int64_t j = 0; j < m->cols; j++) {
                set_colour(cr, value_colour(L, m->values[i * m->cols + j]));
                /* a hair of overlap hides seams between cells when smoothed */
                cairo_rectangle(cr, x + j * c, y + i * c, c + (j + 1 < m->cols ? 0.5 : 0),
                                c + (i + 1 < m->rows ? 0.5 : 0));
                cairo_fill(cr);
            }
        return;
    }
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)m->cols, (int)m->rows);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cv->oom = 1;
        cairo_surface_destroy(img);
        return;
    }
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int64_t i = 0; i < m->rows; i++) {
        uint32_t *row = (uint32_t *)(void *)(data + i * stride);
        for (int64_t j = 0; j < m->cols; j++) {
            rgb k = value_colour(L, m->values[i * m->cols + j]);
            row[j] = ((uint32_t)lround(k.r * 255) << 16) | ((uint32_t)lround(k.g * 255) << 8) |
                     (uint32_t)lround(k.b * 255);
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, c, c);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, (double)m->cols, (double)m->rows);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
}

static void draw_panel(canvas *cv, const hm_layout *L, const draw_heatmap *m, double px, double py, int values)
{
    cairo_t *cr = cv->cr;
    double c = L->cell;
    double mx = px + L->row_w + 6, my = py + L->ptitle_h + L->col_ext + 6;
    double mw = (double)m->cols * c, mh = (double)m->rows * c;
    char buf[64];
    if (m->title && *m->title) {
        double cx = mx + mw / 2, w, h;
        text_size(cv, m->title, PANEL_TITLE_SIZE, 1, &w, &h);
        if (cx - w / 2 < px) /* keep a title wider than its matrix inside the panel */
            cx = px + w / 2;
        text_draw(cv, m->title, PANEL_TITLE_SIZE, 1, INK, cx, py, 0.5, 0, 0);
    }
    draw_cells(cv, L, m, mx, my);
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
    cairo_rectangle(cr, mx - 0.5, my - 0.5, mw + 1, mh + 1);
    cairo_stroke(cr);
    for (int64_t i = 0; i < m->rows; i += L->row_step)
        text_draw(cv, map_label(m, 0, i, buf, sizeof buf), LABEL_SIZE, 0, INK, mx - 5, my + (i + 0.5) * c, 1, 0.5,
                  0);
    for (int64_t j = 0; j < m->cols; j += L->col_step) {
        const char *s = map_label(m, 1, j, buf, sizeof buf);
        if (L->rotate_cols)
            text_draw(cv, s, LABEL_SIZE, 0, INK, mx + (j + 0.5) * c, my - 5, 0, 0.5, -90);
        else
            text_draw(cv, s, LABEL_SIZE, 0, INK, mx + (j + 0.5) * c, my - 5, 0.5, 1, 0);
    }
    if (values) {
        for (int64_t i = 0; i < m->rows; i++)
            for (int64_t j = 0; j < m->cols; j++) {
                double v = m->values[i * m->cols + j];
                rgb k = value_colour(L, v);
                double lum = 0.2126 * k.r + 0.7152 * k.g + 0.0722 * k.b;
                rgb ink = lum > 0.45 ? INK : (rgb){1, 1, 1};
                cell_label(v, L->unit_range, buf, sizeof buf);
                text_draw(cv, buf, VALUE_SIZE, 0, ink, mx + (j + 0.5) * c, my + (i + 0.5) * c, 0.5, 0.5, 0);
            }
    }
}

static void draw_colour_bar(canvas *cv, const hm_layout *L)
{
    cairo_t *cr = cv->cr;
    double x = L->bar_x, y = L->bar_y, w = L->bar_w, h = L->bar_h;
    cairo_pattern_t *grad = cairo_pattern_create_linear(0, y + h, 0, y);
    for (int i = 0; i <= 10; i++) {
        rgb k = scale_colour(i / 10.0);
        cairo_pattern_add_color_stop_rgb(grad, i / 10.0, k.r, k.g, k.b);
    }
    cairo_set_source(cr, grad);
    cairo_rectangle(cr, x, y, w, h);
    cairo_fill(cr);
    cairo_pattern_destroy(grad);
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
    cairo_rectangle(cr, x - 0.5, y - 0.5, w + 1, h + 1);
    cairo_stroke(cr);
    double ticks[MAX_TICKS], step;
    int nt = nice_ticks(L->vmin, L->vmax, 5, ticks, &step);
    for (int i = 0; i < nt; i++) {
        double ty = y + h - scale_pos(ticks[i], L->vmin, L->vmax) * h;
        set_colour(cr, SOFT);
        cairo_move_to(cr, x + w, ty);
        cairo_line_to(cr, x + w + 4, ty);
        cairo_stroke(cr);
        char buf[64];
        tick_label(ticks[i], step, buf, sizeof buf);
        text_draw(cv, buf, TICK_SIZE, 0, INK, x + w + 6, ty, 0, 0.5, 0);
    }
}

attn_status draw_heatmaps(const char *path, const draw_heatmap *maps, int n, const draw_heatmap_style *style,
                          int *out_w, int *out_h, char *err, size_t errsize)
{
    draw_format fmt;
    attn_status st = draw_format_of(path, &fmt, err, errsize);
    if (st != ATTN_OK)
        return st;
    draw_heatmap_style none = {0};
    if (!style)
        style = &none;
    if (!maps || n < 1) {
        set_err(err, errsize, "%s: no heatmap to draw", path);
        return ATTN_ERR_INVALID;
    }
    for (int p = 0; p < n; p++)
        if (maps[p].rows < 1 || maps[p].cols < 1 || !maps[p].values) {
            set_err(err, errsize, "%s: heatmap %d is %lld x %lld; it needs at least one row and one column", path,
                    p, (long long)maps[p].rows, (long long)maps[p].cols);
            return ATTN_ERR_INVALID;
        }

    canvas cv;
    hm_layout L;
    if (canvas_measure(&cv) != 0) {
        canvas_free(&cv);
        set_err(err, errsize, "%s: cannot set up cairo and pango for drawing", path);
        return ATTN_ERR_NOMEM;
    }
    st = heatmap_layout(&cv, maps, n, style, &L);
    canvas_free(&cv);
    if (st != ATTN_OK)
        return st;
    int w, h;
    double scale;
    st = picture_size(path, L.width, L.height, style->width, &w, &h, &scale, err, errsize);
    if (st != ATTN_OK)
        return st;
    if (canvas_open(&cv, fmt, w, h, scale) != 0) {
        canvas_free(&cv);
        set_err(err, errsize, "%s: cannot create a %d x %d picture", path, w, h);
        return ATTN_ERR_NOMEM;
    }
    if (style->title && *style->title)
        text_draw(&cv, style->title, TITLE_SIZE, 1, INK, L.width / 2, MARGIN, 0.5, 0, 0);
    for (int p = 0; p < n; p++) {
        double px = MARGIN + (p % L.gcols) * (L.panel_w + GAP_X);
        double py = MARGIN + L.title_h + (double)(p / L.gcols) * (L.panel_h + GAP_Y);
        draw_panel(&cv, &L, &maps[p], px, py, style->show_values);
    }
    draw_colour_bar(&cv, &L);
    st = canvas_save(&cv, path, style->title, err, errsize);
    canvas_free(&cv);
    if (st == ATTN_OK) {
        if (out_w)
            *out_w = w;
        if (out_h)
            *out_h = h;
    }
    return st;
}

/* ------------------------------------------------------------------------
 * Line charts
 * ------------------------------------------------------------------------ */

enum { PLOT_W = 640, PLOT_H = 400 };

static int point_ok(const draw_chart *c, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!c->log_y || y > 0);
}

/* Superscript digits for 10^k labels. */
static void power_label(int k, char *buf, size_t size)
{
    static const char *const sup[10] = {"\u2070", "\u00b9", "\u00b2", "\u00b3", "\u2074",
                                        "\u2075", "\u2076", "\u2077", "\u2078", "\u2079"};
    if (k >= -3 && k <= 4) {
        snprintf(buf, size, "%g", pow(10, k));
        return;
    }
    char digits[16];
    snprintf(digits, sizeof digits, "%d", k < 0 ? -k : k);
    size_t used = (size_t)snprintf(buf, size, "10%s", k < 0 ? "\u207b" : "");
    for (const char *d = digits; *d && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s", sup[*d - '0']);
}

/* Ticks on a log axis between 10^lo and 10^hi: their values and labels. */
static int log_ticks(double lo, double hi, double *ticks, char labels[][32])
{
    int n = 0;
    double decades = hi - lo;
    if (decades > 2.5) {
        int every = (int)ceil(decades / 8);
        for (int k = (int)ceil(lo - 1e-9); k <= (int)floor(hi + 1e-9) && n < MAX_TICKS; k++)
            if (k % every == 0) {
                ticks[n] = pow(10, k);
                power_label(k, labels[n], 32);
                n++;
            }
        return n;
    }
    /* under three decades: 1, 2, 5 times powers of ten, or every digit if
     * that gives fewer than three ticks */
    static const int sets[2][9] = {{1, 2, 5, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    for (int s = 0; s < 2; s++) {
        n = 0;
        for (int k = (int)floor(lo) - 1; k <= (int)ceil(hi) && n < MAX_TICKS; k++)
            for (int m = 0; m < 9 && sets[s][m]; m++) {
                double v = sets[s][m] * pow(10, k), lv = log10(v);
                if (lv >= lo - 1e-9 && lv <= hi + 1e-9) {
                    ticks[n] = v;
                    snprintf(labels[n], 32, "%g", v);
                    n++;
                }
            }
        if (n >= 3)
            break;
    }
    return n;
}

typedef struct chart_layout {
    double x0, x1, y0, y1;   /* data ranges (y in log10 when log_y) */
    double xt[MAX_TICKS], yt[MAX_TICKS];
    char xl[MAX_TICKS][32], yl[MAX_TICKS][32];
    int nxt, nyt;
    double left, top, plot_w, plot_h;
    double legend_x, swatch, legend_row;
    double width, height, title_h;
} chart_layout;

static double chart_x(const chart_layout *L, double x)
{
    return L->left + scale_pos(x, L->x0, L->x1) * L->plot_w;
}

static double chart_y(const chart_layout *L, const draw_chart *c, double y)
{
    double v = c->log_y ? log10(y) : y;
    return L->top + L->plot_h - scale_pos(v, L->y0, L->y1) * L->plot_h;
}

static attn_status chart_layout_of(canvas *cv, const draw_chart *c, chart_layout *L, const char *path, char *err,
                                   size_t errsize)
{
    memset(L, 0, sizeof *L);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < c->n; s++)
        for (int64_t i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!point_ok(c, x, y))
                continue;
            if (c->log_y)
                y = log10(y);
            xlo = x < xlo ? x : xlo;
            xhi = x > xhi ? x : xhi;
            ylo = y < ylo ? y : ylo;
            yhi = y > yhi ? y : yhi;
        }
    if (!(xlo <= xhi)) {
        set_err(err, errsize, "%s: no point to draw: every value is missing%s", path,
                c->log_y ? ", not finite or not positive (log scale)" : " or not finite");
        return ATTN_ERR_INVALID;
    }
    /* padding stays within [-DBL_MAX, DBL_MAX]: any finite point can be drawn */
    if (xlo == xhi)
        widen_point(xlo, &xlo, &xhi);
    double xpad = span_times(xlo, xhi, 0.02); /* keep the end points off the frame */
    xlo = clamp_finite(xlo - xpad);
    xhi = clamp_finite(xhi + xpad);
    double pad = span_times(ylo, yhi, 0.05), tenth = fabs(ylo) * 0.1;
    if (!(pad > 0))
        pad = c->log_y ? 0.1 : tenth > 0 ? tenth : 0.5;
    ylo = clamp_finite(ylo - pad);
    yhi = clamp_finite(yhi + pad);
    if (!c->log_y && ylo < 0 && ylo + pad >= 0)
        ylo = 0; /* losses are >= 0: do not show a negative axis for the padding */
    L->x0 = xlo;
    L->x1 = xhi;
    L->y0 = ylo;
    L->y1 = yhi;
    double step;
    L->nxt = nice_ticks(xlo, xhi, 7, L->xt, &step);
    for (int i = 0; i < L->nxt; i++)
        tick_label(L->xt[i], step, L->xl[i], 32);
    if (c->log_y) {
        L->nyt = log_ticks(ylo, yhi, L->yt, L->yl);
    } else {
        L->nyt = nice_ticks(ylo, yhi, 6, L->yt, &step);
        for (int i = 0; i < L->nyt; i++)
            tick_label(L->yt[i], step, L->yl[i], 32);
    }

    double w, h, tick_h, ytick_w = 0, label_h;
    text_size(cv, "0", TICK_SIZE, 0, &w, &tick_h);
    for (int i = 0; i < L->nyt; i++) {
        text_size(cv, L->yl[i], TICK_SIZE, 0, &w, &h);
        ytick_w = w > ytick_w ? w : ytick_w;
    }
    text_size(cv, "Ag", LABEL_SIZE, 0, &w, &label_h);
    double title_w = 0;
    if (c->title && *c->title) {
        text_size(cv, c->title, TITLE_SIZE, 1, &title_w, &h);
        L->title_h = h + 10;
    }
    L->left = MARGIN + label_h + 8 + ytick_w + 8;
    L->top = MARGIN + L->title_h + tick_h / 2;
    L->plot_w = PLOT_W;
    L->plot_h = PLOT_H;
    L->swatch = 22;
    L->legend_row = label_h + 4;
    double name_w = 0;
    for (int s = 0; s < c->n; s++) {
        text_size(cv, c->series[s].name ? c->series[s].name : "", LABEL_SIZE, 0, &w, &h);
        name_w = w > name_w ? w : name_w;
    }
    double last_xtick_w = 0;
    if (L->nxt > 0)
        text_size(cv, L->xl[L->nxt - 1], TICK_SIZE, 0, &last_xtick_w, &h);
    L->legend_x = L->left + L->plot_w + 16;
    double right = L->legend_x + L->swatch + 6 + name_w;
    double xtick_right = L->left + L->plot_w + last_xtick_w / 2;
    L->width = (right > xtick_right ? right : xtick_right) + MARGIN;
    if (title_w + 2 * MARGIN > L->width)
        L->width = title_w + 2 * MARGIN;
    double legend_bottom = L->top + c->n * L->legend_row;
    double axis_bottom = L->top + L->plot_h + 6 + tick_h + 6 + label_h;
    L->height = (legend_bottom > axis_bottom ? legend_bottom : axis_bottom) + MARGIN;
    return ATTN_OK;
}

static void draw_chart_body(canvas *cv, const draw_chart *c, const chart_layout *L)
{
    cairo_t *cr = cv->cr;
    double l = L->left, t = L->top, pw = L->plot_w, ph = L->plot_h;
    if (c->title && *c->title)
        text_draw(cv, c->title, TITLE_SIZE, 1, INK, l + pw / 2, MARGIN, 0.5, 0, 0);
    /* grid and ticks */
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < L->nxt; i++) {
        double x = round(chart_x(L, L->xt[i])) + 0.5;
        set_colour(cr, GRID);
        cairo_move_to(cr, x, t);
        cairo_line_to(cr, x, t + ph);
        cairo_stroke(cr);
        set_colour(cr, SOFT);
        cairo_move_to(cr, x, t + ph);
        cairo_line_to(cr, x, t + ph + 4);
        cairo_stroke(cr);
        text_draw(cv, L->xl[i], TICK_SIZE, 0, INK, x, t + ph + 6, 0.5, 0, 0);
    }
    for (int i = 0; i < L->nyt; i++) {
        double y = round(chart_y(L, c, L->yt[i])) + 0.5;
        set_colour(cr, GRID);
        cairo_move_to(cr, l, y);
        cairo_line_to(cr, l + pw, y);
        cairo_stroke(cr);
        set_colour(cr, SOFT);
        cairo_move_to(cr, l - 4, y);
        cairo_line_to(cr, l, y);
        cairo_stroke(cr);
        text_draw(cv, L->yl[i], TICK_SIZE, 0, INK, l - 6, y, 1, 0.5, 0);
    }
    set_colour(cr, SOFT);
    cairo_rectangle(cr, l + 0.5, t + 0.5, pw - 1, ph - 1);
    cairo_stroke(cr);
    /* axis titles */
    double w, tick_h;
    text_size(cv, "0", TICK_SIZE, 0, &w, &tick_h);
    const char *xlabel = c->xlabel ? c->xlabel : "step";
    const char *ylabel = c->ylabel ? c->ylabel : "loss";
    if (c->log_y && !c->ylabel)
        ylabel = "loss (log scale)";
    text_draw(cv, xlabel, LABEL_SIZE, 0, INK, l + pw / 2, t + ph + 6 + tick_h + 6, 0.5, 0, 0);
    text_draw(cv, ylabel, LABEL_SIZE, 0, INK, MARGIN, t + ph / 2, 0.5, 0, -90);

    /* the curves, clipped to the plot */
    cairo_save(cr);
    cairo_rectangle(cr, l, t, pw, ph);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.8);
    for (int s = 0; s < c->n; s++) {
        const draw_series *se = &c->series[s];
        set_colour(cr, palette_colour(s));
        int64_t drawable = 0;
        for (int64_t i = 0; i < se->n; i++)
            drawable += point_ok(c, se->x[i], se->y[i]);
        int pen = 0;
        for (int64_t i = 0; i < se->n; i++) {
            if (!point_ok(c, se->x[i], se->y[i]))
                continue; /* joined over: a curve logged every k steps is one line */
            double x = chart_x(L, se->x[i]), y = chart_y(L, c, se->y[i]);
            if (pen)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            pen = 1;
        }
        cairo_stroke(cr);
        if (drawable <= 40) /* few points: mark them */
            for (int64_t i = 0; i < se->n; i++)
                if (point_ok(c, se->x[i], se->y[i])) {
                    cairo_new_sub_path(cr);
                    cairo_arc(cr, chart_x(L, se->x[i]), chart_y(L, c, se->y[i]), 2.6, 0, 2 * DRAW_PI);
                    cairo_fill(cr);
                }
    }
    cairo_restore(cr);

    /* legend */
    for (int s = 0; s < c->n; s++) {
        double y = t + (s + 0.5) * L->legend_row;
        set_colour(cr, palette_colour(s));
        cairo_set_line_width(cr, 2.5);
        cairo_move_to(cr, L->legend_x, y);
        cairo_line_to(cr, L->legend_x + L->swatch, y);
        cairo_stroke(cr);
        text_draw(cv, c->series[s].name ? c->series[s].name : "", LABEL_SIZE, 0, INK, L->legend_x + L->swatch + 6,
                  y, 0, 0.5, 0);
    }
}

attn_status draw_line_chart(const char *path, const draw_chart *chart, int *out_w, int *out_h, char *err,
                            size_t errsize)
{
    draw_format fmt;
    attn_status st = draw_format_of(path, &fmt, err, errsize);
    if (st != ATTN_OK)
        return st;
    if (!chart || chart->n < 1 || !chart->series) {
        set_err(err, errsize, "%s: no series to draw", path);
        return ATTN_ERR_INVALID;
    }
    chart_layout *L = calloc(1, sizeof *L);
    if (!L) {
        set_err(err, errsize, "%s: out of memory", path);
        return ATTN_ERR_NOMEM;
    }
    canvas cv;
    if (canvas_measure(&cv) != 0) {
        canvas_free(&cv);
        free(L);
        set_err(err, errsize, "%s: cannot set up cairo and pango for drawing", path);
        return ATTN_ERR_NOMEM;
    }
    st = chart_layout_of(&cv, chart, L, path, err, errsize);
    canvas_free(&cv);
    int w = 0, h = 0;
    double scale = 1;
    if (st == ATTN_OK)
        st = picture_size(path, L->width, L->height, chart->width, &w, &h, &scale, err, errsize);
    if (st == ATTN_OK) {
        if (canvas_open(&cv, fmt, w, h, scale) != 0) {
            set_err(err, errsize, "%s: cannot create a %d x %d picture", path, w, h);
            st = ATTN_ERR_NOMEM;
        } else {
            draw_chart_body(&cv, chart, L);
            st = canvas_save(&cv, path, chart->title, err, errsize);
        }
        canvas_free(&cv);
    }
    free(L);
    if (st == ATTN_OK) {
        if (out_w)
            *out_w = w;
        if (out_h)
            *out_h = h;
    }
    return st;
}

void draw_release(void)
{
    /* Drops pango's fonts and fontsets.  cairo's and fontconfig's own static
     * caches stay until exit: their debug resets (cairo_debug_reset_static_data,
     * FcFini) assert when anything is still alive, so the sanitizer runs
     * suppress those libraries' caches instead (tests/lsan.supp). */
    pango_cairo_font_map_set_default(NULL);
}
