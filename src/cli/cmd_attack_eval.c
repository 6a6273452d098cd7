/* cmd_attack_eval.c: `atelier attack MODEL --eval DIR`: accuracy against eps for random
 * noise, FGSM, PGD-10, PGD-10 with restarts and PGD-50 on labelled folders, the sanity
 * checks of Carlini et al. 2019 ("On Evaluating Adversarial Robustness", section 5), and
 * the curves as an SVG. Images are attacked as the model sees them, unrounded; PGD stops
 * on an image once it is misclassified (attack_opts.early_stop: the same accuracy). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/dataset.h"
#include "atelier/plot.h"
#include "cli/attack_cli.h"
#include "cli/progress.h"

enum { ROW_NOISE, ROW_FGSM, ROW_PGD10, ROW_PGD10R, ROW_PGD50, NROWS };
#define CHUNK 16

typedef struct eval_set {
    float *x;      /* (N, D) */
    int *y, n;     /* (N) */
} eval_set;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The class subfolders of dir, loaded in name order; false after one line on stderr. */
static bool load_set(attack_cli *c, eval_set *s) {
    const classify_config *mc = classify_get_config(c->m);
    DIR *d = opendir(c->eval_dir);
    if (!d) { fprintf(stderr, "atelier attack: --eval %s: cannot open the folder\n", c->eval_dir); return false; }
    char *names[CLASSIFY_MAX_CLASSES * 2];
    int nn = 0;
    bool ok = true;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", c->eval_dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (nn >= CLASSIFY_MAX_CLASSES * 2) { ok = false; break; }
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    if (!ok || nn == 0) {
        fprintf(stderr, "atelier attack: --eval %s: %s\n", c->eval_dir,
                nn ? "too many subfolders" : "no class subfolders (one per class, named as the model's classes)");
        for (int i = 0; i < nn; i++) free(names[i]);
        return false;
    }
    qsort(names, (size_t)nn, sizeof names[0], cmp_str);
    int64_t d3 = 3 * (int64_t)c->size * c->size;
    for (int i = 0; i < nn && ok; i++) {
        int k = -1;
        for (int j = 0; j < mc->nclasses; j++) if (!strcmp(mc->classes[j], names[i])) k = j;
        if (k < 0) {
            fprintf(stderr, "atelier attack: --eval %s/%s: '%s' is not a class of the model (", c->eval_dir, names[i], names[i]);
            for (int j = 0; j < mc->nclasses; j++) fprintf(stderr, "%s%s", j ? ", " : "", mc->classes[j]);
            fprintf(stderr, ")\n");
            ok = false;
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->eval_dir, names[i]);
        dataset *ds = dataset_load_dir(path, c->size, c->max_images);
        if (!ds || classify_apply_detail(mc->detail, ds->pixels, ds->n, ds->size) != STATUS_OK) {
            fprintf(stderr, "atelier attack: --eval: %s\n", error_message());
            dataset_free(ds);
            ok = false;
            break;
        }
        float *x = realloc(s->x, sizeof(float) * (size_t)((s->n + ds->n) * d3));
        int *y = realloc(s->y, sizeof(int) * (size_t)(s->n + ds->n));
        if (x) s->x = x;
        if (y) s->y = y;
        if (!x || !y) { fprintf(stderr, "atelier attack: --eval: out of memory\n"); dataset_free(ds); ok = false; break; }
        for (int64_t j = 0; j < ds->n * d3; j++) s->x[s->n * d3 + j] = ds->pixels[j] / 255.0f;
        for (int j = 0; j < ds->n; j++) s->y[s->n + j] = k;
        s->n += ds->n;
        dataset_free(ds);
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    return ok;
}

static int correct(attack_cli *c, const float *x, const int *y, int n, bool *ok) {
    int *pred = malloc(sizeof(int) * (size_t)n), right = 0;
    if (!pred || attack_predict(&c->am, x, n, pred) != STATUS_OK) { *ok = false; free(pred); return 0; }
    for (int i = 0; i < n; i++) right += pred[i] == y[i];
    free(pred);
    return right;
}

/* One attack of each row at eps on one chunk; adds the correct counts into right[row]. */
static bool eval_chunk(attack_cli *c, const float *x, const int *y, int n, float eps, int *right,
                       float *adv, progress *p, int64_t *done) {
    static const attack_method method[NROWS] = {ATTACK_METHOD_NOISE, ATTACK_METHOD_FGSM, ATTACK_METHOD_PGD,
                                                ATTACK_METHOD_PGD, ATTACK_METHOD_PGD};
    int steps[NROWS] = {1, 1, 10, 10, 50}, restarts[NROWS] = {1, 1, 1, c->o.restarts, 1};
    bool ok = true;
    for (int r = 0; r < NROWS && ok; r++) {
        attack_opts o = c->o;
        o.method = method[r]; o.eps = eps; o.steps = steps[r]; o.restarts = restarts[r];
        o.step_size = 0;   /* 2.5 eps / steps for each */
        o.early_stop = true;   /* the same accuracy, fewer gradients */
        o.target = -1;
        if (attack_run(&c->am, x, y, n, &o, adv) != STATUS_OK) return false;
        int d = 3 * c->size * c->size;
        if (!attack_in_ball(x, adv, n, d, o.norm, eps, 1e-6f)) {
            error_set(STATUS_ARG, "%s left the eps ball (a bug)", attack_method_name(o.method));
            return false;
        }
        right[r] += correct(c, adv, y, n, &ok);
        *done += (int64_t)steps[r] * restarts[r] * n;
        progress_update(p, *done, NULL);
    }
    return ok;
}

static void eps_label(float eps, char *buf, size_t n) {
    float k = eps * 255;
    if (eps == 0) snprintf(buf, n, "0");
    else if (fabsf(k * 100 - roundf(k * 100)) < 1e-2f) snprintf(buf, n, "%g/255", roundf(k * 100) / 100.0);
    else snprintf(buf, n, "%.4g", (double)eps);
}

static bool write_plot(attack_cli *c, double acc[NROWS][ATTACK_MAX_EPS], double clean) {
    static const char *names[NROWS] = {"random-sign noise", "FGSM", "PGD-10", "PGD-10, restarts", "PGD-50"};
    double xs[ATTACK_MAX_EPS], ys[NROWS][ATTACK_MAX_EPS];
    bool linf = c->o.norm == ATTACK_NORM_LINF;
    for (int e = 0; e < c->neps; e++) {
        xs[e] = linf ? c->eps[e] * 255.0 : c->eps[e];
        for (int r = 0; r < NROWS; r++) ys[r][e] = c->eps[e] == 0 ? clean : acc[r][e];
    }
    char rname[32];
    snprintf(rname, sizeof rname, "PGD-10 x%d restarts", c->o.restarts);
    plot_series s[NROWS];
    for (int r = 0; r < NROWS; r++) s[r] = (plot_series){r == ROW_PGD10R ? rname : names[r], xs, ys[r], c->neps};
    plot_opts po = plot_defaults();
    char title[256];
    const char *base = strrchr(c->model, '/');
    snprintf(title, sizeof title, "accuracy under attack: %s", base ? base + 1 : c->model);
    po.title = title;
    po.xlabel = linf ? "eps (linf, in 1/255)" : "eps (l2)";
    po.ylabel = "accuracy";
    if (plot_svg_write(c->out, s, NROWS, &po) != STATUS_OK) {
        fprintf(stderr, "atelier attack: -o %s: %s\n", c->out, error_message());
        return false;
    }
    return true;
}

/* The sanity conditions; one line each. slack: one image (random starts differ). */
static void report_sanity(attack_cli *c, double acc[NROWS][ATTACK_MAX_EPS], double clean, double unbounded, int n) {
    double slack = 1.0 / n + 1e-9, worst_pgd = -1, worst_steps = -1, worst_noise = 0;
    for (int e = 0; e < c->neps; e++) {
        if (c->eps[e] == 0) continue;
        worst_pgd = fmax(worst_pgd, fmax(acc[ROW_PGD10][e], acc[ROW_PGD50][e]) - acc[ROW_FGSM][e]);
        worst_steps = fmax(worst_steps, fmax(acc[ROW_PGD50][e], acc[ROW_PGD10R][e]) - acc[ROW_PGD10][e]);
        worst_noise = fmax(worst_noise, clean - acc[ROW_NOISE][e]);
    }
    printf("\nsanity checks (Carlini et al. 2019):\n");
    printf("  [%s] PGD never above FGSM: worst PGD - FGSM %+.3f\n", worst_pgd <= slack ? "ok" : "FAIL", worst_pgd);
    printf("  [%s] more steps or restarts never raise accuracy: worst (PGD-50 or restarts) - PGD-10 %+.3f%s\n",
           worst_steps <= slack ? "ok" : "FAIL", worst_steps, worst_steps <= slack ? "" : " (a masked gradient?)");
    printf("  [%s] accuracy at eps %s (unbounded) under PGD-50: %.3f (want ~0)\n", unbounded <= 0.05 ? "ok" : "FAIL",
           c->o.norm == ATTACK_NORM_LINF ? "1" : "sqrt(D)", unbounded);
    printf("  [%s] random noise barely hurts: worst drop %.3f (want <= 0.1)\n", worst_noise <= 0.1 ? "ok" : "WARN", worst_noise);
}

int attack_eval(attack_cli *c) {
    eval_set s = {0};
    int rc = 1;
    float *adv = NULL;
    if (!load_set(c, &s)) goto done;
    int64_t d = 3 * (int64_t)c->size * c->size;
    if (!(adv = malloc(sizeof(float) * (size_t)(CHUNK * d)))) { fprintf(stderr, "atelier attack: out of memory\n"); goto done; }
    if (!c->set_restarts) c->o.restarts = 3;
    int npos = 0, right[ATTACK_MAX_EPS][NROWS] = {{0}}, clean_right = 0, unb_right = 0;
    for (int e = 0; e < c->neps; e++) npos += c->eps[e] > 0;
    int64_t per_image = (int64_t)npos * (1 + 1 + 10 + 10 * c->o.restarts + 50) + 50, done_steps = 0;
    progress p = progress_start(per_image * s.n, c->quiet);
    bool ok = true;
    for (int b = 0; b < s.n && ok; b += CHUNK) {
        int n = s.n - b < CHUNK ? s.n - b : CHUNK;
        const float *x = s.x + b * d;
        const int *y = s.y + b;
        clean_right += correct(c, x, y, n, &ok);
        for (int e = 0; e < c->neps && ok; e++)
            if (c->eps[e] > 0) ok = eval_chunk(c, x, y, n, c->eps[e], right[e], adv, &p, &done_steps);
        if (!ok) break;
        /* the unbounded check: linf eps 1 reaches every image */
        attack_opts o = c->o;
        o.method = ATTACK_METHOD_PGD; o.steps = 50; o.restarts = 1; o.step_size = 0; o.target = -1;
        o.early_stop = true;
        o.eps = c->o.norm == ATTACK_NORM_LINF ? 1.0f : sqrtf((float)d);
        if (attack_run(&c->am, x, y, n, &o, adv) != STATUS_OK) { ok = false; break; }
        unb_right += correct(c, adv, y, n, &ok);
        done_steps += 50 * n;
        progress_update(&p, done_steps, NULL);
    }
    progress_finish(&p, NULL);
    if (!ok) { fprintf(stderr, "atelier attack: --eval: %s\n", error_message()); goto done; }
    double acc[NROWS][ATTACK_MAX_EPS], clean = (double)clean_right / s.n;
    printf("%d images, %s, PGD step 2.5 eps / steps, random start, early stop, %d restarts in PGD-10xR\n\n",
           s.n, attack_norm_name(c->o.norm), c->o.restarts);
    printf("%-10s %8s %8s %8s %10s %8s\n", "eps", "noise", "FGSM", "PGD-10", "PGD-10xR", "PGD-50");
    for (int e = 0; e < c->neps; e++) {
        char lab[32];
        eps_label(c->eps[e], lab, sizeof lab);
        for (int r = 0; r < NROWS; r++) acc[r][e] = c->eps[e] == 0 ? clean : (double)right[e][r] / s.n;
        printf("%-10s %8.3f %8.3f %8.3f %10.3f %8.3f\n", lab, acc[ROW_NOISE][e], acc[ROW_FGSM][e], acc[ROW_PGD10][e],
               acc[ROW_PGD10R][e], acc[ROW_PGD50][e]);
    }
    report_sanity(c, acc, clean, (double)unb_right / s.n, s.n);
    if (c->out) {
        if (!write_plot(c, acc, clean)) goto done;
        printf("\nwrote %s\n", c->out);
    }
    rc = 0;
done:
    free(s.x); free(s.y); free(adv);
    return rc;
}
