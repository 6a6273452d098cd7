/* plot.h: SVG line charts of training curves (GAN losses, KID over steps).
 *
 * One chart holds any number of series, each a list of (x, y) points drawn in order as
 * <polyline>s. The SVG is self-contained (no external fonts, CSS or scripts): a white
 * background, axes whose limits and ticks are "nice" numbers (1, 2 or 5 x 10^k) covering
 * the data, light grid lines, tick labels, optional title and axis labels, a legend on the
 * right, and one colour per series from the Okabe-Ito colour-blind-safe palette (after 8
 * series the colours repeat, dashed).
 *
 *   gaps      a point whose x or y is not finite (or with log_y, whose y is <= 0) is
 *             skipped and breaks the line: each unbroken run is its own <polyline>.
 *   log_y     the y axis is log10; ticks are 1, 2, 5 x 10^k within two decades, else
 *             powers of ten.
 *   smooth    > 1: a centred moving average over that many points (fewer at the ends and
 *             around gaps) is drawn bold, with the raw series faint behind it; 0 or 1: the
 *             raw series only.
 *
 * The mapping from data to pixels is linear (in log10 y with log_y); coordinates are
 * written with 2 decimals. Names and labels are XML-escaped. Each drawn polyline carries
 * data-series="k" (its series' index) and class "raw", "smooth" or "line" (raw without
 * smoothing); tick labels carry class "xtick" / "ytick".
 *
 * plot_svg_write is atomic as image_write is (temporary file, fsync, rename). Bad input (no
 * series, a series with n < 1 or a NULL array, width or height outside 100..16384, smooth
 * < 0, no point that can be drawn) returns an error with one line in error_message().
 *
 * Example:
 * EXAMPLE_BEGIN
 *   double step[50], g_loss[50], d_loss[50];
 *   for (int i = 0; i < 50; i++) {
 *       step[i] = 100.0 * i;
 *       g_loss[i] = 2.0 / (1 + 0.1 * i) + 0.2 * sin(i);
 *       d_loss[i] = i == 20 ? NAN : 0.7 + 0.1 * cos(i);   // a gap: two polylines
 *   }
 *   plot_series s[2] = {{"G loss", step, g_loss, 50}, {"D loss", step, d_loss, 50}};
 *   plot_opts o = plot_defaults();                        // 720x360, linear, raw lines
 *   o.title = "DCGAN"; o.xlabel = "step"; o.ylabel = "loss"; o.smooth = 5;
 *   char *svg = plot_svg(s, 2, &o);
 *   if (!svg || !strstr(svg, "<polyline") || !strstr(svg, ">G loss<")) return 1;
 *   free(svg);
 *   if (plot_svg_write("example_plot.svg", s, 2, &o) != STATUS_OK) return 1;
 *   if (plot_svg(s, 0, &o) != NULL) return 1;           // no series: NULL and a message
 *   error_clear();
 *   remove("example_plot.svg");
 * EXAMPLE_END
 */
#ifndef ATELIER_PLOT_H
#define ATELIER_PLOT_H
#include <stdbool.h>
#include "atelier/error.h"

typedef struct plot_series {
    const char *name;       /* the legend's text (UTF-8); NULL: "series 1", "series 2"... */
    const double *x, *y;    /* (n) each */
    int n;
} plot_series;

typedef struct plot_opts {
    const char *title, *xlabel, *ylabel;  /* NULL or "": not drawn */
    int width, height;                    /* pixels, 100..16384 */
    bool log_y;
    int smooth;                           /* moving-average window; 0 or 1: none */
} plot_opts;

/* No title or labels, 720x360, linear y, no smoothing. */
plot_opts plot_defaults(void);

/* The chart as a NUL-terminated, malloc'd SVG document (the caller frees); o may be NULL
 * for the defaults. NULL (and error_set) on bad input. */
char *plot_svg(const plot_series *s, int n, const plot_opts *o);
/* plot_svg, then an atomic write to path. */
status plot_svg_write(const char *path, const plot_series *s, int n, const plot_opts *o);

#endif
