/* plot.c: SVG line charts (see plot.h).
 *
 * The chart is laid out once (margins, then axis limits and ticks from the data range),
 * then written element by element into a growing string. Data units map linearly to
 * pixels: px = left + (x - x.lo) / (x.hi - x.lo) * pw, and y the same way flipped (in
 * log10 units with log_y), so the axis limits are the first and last ticks.
 */
#include "atelier/plot.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "file_internal.h"

#define PLOT_MIN_SIDE 100
#define PLOT_MAX_SIDE 16384
#define PLOT_MAX_TICKS 32

/* Okabe & Ito 2008, "Color Universal Design": distinguishable with any colour deficiency.
 * Yellow, the weakest on white, comes last. */
static const char *const plot_colours[8] = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
};

plot_opts plot_defaults(void) {
    return (plot_opts){.width = 720, .height = 360};
}

/* ---- a growing string (an allocation failure is remembered, checked once) ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static bool sb_reserve(sbuf *b, size_t extra) {
    if (b->oom) return false;
    if (b->n + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = true; return false; }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !sb_reserve(b, (size_t)k)) { b->oom = true; return; }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* s as XML character data or attribute text: the five special characters become entities,
 * control characters (not allowed in XML 1.0) spaces; UTF-8 passes through. */
static void sb_escaped(sbuf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        case '\'': sb_printf(b, "&apos;"); break;
        default: sb_printf(b, "%c", c < 0x20 ? ' ' : (char)c);
        }
    }
}

/* ---- axes ---- */

typedef struct axis {
    bool log;                       /* limits and ticks in log10 units */
    double lo, hi;                  /* limits: the first and last tick */
    double step;                    /* linear: the tick spacing */
    double tick[PLOT_MAX_TICKS];
    int nticks;
} axis;

/* The 1, 2 or 5 x 10^k nearest above raw / 1.5 (so about raw). */
static double nice_step(double raw) {
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/* Linear ticks at multiples of a nice step, about `target` intervals, the first <= min and
 * the last >= max, up to a rounding slack (3 * 0.1 > 0.3 in doubles, yet 0.3 is a tick). */
static void axis_linear(axis *ax, double min, double max, int target) {
    if (max - min <= 1e-9 * fmax(fabs(min), fabs(max))) {  /* one value: widen around it */
        double d = min != 0 ? fabs(min) * 0.1 : 1;
        min -= d;
        max += d;
    }
    double step = nice_step((max - min) / target);
    double k0 = floor(min / step), k1 = ceil(max / step), slack = 1e-9 * step;
    while (k0 * step > min + slack) k0--;
    if ((k0 + 1) * step <= min + slack) k0++;
    while (k1 * step < max - slack) k1++;
    if ((k1 - 1) * step >= max - slack) k1--;
    ax->log = false;
    ax->step = step;
    ax->nticks = (int)(k1 - k0) + 1;
    ATELIER_ASSERT(ax->nticks >= 2 && ax->nticks <= PLOT_MAX_TICKS);
    for (int i = 0; i < ax->nticks; i++) ax->tick[i] = (k0 + i) * step;
    ax->lo = ax->tick[0];
    ax->hi = ax->tick[ax->nticks - 1];
}

/* Log ticks (min, max in log10 units): within two decades the 1, 2, 5 x 10^k around the
 * data; beyond, powers of ten every ceil(decades / 6) decades. */
static void axis_log(axis *ax, double min, double max) {
    double lo = floor(min), hi = ceil(max);
    if (hi <= lo) hi = lo + 1;
    ax->log = true;
    ax->nticks = 0;
    if (hi - lo <= 2) {
        const double m[3] = {0, log10(2), log10(5)};
        double cand[3 * 3 + 1];
        int nc = 0;
        for (double k = lo; k < hi; k++)
            for (int j = 0; j < 3; j++) cand[nc++] = k + m[j];
        cand[nc++] = hi;
        int a = 0, z = nc - 1;
        while (a + 1 < nc && cand[a + 1] <= min) a++;
        while (z - 1 >= 0 && cand[z - 1] >= max) z--;
        if (z == a) z = a + 1;
        for (int i = a; i <= z; i++) ax->tick[ax->nticks++] = cand[i];
    } else {
        int sd = (int)ceil((hi - lo) / 6);
        hi = lo + ceil((hi - lo) / sd) * sd;
        for (double t = lo; t <= hi; t += sd) ax->tick[ax->nticks++] = t;
    }
    ax->lo = ax->tick[0];
    ax->hi = ax->tick[ax->nticks - 1];
}

/* A tick's label: as few decimals as the step needs; %g with enough digits beyond 1e7 or
 * below 1e-6; on a log axis m x 10^k as a plain number for k in -4..5, else "me-k". */
static void tick_label(const axis *ax, double t, char *buf, size_t n) {
    if (ax->log) {
        int k = (int)floor(t + 1e-9), m = (int)lround(pow(10, t - k));
        if (k >= -4 && k <= 5) snprintf(buf, n, "%.*f", k < 0 ? -k : 0, m * pow(10, k));
        else snprintf(buf, n, "%de%d", m, k);
        return;
    }
    if (fabs(t) < ax->step * 1e-6) t = 0;  /* no "-0" or "1e-17" for zero */
    double big = fmax(fabs(ax->lo), fabs(ax->hi));
    int decimals = ax->step < 1 ? (int)ceil(-log10(ax->step) - 1e-9) : 0;
    if (decimals <= 6 && big < 1e7) {
        snprintf(buf, n, "%.*f", decimals, t);
    } else {
        int digits = (int)floor(log10(big)) - (int)floor(log10(ax->step)) + 1;
        snprintf(buf, n, "%.*g", digits < 1 ? 1 : digits > 17 ? 17 : digits, t);
    }
}

/* ---- layout ---- */

typedef struct layout {
    double left, top, pw, ph;  /* the plot area in pixels */
    double legend_x;           /* where the legend's swatches start */
    axis x, y;
} layout;

static bool has_text(const char *s) { return s && s[0]; }

static bool drawable(const layout *L, double x, double y) {
    return isfinite(x) && isfinite(y) && (!L->y.log || y > 0);
}

/* Where v (in the axis' units: log10 units on a log axis) lies between its limits, 0..1. */
static double axis_frac(const axis *ax, double v) {
    return (v - ax->lo) / (ax->hi - ax->lo);
}

static double map_x(const layout *L, double x) {
    return L->left + axis_frac(&L->x, x) * L->pw;
}

static double map_y(const layout *L, double y) {  /* y in data units */
    return L->top + L->ph - axis_frac(&L->y, L->y.log ? log10(y) : y) * L->ph;
}

/* Series k's legend text: its name, or "series k+1" written into buf. */
static const char *series_name(const plot_series *s, int k, char *buf, size_t n) {
    if (s[k].name) return s[k].name;
    snprintf(buf, n, "series %d", k + 1);
    return buf;
}

/* Margins for the labels and the legend (about 7 px a character at 12 px), shrunk so the
 * plot area keeps at least half of each side. */
static void layout_margins(layout *L, const plot_series *s, int n, const plot_opts *o) {
    size_t longest = 0;
    for (int k = 0; k < n; k++) {
        char buf[32];
        size_t len = strlen(series_name(s, k, buf, sizeof buf));
        if (len > longest) longest = len;
    }
    double legend = fmin(34 + 7.0 * (double)longest, o->width / 4.0);
    double left = 62 + (has_text(o->ylabel) ? 20 : 0), right = 16 + legend;
    double top = 16 + (has_text(o->title) ? 24 : 0), bottom = 34 + (has_text(o->xlabel) ? 20 : 0);
    double sx = fmin(1, o->width * 0.5 / (left + right)), sy = fmin(1, o->height * 0.5 / (top + bottom));
    L->left = left * sx;
    L->pw = o->width - (left + right) * sx;
    L->top = top * sy;
    L->ph = o->height - (top + bottom) * sy;
    L->legend_x = L->left + L->pw + 12 * sx;
}

/* The range of the drawable points of all series (y in log10 units with log_y); false if
 * there is none. */
static bool data_range(const layout *L, const plot_series *s, int n, double r[4]) {
    r[0] = r[2] = INFINITY;
    r[1] = r[3] = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!drawable(L, x, y)) continue;
            if (L->y.log) y = log10(y);
            r[0] = fmin(r[0], x); r[1] = fmax(r[1], x);
            r[2] = fmin(r[2], y); r[3] = fmax(r[3], y);
        }
    return r[0] <= r[1];
}

static status layout_new(const char *who, layout *L, const plot_series *s, int n, const plot_opts *o) {
    layout_margins(L, s, n, o);
    L->y.log = o->log_y;
    double r[4];
    if (!data_range(L, s, n, r))
        return error_set(STATUS_ARG, "%s: no point to draw (every x or y is non-finite%s)", who,
                         o->log_y ? " or y <= 0 on a log axis" : "");
    if (!isfinite(r[1] - r[0]) || !isfinite(r[3] - r[2]))
        return error_set(STATUS_ARG, "%s: the data range is too large to plot", who);
    int tx = (int)fmin(10, fmax(2, L->pw / 90)), ty = (int)fmin(10, fmax(2, L->ph / 50));
    axis_linear(&L->x, r[0], r[1], tx);
    if (o->log_y) axis_log(&L->y, r[2], r[3]);
    else axis_linear(&L->y, r[2], r[3], ty);
    if (!isfinite(L->x.hi - L->x.lo) || !isfinite(L->y.hi - L->y.lo))
        return error_set(STATUS_ARG, "%s: the data range is too large to plot", who);
    return STATUS_OK;
}

/* ---- elements ---- */

static void put_texts(sbuf *b, const layout *L, const plot_opts *o) {
    if (has_text(o->title)) {
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"15\" "
                     "font-weight=\"bold\">", L->left + L->pw / 2, L->top * 0.6);
        sb_escaped(b, o->title);
        sb_printf(b, "</text>\n");
    }
    if (has_text(o->xlabel)) {
        sb_printf(b, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">", L->left + L->pw / 2, o->height - 8);
        sb_escaped(b, o->xlabel);
        sb_printf(b, "</text>\n");
    }
    if (has_text(o->ylabel)) {
        double y = L->top + L->ph / 2;
        sb_printf(b, "<text x=\"16\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.2f)\">", y, y);
        sb_escaped(b, o->ylabel);
        sb_printf(b, "</text>\n");
    }
}

/* Grid lines, the frame, tick marks and tick labels. */
static void put_axes(sbuf *b, const layout *L) {
    double bottom = L->top + L->ph, right = L->left + L->pw;
    char label[64];
    sb_printf(b, "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
    for (int i = 0; i < L->x.nticks; i++) {
        double px = map_x(L, L->x.tick[i]);
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, L->top, px, bottom);
    }
    for (int i = 0; i < L->y.nticks; i++) {
        double py = bottom - axis_frac(&L->y, L->y.tick[i]) * L->ph;
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", L->left, py, right, py);
    }
    sb_printf(b, "</g>\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
                 "stroke=\"#333333\"/>\n<g stroke=\"#333333\">\n", L->left, L->top, L->pw, L->ph);
    for (int i = 0; i < L->x.nticks; i++) {
        double px = map_x(L, L->x.tick[i]);
        tick_label(&L->x, L->x.tick[i], label, sizeof label);
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, bottom, px, bottom + 5);
        sb_printf(b, "<text class=\"xtick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" stroke=\"none\">%s</text>\n",
                  px, bottom + 18, label);
    }
    for (int i = 0; i < L->y.nticks; i++) {
        double py = bottom - axis_frac(&L->y, L->y.tick[i]) * L->ph;
        tick_label(&L->y, L->y.tick[i], label, sizeof label);
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", L->left - 5, py, L->left, py);
        sb_printf(b, "<text class=\"ytick\" x=\"%.2f\" y=\"%.2f\" dy=\"0.35em\" text-anchor=\"end\" "
                     "stroke=\"none\">%s</text>\n", L->left - 8, py, label);
    }
    sb_printf(b, "</g>\n");
}

/* Stroke attributes of series k: its colour, dashed from the second round of colours. */
static void put_stroke(sbuf *b, int k, double width, double opacity) {
    sb_printf(b, "stroke=\"%s\" stroke-width=\"%g\"", plot_colours[k % 8], width);
    if (opacity < 1) sb_printf(b, " stroke-opacity=\"%g\"", opacity);
    if ((k / 8) % 2 == 1) sb_printf(b, " stroke-dasharray=\"6 3\"");
}

/* One <polyline> per unbroken run of drawable points (a lone point is written twice, so
 * its round cap shows as a dot). */
static void put_runs(sbuf *b, const layout *L, const double *x, const double *y, int n, int k,
                     const char *cls, double width, double opacity) {
    int run = 0;
    double px = 0, py = 0;
    for (int i = 0; i <= n; i++) {
        bool ok = i < n && drawable(L, x[i], y[i]);
        if (!ok) {
            if (run == 1) sb_printf(b, " %.2f,%.2f", px, py);
            if (run > 0) sb_printf(b, "\"/>\n");
            run = 0;
            continue;
        }
        px = map_x(L, x[i]);
        py = map_y(L, y[i]);
        if (run++ == 0) {
            sb_printf(b, "<polyline data-series=\"%d\" class=\"%s\" ", k, cls);
            put_stroke(b, k, width, opacity);
            sb_printf(b, " points=\"%.2f,%.2f", px, py);
        } else {
            sb_printf(b, " %.2f,%.2f", px, py);
        }
    }
}

/* The centred moving average of window w over the drawable points of s (the window is
 * [i - (w-1)/2, i + w/2], clipped); NaN where s itself is not drawable. NULL on no memory. */
static double *smooth_series(const layout *L, const plot_series *s, int w) {
    int n = s->n;
    double *out = malloc((size_t)n * sizeof *out), *sum = malloc((size_t)(n + 1) * sizeof *sum);
    int *cnt = malloc((size_t)(n + 1) * sizeof *cnt);
    if (!out || !sum || !cnt) { free(out); free(sum); free(cnt); return NULL; }
    sum[0] = 0;
    cnt[0] = 0;
    for (int i = 0; i < n; i++) {
        bool ok = drawable(L, s->x[i], s->y[i]);
        sum[i + 1] = sum[i] + (ok ? s->y[i] : 0);
        cnt[i + 1] = cnt[i] + ok;
    }
    for (int i = 0; i < n; i++) {
        int a = i - (w - 1) / 2 < 0 ? 0 : i - (w - 1) / 2, z = i + w / 2 >= n ? n - 1 : i + w / 2;
        out[i] = drawable(L, s->x[i], s->y[i]) ? (sum[z + 1] - sum[a]) / (cnt[z + 1] - cnt[a]) : NAN;
    }
    free(sum);
    free(cnt);
    return out;
}

static bool put_series(sbuf *b, const layout *L, const plot_series *s, int k, int smooth) {
    if (smooth <= 1) {
        put_runs(b, L, s[k].x, s[k].y, s[k].n, k, "line", 1.5, 1);
        return true;
    }
    double *ys = smooth_series(L, &s[k], smooth);
    if (!ys) return false;
    put_runs(b, L, s[k].x, s[k].y, s[k].n, k, "raw", 1, 0.3);
    put_runs(b, L, s[k].x, ys, s[k].n, k, "smooth", 2, 1);
    free(ys);
    return true;
}

static void put_legend(sbuf *b, const layout *L, const plot_series *s, int n) {
    for (int k = 0; k < n; k++) {
        double y = L->top + 10 + 18 * k;
        char buf[32];
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" ", L->legend_x, y,
                  L->legend_x + 20, y);
        put_stroke(b, k, 2, 1);
        sb_printf(b, "/>\n<text x=\"%.2f\" y=\"%.2f\" dy=\"0.35em\">", L->legend_x + 26, y);
        sb_escaped(b, series_name(s, k, buf, sizeof buf));
        sb_printf(b, "</text>\n");
    }
}

/* ---- the chart ---- */

static status check_args(const char *who, const plot_series *s, int n, const plot_opts *o) {
    if (n < 1) return error_set(STATUS_ARG, "%s: need at least one series (got %d)", who, n);
    if (!s) return error_set(STATUS_ARG, "%s: series is NULL", who);
    for (int k = 0; k < n; k++) {
        if (s[k].n < 1)
            return error_set(STATUS_ARG, "%s: series %d has %d points (want at least 1)", who, k, s[k].n);
        if (!s[k].x || !s[k].y) return error_set(STATUS_ARG, "%s: series %d has a NULL x or y array", who, k);
    }
    if (o->width < PLOT_MIN_SIDE || o->width > PLOT_MAX_SIDE || o->height < PLOT_MIN_SIDE ||
        o->height > PLOT_MAX_SIDE)
        return error_set(STATUS_ARG, "%s: size %dx%d is outside %d..%d pixels a side", who, o->width,
                         o->height, PLOT_MIN_SIDE, PLOT_MAX_SIDE);
    if (o->smooth < 0) return error_set(STATUS_ARG, "%s: smooth %d is negative", who, o->smooth);
    return STATUS_OK;
}

static char *render(const char *who, const plot_series *s, int n, const plot_opts *opts) {
    plot_opts o = opts ? *opts : plot_defaults();
    layout L;
    if (check_args(who, s, n, &o) != STATUS_OK || layout_new(who, &L, s, n, &o) != STATUS_OK) return NULL;
    sbuf b = {0};
    sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                  "font-family=\"sans-serif\" font-size=\"12\">\n"
                  "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
              o.width, o.height, o.width, o.height, o.width, o.height);
    put_texts(&b, &L, &o);
    put_axes(&b, &L);
    sb_printf(&b, "<g fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n");
    for (int k = 0; k < n && !b.oom; k++)
        if (!put_series(&b, &L, s, k, o.smooth)) b.oom = true;
    sb_printf(&b, "</g>\n");
    put_legend(&b, &L, s, n);
    sb_printf(&b, "</svg>\n");
    if (b.oom) {
        free(b.p);
        error_set(STATUS_NOMEM, "%s: out of memory for the SVG", who);
        return NULL;
    }
    return b.p;
}

char *plot_svg(const plot_series *s, int n, const plot_opts *o) {
    return render("plot_svg", s, n, o);
}

status plot_svg_write(const char *path, const plot_series *s, int n, const plot_opts *o) {
    if (!path || !path[0]) return error_set(STATUS_ARG, "plot_svg_write: empty path");
    char *svg = render(path, s, n, o);
    if (!svg) return error_status() != STATUS_OK ? error_status() : STATUS_NOMEM;
    status st = file_write_atomic(path, svg, strlen(svg));
    free(svg);
    return st;
}
