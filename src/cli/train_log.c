/* train_log.c: a training run's JSON-lines log on resume (train_log.h). */
#include "cli/train_log.h"
#include "atelier/backend.h"
#include "atelier/dist.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool train_log_num(const char *line, const char *key, double *v) {
    char k[48];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    if (!p) return false;
    char *end;
    *v = strtod(p + strlen(k), &end);
    return end != p + strlen(k);
}

FILE *train_log_reopen(const char *cmd, const char *path, int64_t step,
                       void (*kept)(const char *line, double step, void *user), void *user) {
    FILE *f = fopen(path, "r");
    char tmp[4200], line[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "w");
    if (!o) {
        if (f) fclose(f);
        fprintf(stderr, "atelier %s: %s: %s\n", cmd, tmp, strerror(errno));
        return NULL;
    }
    while (f && fgets(line, sizeof line, f)) {
        double s;
        if (!train_log_num(line, "step", &s) || s > (double)step) continue;
        fputs(line, o);
        if (kept) kept(line, s, user);
    }
    if (f) fclose(f);
    if (fclose(o) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "atelier %s: %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    FILE *a = fopen(path, "a");
    if (!a) fprintf(stderr, "atelier %s: %s: %s\n", cmd, path, strerror(errno));
    return a;
}

dist *train_dist_init(const char *cmd) {
    dist *d = dist_init();
    if (!d) {
        fprintf(stderr, "atelier %s: %s\n", cmd, error_message());
        return NULL;
    }
    const char *omp = getenv("OMP_NUM_THREADS");
    if (dist_size(d) > 1 && !(omp && *omp)) backend_set_threads(dist_threads_per_rank(d));
    return d;
}
