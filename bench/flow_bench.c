/* flow_bench.c: measurements of the optical flow and the temporal blend (flow.h) on real
 * frames; not a test (the README's tables come from it).
 *
 *   atelier_flow_bench time [--dump FLOW.f32] FRAME.png FRAME.png [...]
 *       For each DIS preset: milliseconds per consecutive pair, forward + backward (wall and
 *       CPU), the mean end-point error against MEDIUM, the input's warping error with the
 *       preset's own flow and mask, the same over every pixel (mask ignored), and the share
 *       of reliable pixels. --dump writes the first pair's MEDIUM flow (u
 *       plane, then v, float32) for tools/flow_cv2.py --compare.
 *
 *   atelier_flow_bench werr --input DIR --styled DIR [--style IMG] [--weights 0.5,0.7]
 *                           [--style-every K] [--net NAME] [--save DIR]
 *       The warping error (Lai et al. 2018) of the input frames, of the per-frame stylised
 *       frames (same names in --styled) and of their temporal blends at each weight, all
 *       with the input's flows and masks, streamed one pair at a time; with --style, the
 *       style measure (stylize.h's L_style: the Gram distance to IMG on the loss network,
 *       the recipe's style layers) of every K-th output frame [10]. --save: the first
 *       weight's blended frames as DIR/NAME (to look at).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "atelier/flow.h"
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/stylize.h"

#define MAX_FRAMES 4096
#define MAX_WEIGHTS 16

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the process, all threads: on a shared machine wall time counts the waits. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static image *read_or_die(const char *path) {
    image *im = image_read(path, NULL);
    if (!im) { fprintf(stderr, "flow_bench: %s\n", error_message()); exit(1); }
    return im;
}

static double epe(const flow_field *a, const flow_field *b) {
    double acc = 0;
    size_t n = (size_t)a->w * a->h;
    for (size_t i = 0; i < n; i++) {
        double du = a->u[i] - b->u[i], dv = a->v[i] - b->v[i];
        acc += sqrt(du * du + dv * dv);
    }
    return acc / (double)n;
}

static int cmd_time(int argc, char **argv) {
    const char *dump = NULL;
    int first = 0;
    if (argc > 1 && !strcmp(argv[0], "--dump")) { dump = argv[1]; first = 2; }
    int n = argc - first;
    if (n < 2) { fprintf(stderr, "flow_bench time: give at least two frames\n"); return 2; }
    const char *names[] = {"ultrafast", "fast", "medium"};
    printf("%d frames of %s, pairs forward + backward\n", n, argv[first]);
    printf("| preset | wall ms/pair | CPU ms/pair | EPE vs medium (px) | input warping error (own mask) | (every pixel) | reliable |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    flow_field ref[64] = {{0}};
    for (int p = FLOW_PRESET_MEDIUM; p >= FLOW_PRESET_ULTRAFAST; p--) {
        double secs = 0, cpu = 0, err = 0, reliable = 0;
        int pairs = 0;
        flow_werr masked, whole;
        flow_werr_init(&masked);
        flow_werr_init(&whole);
        image *a = read_or_die(argv[first]);
        size_t m = (size_t)a->w * a->h;
        float *mask = malloc(m * sizeof(float)), *ones = malloc(m * sizeof(float));
        for (size_t i = 0; i < m; i++) ones[i] = 1;
        for (int k = 1; k < n; k++) {
            image *b = read_or_die(argv[first + k]);
            flow_field f = {0}, g = {0};
            double t0 = now(), c0 = cpu_now();
            if (flow_compute_opts(a, b, &(flow_opts){(flow_preset)p}, &f) != STATUS_OK ||
                flow_compute_opts(b, a, &(flow_opts){(flow_preset)p}, &g) != STATUS_OK) {
                fprintf(stderr, "flow_bench: %s\n", error_message());
                return 1;
            }
            secs += now() - t0;
            cpu += cpu_now() - c0;
            flow_occlusion(&f, &g, mask);
            for (size_t i = 0; i < m; i++) reliable += mask[i] / (double)m;
            flow_werr_add(&masked, a, b, &f, mask);
            flow_werr_add(&whole, a, b, &f, ones);
            if (p == FLOW_PRESET_MEDIUM && k == 1 && dump) {
                FILE *fp = fopen(dump, "wb");
                if (!fp || fwrite(f.u, 4, m, fp) != m || fwrite(f.v, 4, m, fp) != m || fclose(fp)) {
                    fprintf(stderr, "flow_bench: cannot write %s\n", dump);
                    return 1;
                }
            }
            if (p == FLOW_PRESET_MEDIUM && k - 1 < 64) ref[k - 1] = f;
            else {
                if (k - 1 < 64) err += epe(&f, &ref[k - 1]);
                flow_field_free(&f);
            }
            flow_field_free(&g);
            image_free(a);
            a = b;
            pairs++;
        }
        image_free(a);
        free(mask);
        free(ones);
        printf("| %s | %.1f | %.1f | ", names[p], 1000 * secs / pairs, 1000 * cpu / pairs);
        if (p != FLOW_PRESET_MEDIUM) printf("%.3f", err / (pairs < 64 ? pairs : 64));
        printf(" | %.5f | %.5f | %.3f |\n", flow_werr_value(&masked), flow_werr_value(&whole), reliable / pairs);
    }
    for (int k = 0; k < 64; k++) flow_field_free(&ref[k]);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The .png/.jpg names in dir, sorted; returns the count. */
static int list_frames(const char *dir, char **names) {
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "flow_bench: cannot open %s\n", dir); exit(1); }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_FRAMES) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot && (!strcmp(dot, ".png") || !strcmp(dot, ".jpg"))) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    return n;
}

static image *frame_at(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return read_or_die(path);
}

/* The style measure: L_style of stylize.h against the style's Gram matrices. */
typedef struct style_measure {
    featnet *fn;
    int n;
    char names[16][64];
    const char *np[16];
    float w[16];
    tensor *gram[16];
    double norm[16];
    arena *keep;
} style_measure;

static status grams_of(style_measure *m, arena *a, const image *im, tensor **g) {
    tensor *f[16], *x = image_to_tensor(a, im);
    if (!x) return error_status();
    if (im->c == 4) x = op_slice(a, x, 1, 0, 3);
    status s = featnet_forward(m->fn, a, x, m->n, m->np, f);
    for (int l = 0; s == STATUS_OK && l < m->n; l++)
        if (!(g[l] = op_gram(a, f[l]))) s = error_status();
    return s;
}

static double measure(style_measure *m, const image *im) {
    arena *a = arena_new(64 << 20);
    tensor *g[16];
    double d = 0;
    if (grams_of(m, a, im, g) != STATUS_OK) { fprintf(stderr, "flow_bench: %s\n", error_message()); exit(1); }
    for (int l = 0; l < m->n; l++) {
        double acc = 0;
        for (int64_t i = 0; i < g[l]->numel; i++) {
            double e = g[l]->data[i] - m->gram[l]->data[i];
            acc += e * e;
        }
        d += m->w[l] * acc / (double)g[l]->numel * m->norm[l];
    }
    arena_free(a);
    return d;
}

static void measure_init(style_measure *m, const char *net, const char *style_path, int side) {
    stylize_net *sn = stylize_net_open(net ? net : stylize_default_net(NULL), NULL, NULL, stylize_default_pool(true));
    if (!sn) { fprintf(stderr, "flow_bench: %s\n", error_message()); exit(1); }
    stylize_opts o = stylize_net_defaults(sn);
    m->fn = stylize_net_featnet(sn);   /* kept for the run (the wrapper leaks by design here) */
    m->n = stylize_net_layers(m->fn, o.style_layers, m->names, m->w, 16);
    if (m->n < 1) { fprintf(stderr, "flow_bench: %s\n", error_message()); exit(1); }
    double sum = 0;
    for (int l = 0; l < m->n; l++) { m->np[l] = m->names[l]; sum += m->w[l]; }
    for (int l = 0; l < m->n; l++) m->w[l] = (float)(m->w[l] / sum);
    image *s = read_or_die(style_path), *r = image_resize_long_side(s, side);
    m->keep = arena_new(64 << 20);
    arena *a = arena_new(256 << 20);
    tensor *g[16];
    if (!r || grams_of(m, a, r, g) != STATUS_OK) { fprintf(stderr, "flow_bench: %s\n", error_message()); exit(1); }
    for (int l = 0; l < m->n; l++) {
        m->gram[l] = tensor_copy(m->keep, g[l]);
        double ms = 0;
        for (int64_t i = 0; i < g[l]->numel; i++) ms += (double)g[l]->data[i] * g[l]->data[i];
        m->norm[l] = ms > 0 ? g[l]->numel / ms : 0;
    }
    printf("style measure: %s, layers %s, style image at %d px\n", featnet_name(m->fn), o.style_layers, side);
    arena_free(a);
    image_free(s);
    image_free(r);
}

static int cmd_werr(int argc, char **argv) {
    const char *in_dir = NULL, *sty_dir = NULL, *style = NULL, *net = NULL, *wlist = "0.5,0.7,0.8,0.9";
    const char *save = NULL;
    int every = 10;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--input")) in_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--styled")) sty_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--style")) style = argv[i + 1];
        else if (!strcmp(argv[i], "--weights")) wlist = argv[i + 1];
        else if (!strcmp(argv[i], "--style-every")) every = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--net")) net = argv[i + 1];
        else if (!strcmp(argv[i], "--save")) save = argv[i + 1];
        else { fprintf(stderr, "flow_bench werr: unknown option %s\n", argv[i]); return 2; }
    }
    if (!in_dir || !sty_dir || every < 1) { fprintf(stderr, "flow_bench werr: give --input DIR --styled DIR\n"); return 2; }
    float wts[MAX_WEIGHTS];
    int nw = 0;
    for (char *p = (char *)wlist; *p && nw < MAX_WEIGHTS;) {
        wts[nw++] = strtof(p, &p);
        if (*p == ',') p++;
    }
    static char *names[MAX_FRAMES];
    int n = list_frames(in_dir, names);
    if (n < 2) { fprintf(stderr, "flow_bench: fewer than 2 frames in %s\n", in_dir); return 1; }
    image *in_prev = frame_at(in_dir, names[0]), *sty_prev = frame_at(sty_dir, names[0]);
    int w = in_prev->w, h = in_prev->h;
    style_measure sm = {0};
    if (style) measure_init(&sm, net, style, w > h ? w : h);
    image *out_prev[MAX_WEIGHTS];
    flow_werr e_in, e_sty, e_out[MAX_WEIGHTS];
    double st_sty = 0, st_out[MAX_WEIGHTS] = {0}, flow_secs = 0;
    int st_n = 0;
    flow_werr_init(&e_in);
    flow_werr_init(&e_sty);
    for (int k = 0; k < nw; k++) { flow_werr_init(&e_out[k]); out_prev[k] = image_copy(sty_prev); }
    float *mask_f = malloc(sizeof(float) * w * h), *mask_b = malloc(sizeof(float) * w * h);
    image *warped = image_new(w, h, 3);
    for (int t = 1; t < n; t++) {
        image *in = frame_at(in_dir, names[t]), *sty = frame_at(sty_dir, names[t]);
        if (sty->w != w || sty->h != h || in->w != w || in->h != h) {
            fprintf(stderr, "flow_bench: %s: sizes differ\n", names[t]);
            return 1;
        }
        flow_field fwd = {0}, bwd = {0};
        double t0 = now();
        if (flow_pair_compute(in_prev, in, &fwd, &bwd, mask_f) != STATUS_OK ||
            flow_occlusion(&bwd, &fwd, mask_b) != STATUS_OK) {
            fprintf(stderr, "flow_bench: %s\n", error_message());
            return 1;
        }
        flow_secs += now() - t0;
        /* the error of the pair (t-1, t) with the input's forward flow and mask */
        flow_werr_add(&e_in, in_prev, in, &fwd, mask_f);
        flow_werr_add(&e_sty, sty_prev, sty, &fwd, mask_f);
        bool measure_now = style && t % every == 0;
        if (measure_now) { st_sty += measure(&sm, sty); st_n++; }
        for (int k = 0; k < nw; k++) {
            image *out = image_new(w, h, 3);
            flow_warp(out_prev[k], &bwd, warped);               /* the previous output, here */
            flow_blend(sty, warped, mask_b, wts[k], out);
            flow_werr_add(&e_out[k], out_prev[k], out, &fwd, mask_f);
            if (measure_now) st_out[k] += measure(&sm, out);
            if (save && k == 0) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", save, names[t]);
                if (image_write(path, out, NULL) != STATUS_OK) { fprintf(stderr, "flow_bench: %s\n", error_message()); return 1; }
            }
            image_free(out_prev[k]);
            out_prev[k] = out;
        }
        flow_field_free(&fwd);
        flow_field_free(&bwd);
        image_free(in_prev);
        image_free(sty_prev);
        in_prev = in;
        sty_prev = sty;
        fprintf(stderr, "\r%d/%d", t, n - 1);
    }
    fprintf(stderr, "\n");
    printf("%d frames %dx%d from %s; flow (fwd+bwd+mask) %.1f ms per pair\n", n, w, h, in_dir,
           1000 * flow_secs / (n - 1));
    printf("| output | warping error | vs per-frame | vs input |%s\n", style ? " style measure | vs per-frame |" : "");
    printf("| --- | --- | --- | --- |%s\n", style ? " --- | --- |" : "");
    double ei = flow_werr_value(&e_in), es = flow_werr_value(&e_sty);
    printf("| input | %.5f | %.2f | 1.00 |%s\n", ei, ei / es, style ? " | |" : "");
    printf("| per-frame | %.5f | 1.00 | %.2f |", es, es / ei);
    if (style) printf(" %.4f | 1.00 |", st_sty / st_n);
    printf("\n");
    for (int k = 0; k < nw; k++) {
        double eo = flow_werr_value(&e_out[k]);
        printf("| blend %.2f | %.5f | %.2f | %.2f |", wts[k], eo, eo / es, eo / ei);
        if (style) printf(" %.4f | %.3f |", st_out[k] / st_n, st_out[k] / st_sty);
        printf("\n");
        image_free(out_prev[k]);
    }
    image_free(in_prev);
    image_free(sty_prev);
    image_free(warped);
    free(mask_f);
    free(mask_b);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "time")) return cmd_time(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "werr")) return cmd_werr(argc - 2, argv + 2);
    fprintf(stderr, "usage: atelier_flow_bench time [--dump FLOW.f32] FRAMES...\n"
                    "       atelier_flow_bench werr --input DIR --styled DIR [--style IMG] [--weights W,...]\n"
                    "                               [--style-every K] [--net NAME]\n");
    return 2;
}
