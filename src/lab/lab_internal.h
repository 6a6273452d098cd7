/* lab_internal.h: the lab struct (lab.c) and a growing string for JSON (lab.c, lab_settings.c,
 * lab_http.c). */
#ifndef ATELIER_LAB_INTERNAL_H
#define ATELIER_LAB_INTERNAL_H
#include <stddef.h>
#include "atelier/lab.h"

typedef struct lab_hist { int64_t iter; lab_measures m; } lab_hist;

struct lab {
    lab_settings s;
    gan *g;
    arena *a;                              /* scratch for measures and the state */
    int64_t iter;
    double last_d, last_g;                 /* the last update's losses */
    double loss_d, loss_g;                 /* sums since the last measure ... */
    int loss_n;                            /* ... over this many updates */
    bool have_measures;                    /* m is of the current weights */
    lab_measures m;
    lab_hist hist[400];
    int nhist, every;
    float real_show[2 * LAB_SHOW];         /* (LAB_SHOW, 2) reals drawn */
    float real_near[2 * 500];              /* (500, 2) reals for nearest distances */
    float real_hist[LAB_GRID * LAB_GRID];  /* the reals' histogram, row y, column x */
    double real_diversity;                 /* metrics_diversity of 2000 reals */
};

typedef struct strbuf { char *s; size_t n, cap; bool ok; } strbuf;
void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
