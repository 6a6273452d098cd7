/* test_plot.c: SVG line charts (plot.h).
 *
 * The SVG is parsed back here (polylines' points and attributes, tick labels and their
 * positions) and checked against the data: data must map to pixels by one linear map per
 * axis (fixed by two points, then every point, line and tick agrees within 0.01 px, the
 * rounding of 2 decimals), ticks must be nice numbers covering the data, and gaps must
 * split lines.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/plot.h"
#include "harness.h"

/* ---- parsing the SVG back ---- */

#define MAX_LINES 64
#define MAX_TICKS 64

typedef struct pline {
    int series;
    char cls[16], stroke[16];
    int n;
    double *px, *py;  /* (n) */
} pline;

typedef struct ptick {
    double value;     /* the label as a number */
    double pos;       /* x for an xtick, y for a ytick */
} ptick;

/* The value of attribute name in the element starting at e, into buf ("" if absent). */
static const char *attr(const char *e, const char *name, char *buf, size_t n) {
    const char *end = strchr(e, '>');
    char key[32];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *a = strstr(e, key);
    buf[0] = 0;
    if (!a || (end && a > end)) return buf;
    a += strlen(key);
    size_t k = 0;
    while (a[k] && a[k] != '"' && k + 1 < n) { buf[k] = a[k]; k++; }
    buf[k] = 0;
    return buf;
}

static int parse_polylines(const char *svg, pline *out) {
    int m = 0;
    for (const char *e = strstr(svg, "<polyline"); e && m < MAX_LINES; e = strstr(e + 1, "<polyline")) {
        pline *l = &out[m++];
        char buf[1 << 16];
        l->series = atoi(attr(e, "data-series", buf, sizeof buf));
        snprintf(l->cls, sizeof l->cls, "%s", attr(e, "class", buf, sizeof buf));
        snprintf(l->stroke, sizeof l->stroke, "%s", attr(e, "stroke", buf, sizeof buf));
        attr(e, "points", buf, sizeof buf);
        l->n = 0;
        l->px = malloc(sizeof(double) * 4096);
        l->py = malloc(sizeof(double) * 4096);
        char *p = buf, *q;
        for (;;) {
            double x = strtod(p, &q);
            if (q == p || *q != ',') break;
            double y = strtod(q + 1, &p);
            if (l->n < 4096) { l->px[l->n] = x; l->py[l->n] = y; l->n++; }
        }
    }
    return m;
}

static void free_lines(pline *l, int m) {
    for (int i = 0; i < m; i++) { free(l[i].px); free(l[i].py); }
}

static int parse_ticks(const char *svg, const char *cls, ptick *t) {
    char key[32], buf[64];
    snprintf(key, sizeof key, "<text class=\"%s\"", cls);
    int m = 0;
    for (const char *e = strstr(svg, key); e && m < MAX_TICKS; e = strstr(e + 1, key)) {
        t[m].pos = atof(attr(e, strcmp(cls, "xtick") == 0 ? "x" : "y", buf, sizeof buf));
        t[m].value = atof(strchr(e, '>') + 1);
        m++;
    }
    return m;
}

static int count(const char *s, const char *part) {
    int n = 0;
    for (const char *p = strstr(s, part); p; p = strstr(p + 1, part)) n++;
    return n;
}

/* ---- checks ---- */

/* A linear map px = a * v + b through two (v, px) pairs. */
typedef struct lin { double a, b; } lin;
static lin lin_through(double v0, double p0, double v1, double p1) {
    double a = (p1 - p0) / (v1 - v0);
    return (lin){a, p0 - a * v0};
}

static bool nice_mantissa(double step) {
    double e = floor(log10(step)), m = step / pow(10, e);
    return fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9 || fabs(m - 10) < 1e-8;
}

/* Linear ticks: >= 3, equally spaced by a nice step, multiples of it, covering [lo, hi]
 * without a whole spare step at either end. */
static void check_linear_ticks(const ptick *t, int n, double lo, double hi, const char *what) {
    CHECK_MSG(n >= 3 && n <= 20, "%s: %d ticks", what, n);
    if (n < 2) return;
    double step = t[1].value - t[0].value;
    CHECK_MSG(step > 0 && nice_mantissa(step), "%s: step %g is not 1, 2 or 5 x 10^k", what, step);
    for (int i = 0; i < n; i++) {
        CHECK_MSG(fabs(t[i].value - (t[0].value + i * step)) <= 1e-9 * fabs(step) * (n + fabs(t[0].value / step)),
                  "%s: tick %d = %g is off the step %g", what, i, t[i].value, step);
        double k = t[i].value / step;
        CHECK_MSG(fabs(k - round(k)) < 1e-6, "%s: tick %g is not a multiple of %g", what, t[i].value, step);
    }
    double tol = 1e-9 * fmax(fabs(lo), fabs(hi));
    CHECK_MSG(t[0].value <= lo + tol && t[n - 1].value >= hi - tol, "%s: ticks %g..%g do not cover %g..%g",
              what, t[0].value, t[n - 1].value, lo, hi);
    CHECK_MSG(t[0].value > lo - step && t[n - 1].value < hi + step, "%s: ticks %g..%g too loose for %g..%g",
              what, t[0].value, t[n - 1].value, lo, hi);
}

/* Every tick's position lies on the axis' map. */
static void check_ticks_on_map(const ptick *t, int n, lin m, bool log, const char *what) {
    for (int i = 0; i < n; i++) {
        double v = log ? log10(t[i].value) : t[i].value;
        CHECK_MSG(fabs(m.a * v + m.b - t[i].pos) <= 0.01, "%s tick %g at %.3f, the map puts it at %.3f",
                  what, t[i].value, t[i].pos, m.a * v + m.b);
    }
}

/* ---- cases ---- */

/* Two series with different ranges: all points of both lie on one linear map per axis. */
static void test_linear_map(void) {
    enum { N = 40, M = 25 };
    double x0[N], y0[N], x1[M], y1[M];
    for (int i = 0; i < N; i++) { x0[i] = 50.0 * i; y0[i] = 2.0 / (1 + 0.1 * i) + 0.3 * sin(i); }
    for (int i = 0; i < M; i++) { x1[i] = 120 + 60.0 * i; y1[i] = -0.4 + 0.05 * i; }
    plot_series s[2] = {{"G", x0, y0, N}, {"D", x1, y1, M}};
    plot_opts o = plot_defaults();
    o.title = "losses"; o.xlabel = "step"; o.ylabel = "loss";
    char *svg = plot_svg(s, 2, &o);
    CHECK_OK(svg);
    if (!svg) return;
    CHECK(strstr(svg, "<svg") && strstr(svg, "width=\"720\"") && strstr(svg, "height=\"360\"") &&
          strstr(svg, "</svg>"));
    CHECK(!strstr(svg, "href") && !strstr(svg, "<style") && !strstr(svg, "@import"));  /* self-contained */
    pline l[MAX_LINES];
    int m = parse_polylines(svg, l);
    CHECK(m == 2 && l[0].series == 0 && l[1].series == 1 && l[0].n == N && l[1].n == M);
    if (m == 2 && l[0].n == N && l[1].n == M) {
        lin mx = lin_through(x0[0], l[0].px[0], x0[N - 1], l[0].px[N - 1]);
        lin my = lin_through(y0[0], l[0].py[0], y0[N - 1], l[0].py[N - 1]);
        CHECK(mx.a > 0 && my.a < 0);  /* x grows right, y up */
        double worst = 0;
        for (int i = 0; i < N; i++) {
            worst = fmax(worst, fabs(mx.a * x0[i] + mx.b - l[0].px[i]));
            worst = fmax(worst, fabs(my.a * y0[i] + my.b - l[0].py[i]));
        }
        for (int i = 0; i < M; i++) {
            worst = fmax(worst, fabs(mx.a * x1[i] + mx.b - l[1].px[i]));
            worst = fmax(worst, fabs(my.a * y1[i] + my.b - l[1].py[i]));
        }
        CHECK_MSG(worst <= 0.01, "a point is %.4f px off the linear map", worst);
        ptick xt[MAX_TICKS], yt[MAX_TICKS];
        int nx = parse_ticks(svg, "xtick", xt), ny = parse_ticks(svg, "ytick", yt);
        check_linear_ticks(xt, nx, 0, 50.0 * (N - 1), "x");  /* 1950 > 120 + 60 * 24 */
        double ylo = -0.4, yhi = -INFINITY;
        for (int i = 0; i < N; i++) yhi = fmax(yhi, y0[i]);
        check_linear_ticks(yt, ny, ylo, yhi, "y");
        check_ticks_on_map(xt, nx, mx, false, "x");
        check_ticks_on_map(yt, ny, my, false, "y");
        /* the plot area lies inside the image, and the first and last ticks are its edges */
        CHECK(xt[0].pos > 0 && xt[nx - 1].pos < 720 && yt[0].pos < 360 && yt[ny - 1].pos > 0);
    }
    CHECK(strcmp(l[0].stroke, l[1].stroke) != 0);
    CHECK(strstr(svg, ">G</text>") && strstr(svg, ">D</text>") && strstr(svg, ">losses</text>"));
    free_lines(l, m);
    free(svg);
}

/* Ranges of many magnitudes get nice covering ticks on both axes. */
static void test_nice_ticks(void) {
    const double ranges[][2] = {{0.3, 0.9},   {-13.7, 1234}, {1e-5, 3.3e-5}, {0, 1},   {7, 7},
                                {1e7, 3.1e7}, {-0.02, 0.013}, {0.1, 0.30000000000000004}, {-5e6, -4e6}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        double x[3] = {ranges[r][0], (ranges[r][0] + ranges[r][1]) / 2, ranges[r][1]};
        double y[3] = {ranges[r][1], ranges[r][0], (ranges[r][0] + ranges[r][1]) / 2};
        plot_series s = {"s", x, y, 3};
        char *svg = plot_svg(&s, 1, NULL);
        CHECK_OK(svg);
        if (!svg) continue;
        ptick xt[MAX_TICKS], yt[MAX_TICKS];
        int nx = parse_ticks(svg, "xtick", xt), ny = parse_ticks(svg, "ytick", yt);
        char what[64];
        snprintf(what, sizeof what, "range %g..%g x", ranges[r][0], ranges[r][1]);
        if (ranges[r][0] == ranges[r][1]) {  /* one value: widened, still covered */
            CHECK(nx >= 2 && xt[0].value < ranges[r][0] && xt[nx - 1].value > ranges[r][0]);
        } else {
            check_linear_ticks(xt, nx, ranges[r][0], ranges[r][1], what);
            what[strlen(what) - 1] = 'y';
            check_linear_ticks(yt, ny, ranges[r][0], ranges[r][1], what);
        }
        free(svg);
    }
}

/* log_y: y maps linearly in log10 y; y <= 0 is skipped (a gap); ticks are 1/2/5 x 10^k. */
static void test_log_y(void) {
    enum { N = 30 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) { x[i] = i; y[i] = pow(10, -3 + 0.12 * i); }
    y[10] = 0;    /* skipped on a log axis: splits the line */
    y[20] = -1;
    plot_series s = {"kid", x, y, N};
    plot_opts o = plot_defaults();
    o.log_y = true;
    char *svg = plot_svg(&s, 1, &o);
    CHECK_OK(svg);
    if (!svg) return;
    pline l[MAX_LINES];
    int m = parse_polylines(svg, l);
    CHECK_MSG(m == 3 && l[0].n == 10 && l[1].n == 9 && l[2].n == 9, "%d polylines", m);
    if (m == 3) {
        lin my = lin_through(log10(y[0]), l[0].py[0], log10(y[29]), l[2].py[8]);
        double worst = 0;
        for (int i = 0, k = 0, j = 0; i < N; i++) {
            if (y[i] <= 0) { k++; j = 0; continue; }
            worst = fmax(worst, fabs(my.a * log10(y[i]) + my.b - l[k].py[j++]));
        }
        CHECK_MSG(worst <= 0.01, "a point is %.4f px off the log map", worst);
        ptick yt[MAX_TICKS];
        int ny = parse_ticks(svg, "ytick", yt);
        check_ticks_on_map(yt, ny, my, true, "log y");
        CHECK(ny >= 3 && yt[0].value <= y[0] && yt[ny - 1].value >= y[N - 1]);
        for (int i = 0; i < ny; i++)
            CHECK_MSG(nice_mantissa(yt[i].value), "log tick %g is not 1, 2 or 5 x 10^k", yt[i].value);
    }
    free_lines(l, m);
    free(svg);
    /* within a decade: 1, 2, 5 ticks around the data, e.g. 0.2, 0.5, 1 for 0.3..0.9 */
    double y2[3] = {0.3, 0.9, 0.5};
    plot_series s2 = {"d", x, y2, 3};
    svg = plot_svg(&s2, 1, &o);
    CHECK_OK(svg);
    ptick yt[MAX_TICKS];
    int ny = svg ? parse_ticks(svg, "ytick", yt) : 0;
    CHECK_MSG(ny == 3 && yt[0].value == 0.2 && yt[1].value == 0.5 && yt[2].value == 1, "%d ticks", ny);
    free(svg);
}

/* NaN (or an infinite x) ends a polyline; a lone point becomes a dot; smoothing averages. */
static void test_gaps_and_smoothing(void) {
    enum { N = 12 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) { x[i] = i; y[i] = (double)i * i; }
    y[5] = NAN;
    plot_series s = {"a", x, y, N};
    char *svg = plot_svg(&s, 1, NULL);
    pline l[MAX_LINES];
    int m = svg ? parse_polylines(svg, l) : 0;
    CHECK_MSG(m == 2 && l[0].n == 5 && l[1].n == 6, "NaN: %d polylines", m);
    CHECK(m == 2 && strcmp(l[0].cls, "line") == 0);
    free_lines(l, m);
    free(svg);
    x[8] = INFINITY;  /* and x[7] alone between two gaps: a dot */
    y[6] = NAN;
    svg = plot_svg(&s, 1, NULL);
    m = svg ? parse_polylines(svg, l) : 0;
    CHECK_MSG(m == 3 && l[0].n == 5 && l[1].n == 2 && l[2].n == 3, "gaps: %d polylines", m);
    if (m == 3) CHECK(l[1].px[0] == l[1].px[1] && l[1].py[0] == l[1].py[1]);
    free_lines(l, m);
    free(svg);
    /* smooth 3: raw runs faint, and the centred mean of the drawable neighbours bold */
    x[8] = 8;
    y[6] = 36;
    plot_opts o = plot_defaults();
    o.smooth = 3;
    svg = plot_svg(&s, 1, &o);
    m = svg ? parse_polylines(svg, l) : 0;
    CHECK_MSG(m == 4, "smooth: %d polylines", m);
    if (m == 4) {
        CHECK(strcmp(l[0].cls, "raw") == 0 && strcmp(l[2].cls, "smooth") == 0 && strcmp(l[3].cls, "smooth") == 0);
        lin my = lin_through(y[0], l[0].py[0], y[11], l[1].py[5]);
        /* i = 2: (1 + 4 + 9) / 3; i = 0: (0 + 1) / 2 (clipped); i = 4: (9 + 16) / 2 (gap at 5) */
        const double want[5] = {0.5, 5.0 / 3, 14.0 / 3, 29.0 / 3, 12.5};
        for (int i = 0; i < 5 && l[2].n == 5; i++)
            CHECK_NEAR(l[2].py[i], my.a * want[i] + my.b, 0.01, 0);
        CHECK_NEAR(l[3].py[0], my.a * (36 + 49) / 2.0 + my.b, 0.01, 0);
        CHECK_NEAR(l[3].py[5], my.a * (100 + 121) / 2.0 + my.b, 0.01, 0);
    }
    free_lines(l, m);
    free(svg);
}

static void test_escaping_and_colours(void) {
    double x[2] = {0, 1}, y[2] = {1, 2};
    plot_series s[9];
    const char *names[9] = {"a<b&c", "\"q\"", "it's", NULL, "e", "f", "g", "h", "i"};
    for (int k = 0; k < 9; k++) s[k] = (plot_series){names[k], x, y, 2};
    plot_opts o = plot_defaults();
    o.title = "<title> & more";
    char *svg = plot_svg(s, 9, &o);
    CHECK_OK(svg);
    if (!svg) return;
    CHECK(strstr(svg, ">a&lt;b&amp;c</text>") && !strstr(svg, "a<b"));
    CHECK(strstr(svg, ">&quot;q&quot;</text>") && strstr(svg, ">it&apos;s</text>"));
    CHECK(strstr(svg, ">&lt;title&gt; &amp; more</text>"));
    CHECK(strstr(svg, ">series 4</text>"));  /* a NULL name */
    pline l[MAX_LINES];
    int m = parse_polylines(svg, l);
    CHECK(m == 9);
    for (int a = 0; a < m && a < 8; a++)
        for (int b = a + 1; b < 8; b++) CHECK_MSG(strcmp(l[a].stroke, l[b].stroke) != 0, "series %d and %d", a, b);
    CHECK(m == 9 && strcmp(l[8].stroke, l[0].stroke) == 0);  /* the 9th: colours repeat, dashed */
    CHECK(count(svg, "stroke-dasharray") == 2);             /* its line and legend swatch */
    free_lines(l, m);
    free(svg);
}

static void test_errors_and_write(void) {
    double x[3] = {0, 1, 2}, y[3] = {1, 2, 3}, nan3[3] = {NAN, NAN, NAN}, neg[3] = {0, -1, -2};
    plot_series ok = {"ok", x, y, 3};
    plot_series bad_n = {"n", x, y, 0}, no_x = {"x", NULL, y, 3}, no_y = {"y", x, NULL, 3};
    plot_series all_nan = {"nan", x, nan3, 3}, all_neg = {"neg", x, neg, 3};
    plot_opts o = plot_defaults();
    struct { const plot_series *s; int n; plot_opts o; const char *part; } cases[] = {
        {&ok, 0, o, "at least one series"},
        {NULL, 1, o, "series is NULL"},
        {&bad_n, 1, o, "series 0 has 0 points"},
        {&no_x, 1, o, "NULL x or y"},
        {&no_y, 1, o, "NULL x or y"},
        {&ok, 1, {.width = 99, .height = 360}, "99x360"},
        {&ok, 1, {.width = 720, .height = 20000}, "outside 100..16384"},
        {&ok, 1, {.width = 720, .height = 360, .smooth = -1}, "smooth -1"},
        {&all_nan, 1, o, "no point to draw"},
        {&all_neg, 1, {.width = 720, .height = 360, .log_y = true}, "y <= 0 on a log axis"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        error_clear();
        char *svg = plot_svg(cases[i].s, cases[i].n, &cases[i].o);
        CHECK_MSG(!svg && error_status() == STATUS_ARG && strstr(error_message(), cases[i].part),
                  "case %zu: '%s' lacks '%s'", i, error_message(), cases[i].part);
        free(svg);
    }
    error_clear();
    /* a tiny chart still works */
    char *svg = plot_svg(&ok, 1, &(plot_opts){.width = 100, .height = 100, .title = "t", .xlabel = "x", .ylabel = "y"});
    CHECK_OK(svg);
    free(svg);
    /* writing: the file holds exactly plot_svg's text; failures leave nothing behind */
    const char *path = test_tmp_path("curve.svg");
    CHECK(plot_svg_write(path, &ok, 1, NULL) == STATUS_OK);
    svg = plot_svg(&ok, 1, NULL);
    size_t n = 0;
    unsigned char *file = test_read_file(path, &n);
    CHECK(svg && file && n == strlen(svg) && memcmp(file, svg, n) == 0);
    error_clear();
    CHECK(plot_svg_write(path, &ok, 0, NULL) == STATUS_ARG && strstr(error_message(), path));
    error_clear();
    CHECK(plot_svg_write(test_tmp_path("no/such/dir/c.svg"), &ok, 1, NULL) == STATUS_IO &&
          strstr(error_message(), "cannot create a file there"));
    error_clear();
    size_t n2 = 0;
    unsigned char *again = test_read_file(path, &n2);
    CHECK(again && n2 == n && memcmp(again, file, n) == 0);
    CHECK(test_count_entries(test_dir) == 1);
    free(svg); free(file); free(again);
    remove(path);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_linear_map);
    RUN(test_nice_ticks);
    RUN(test_log_y);
    RUN(test_gaps_and_smoothing);
    RUN(test_escaping_and_colours);
    RUN(test_errors_and_write);
    test_remove_tree(test_dir);
    return test_finish();
}
