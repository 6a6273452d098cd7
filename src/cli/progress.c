#include "cli/progress.h"
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

progress progress_start(int64_t total, bool quiet) {
    return (progress){.total = total > 0 ? total : 1, .start = progress_now(), .last_tenth = -1,
                      .tty = isatty(2), .quiet = quiet};
}

static void progress_draw(const progress *p, int64_t done, const char *info, const char *end) {
    double el = progress_now() - p->start;
    double left = done > 0 ? el * (double)(p->total - done) / (double)done : 0;
    char bar[31];
    int fill = (int)(30 * done / p->total);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[30] = 0;
    fprintf(stderr, "%s[%s] %lld/%lld %s  %.1f s elapsed, %.1f s left%s",
            p->tty ? "\r\033[K" : "", bar, (long long)done, (long long)p->total,
            info ? info : "", el, left, end);
    fflush(stderr);
}

void progress_update(progress *p, int64_t done, const char *info) {
    if (p->quiet) return;
    int64_t tenth = 10 * done / p->total;
    if (p->tty) progress_draw(p, done, info, "");
    else if (tenth != p->last_tenth) progress_draw(p, done, info, "\n");
    p->last_tenth = tenth;
}

void progress_finish(progress *p, const char *info) {
    if (p->quiet) return;
    if (p->tty) progress_draw(p, p->total, info, "\n");
    else if (info && *info) fprintf(stderr, "done: %s (%.1f s)\n", info, progress_now() - p->start);
    else fprintf(stderr, "done in %.1f s\n", progress_now() - p->start);
}
