/* dashboard_internal.h: what the dashboard's files share (dashboard.h): the snapshot the
 * training loop publishes (dashboard_state.c) and the server that reads it (dashboard.c). */
#ifndef ATELIER_DASHBOARD_INTERNAL_H
#define ATELIER_DASHBOARD_INTERNAL_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "atelier/dashboard.h"
#include "atelier/image.h"

/* The step series: point i averages cnt[i] consecutive steps ending at step[i]; sum[k][i]
 * holds the sums of d_loss, g_loss, d_real, d_fake. Only the last point may hold fewer
 * than `every` steps. */
enum { DASH_SERIES = 4 };
typedef struct dash_series {
    int n, cap, every;
    int64_t *step;              /* (cap) */
    int *cnt;                   /* (cap) */
    double *sum[DASH_SERIES];   /* (DASH_SERIES, cap) */
} dash_series;

typedef struct dash_eval {
    int64_t step;
    metrics_report r;
} dash_eval;

/* (step, seconds) samples, at least DASHBOARD_RATE_WINDOW / (DASH_RATE_N / 2) seconds apart:
 * the steps per second over the last window. */
enum { DASH_RATE_N = 128 };

typedef struct dash_state {
    char *config;               /* the run's config JSON, or NULL */
    int64_t start_step, total_steps, step;
    double seconds;             /* of the last step */
    double published_at;        /* monotonic seconds when the last step came in */
    const char *phase;          /* a string literal */
    dash_series s;
    dash_eval *evals;           /* (cap) */
    int nevals, evals_cap;
    int64_t rate_step[DASH_RATE_N];
    double rate_t[DASH_RATE_N];
    int rate_n, rate_head;      /* ring: rate_head is where the next goes */
    int64_t grid_version, grid_step;
} dash_state;

struct dashboard {
    dashboard_opts o;           /* its strings are copies */
    pthread_mutex_t mu;         /* guards state, grid, png */
    dash_state st;
    image *grid;                /* the newest grid not yet encoded, or NULL */
    unsigned char *png;         /* the encoded grid of version png_version */
    size_t png_n;
    int64_t png_version;
    struct MHD_Daemon *daemon;
    int port;
};

status dash_state_init(dash_state *st, int cap);
void dash_state_free(dash_state *st);
double dash_now(void);           /* monotonic seconds */

/* The page (src/web/dashboard.html), built in by dashboard_page.c. */
extern const unsigned char atelier_dashboard_page_data[];
extern const unsigned long long atelier_dashboard_page_size;

#endif
