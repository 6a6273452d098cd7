/* cmd_video.c: `atelier video IN -o OUT`: a video stylised frame by frame, by a fast style
 * network (stylenet.h, the default) or by optimisation (stylize.h, -s PAINTING), made
 * steady by optical flow (flow.h: each stylised frame blended with the previous output
 * warped onto it, where the occlusion mask says the warp is reliable). Frames stream
 * through video.h; --report measures the flicker (Lai et al.'s warping error) and the style
 * (Gram distance to the painting) of the per-frame and the consistent results. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/flow.h"
#include "atelier/stylenet.h"
#include "atelier/stylize.h"
#include "atelier/video.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"

#define CMD "video"
#define MAX_STYLES 16
#define REPORT_SAMPLES 8            /* frames the style measure is taken on, by default */
#define DEFAULT_ITERATIONS 100      /* optimisation, per frame */
#define DEFAULT_TEMPORAL_WEIGHT 50  /* optimisation, relative to the content weight */
/* The fast path's blend weight, with the detail restored (restore_detail below): measured
 * on the first 2 s of the kit's Big Buck Bunny in vangogh_starry_night (README, "Video"):
 *   weight, detail radius    warping error / per-frame's   style distance / per-frame's
 *   0.7, none (flow_blend)             0.18                       2.57
 *   0.7, 4 px                          0.22                       1.39
 *   0.7, 12 px                         0.20                       2.01
 *   0.85, 4 px                         0.15                       2.11
 *   0.5, 4 px                          0.38                       1.00
 *   0.7, 2 px                          0.24                       1.03
 * The last meets both of the targets (at most half the flicker, style within 10%);
 * flow.h's FLOW_DEFAULT_BLEND (0.35) is the best weight without the detail step. */
#define VIDEO_DEFAULT_BLEND 0.7f

typedef struct video_cli {
    const char *in, *out, *model, *mix, *styles[MAX_STYLES], *report_style, *net, *models_dir;
    int nstyles, size, crf, temporal, iterations, report_frames, report_phases;   /* temporal: -1 unset */
    float strength, blend, temporal_weight;
    double start, duration, fps;
    bool preserve_colors, report, quiet, detail;
} video_cli;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static void video_usage(FILE *f) {
    fprintf(f,
        "usage: atelier video IN -o OUT [--model NAME|FILE] [-s STYLE] [options]\n"
        "       atelier video IN -o OUT -s PAINTING.jpg [options]   (optimisation)\n\n"
        "Stylises a video frame by frame and keeps it steady with optical flow (OpenCV's DIS):\n"
        "each stylised frame is blended with the previous output warped onto it, where the\n"
        "forward-backward check says the warp is reliable (Ruder et al. 2016). Through FFmpeg's\n"
        "libraries; frames stream through (memory does not grow with the length).\n\n"
        "IN   any video FFmpeg reads (MP4/H.264, WebM/VP9, MOV, MKV...) or a folder of numbered\n"
        "     PNG/JPEG frames (%g frames a second unless --fps)\n"
        "OUT  by its name: .mp4/.mov (H.264, yuv420p), .webm/.mkv (VP9), .gif (animated; frames\n"
        "     held in memory, at most %lld pixels of frames), or a folder (a name ending in /\n"
        "     or without an extension: frame_000001.png, ...). The frame rate, duration and\n"
        "     audio are kept: audio is copied packet for packet where the container takes its\n"
        "     codec (AAC into MP4), else re-encoded (Opus into WebM); none in GIFs and folders.\n"
        "     A rotated phone video is written upright (the rotation is baked in). Written to a\n"
        "     temporary name and renamed at the end: on an error or Ctrl-C there is no OUT.\n\n"
        "style (the fast path, the default: a network paints each frame in a fraction of a second):\n"
        "  --model NAME|FILE        kit-styles (built in; `atelier style-net show kit-styles`) or\n"
        "                           a file from `atelier style-net train` [kit-styles]\n"
        "  -s, --style NAME|INDEX   one of the model's styles (repeat: an equal blend) [the first]\n"
        "  --mix NAME:W,NAME:W      a blend of its styles, weights normalised to sum 1\n"
        "  --strength F             0 (the video) .. 1 (the full style) [1]\n"
        "  --preserve-colors        keep the video's colours (the painting's luminance only)\n"
        "optimisation (-s names an image file: Gatys et al. with Ruder et al.'s temporal term;\n"
        "minutes per frame at 640x360 on 2 cores: for short clips, or small --size):\n"
        "  -s, --style PAINTING     the style image\n"
        "  --iterations N           L-BFGS iterations per frame [%d]\n"
        "  --temporal-weight D      the temporal term's weight (flow.h) [%d]\n"
        "  --net NAME|PATH          the feature network [%s here]\n"
        "  --models-dir DIR         look for networks here first\n"
        "temporal consistency:\n"
        "  --temporal, --no-temporal  blend with the warped previous output [on]\n"
        "  --blend W                the blend's weight 0..1 (0: per frame) [%g]\n"
        "  --no-detail              do not give the blend back the detail energy of one frame\n"
        "                           (variance-preserving blend; without it the strokes fade) [on]\n"
        "the part and the size:\n"
        "  --start S                seconds from the beginning [0]\n"
        "  --duration S             seconds [to the end]\n"
        "  --size PX                long side of the frames [the video's]\n"
        "  --fps F                  frames a second (frames dropped or repeated) [the video's]\n"
        "  --crf N                  quality: H.264 0..51, VP9 0..63, lower is better [23, 32]\n"
        "measure:\n"
        "  --report                 print the warping error (Lai et al. 2018) of the input, the\n"
        "                           per-frame and the consistent stylisation, and their style\n"
        "                           distance (Gram, on the loss network) to the painting, side by\n"
        "                           side (computes both stylisations; OUT gets the one asked for)\n"
        "  --report-style FILE      the painting for the style distance (the fast path; with\n"
        "                           -s PAINTING, that one)\n"
        "  --report-frames N        frames the style distance is measured on, evenly spaced [%d]\n"
        "  --report-phases N        average it over NxN offsets of each frame, 1..8 (4 takes out\n"
        "                           the loss network's stride: a painting moved by 2 px then reads\n"
        "                           2%%, not 11%%, apart; N*N times the style measure's time) [1]\n"
        "  --quiet                  no progress bar\n"
        "  -h, --help               this text\n",
        VIDEO_FOLDER_FPS, (long long)VIDEO_GIF_MAX_PIXELS, DEFAULT_ITERATIONS, DEFAULT_TEMPORAL_WEIGHT,
        stylize_default_net(NULL), VIDEO_DEFAULT_BLEND, REPORT_SAMPLES);
}

static bool parse_value(video_cli *c, const char *opt, const char *v) {
    if (!strcmp(opt, "-o") || !strcmp(opt, "--output")) c->out = v;
    else if (!strcmp(opt, "-s") || !strcmp(opt, "--style")) {
        if (c->nstyles == MAX_STYLES) { fprintf(stderr, "atelier %s: at most %d styles\n", CMD, MAX_STYLES); return false; }
        c->styles[c->nstyles++] = v;
    } else if (!strcmp(opt, "--model")) c->model = v;
    else if (!strcmp(opt, "--mix")) c->mix = v;
    else if (!strcmp(opt, "--strength")) return arg_float(CMD, opt, v, 0, 1, &c->strength);
    else if (!strcmp(opt, "--iterations")) return arg_int(CMD, opt, v, 0, 100000, &c->iterations);
    else if (!strcmp(opt, "--temporal-weight")) return arg_float(CMD, opt, v, 0, 1e9, &c->temporal_weight);
    else if (!strcmp(opt, "--net")) c->net = v;
    else if (!strcmp(opt, "--models-dir")) c->models_dir = v;
    else if (!strcmp(opt, "--blend")) return arg_float(CMD, opt, v, 0, 1, &c->blend);
    else if (!strcmp(opt, "--size")) return arg_int(CMD, opt, v, 16, 8192, &c->size);
    else if (!strcmp(opt, "--crf")) return arg_int(CMD, opt, v, 0, 63, &c->crf);
    else if (!strcmp(opt, "--report-style")) c->report_style = v;
    else if (!strcmp(opt, "--report-frames")) return arg_int(CMD, opt, v, 1, 1000000, &c->report_frames);
    else if (!strcmp(opt, "--report-phases")) return arg_int(CMD, opt, v, 1, 8, &c->report_phases);
    else if (!strcmp(opt, "--start") || !strcmp(opt, "--duration") || !strcmp(opt, "--fps")) {
        float x;
        if (!arg_float(CMD, opt, v, !strcmp(opt, "--start") ? 0 : 1e-3, !strcmp(opt, "--fps") ? 1000 : 1e7, &x)) return false;
        if (!strcmp(opt, "--start")) c->start = x;
        else if (!strcmp(opt, "--duration")) c->duration = x;
        else c->fps = x;
    } else {
        fprintf(stderr, "atelier %s: unknown option '%s' (atelier video --help lists them)\n", CMD, opt);
        return false;
    }
    return true;
}

/* 1: --help shown, 0: parsed, -1: error (message printed). */
static int video_parse(int argc, char **argv, video_cli *c) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (a[0] != '-' || !a[1]) {
            if (c->in) { fprintf(stderr, "atelier %s: one input only ('%s' and '%s')\n", CMD, c->in, a); return -1; }
            c->in = a;
            continue;
        }
        if (!strcmp(a, "--temporal")) { c->temporal = 1; continue; }
        if (!strcmp(a, "--no-temporal")) { c->temporal = 0; continue; }
        if (!strcmp(a, "--preserve-colors")) { c->preserve_colors = true; continue; }
        if (!strcmp(a, "--report")) { c->report = true; continue; }
        if (!strcmp(a, "--no-detail")) { c->detail = false; continue; }
        if (!strcmp(a, "--quiet")) { c->quiet = true; continue; }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return -1; }
        if (!parse_value(c, opt, v)) return -1;
    }
    if (!c->in) { fprintf(stderr, "atelier %s: no input video (atelier video --help)\n", CMD); return -1; }
    if (!c->out) { fprintf(stderr, "atelier %s: no output: give one with -o OUT\n", CMD); return -1; }
    if (c->mix && c->nstyles) { fprintf(stderr, "atelier %s: give --style NAME or --mix, not both\n", CMD); return -1; }
    if (!video_output_kind(c->out)) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); return -1; }
    if (c->temporal < 0) c->temporal = 1;
    return 0;
}

/* -s names an image file: the optimisation path. */
static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* What paints a frame: a fast network, or optimisation against a painting. */
typedef struct painter {
    stylenet *model;
    float *mix;
    stylenet_paint_opts po;
    stylize_net *net;        /* the optimisation's network, and the style measure's */
    image *painting;         /* the optimisation's style, or --report-style */
    stylize_opts so;
} painter;

static void painter_free(painter *p) {
    stylenet_free(p->model);
    free(p->mix);
    stylize_net_free(p->net);
    image_free(p->painting);
}

static bool painter_open(const video_cli *c, painter *p, bool optimise) {
    if (optimise || c->report) {
        const char *style = optimise ? c->styles[0] : c->report_style;
        if (!(p->painting = image_read(style, NULL))) { fprintf(stderr, "atelier %s: style image: %s\n", CMD, error_message()); return false; }
        const char *netname = c->net ? c->net : stylize_default_net(c->models_dir);
        if (!(p->net = stylize_net_open(netname, c->models_dir, NULL, stylize_default_pool(!strcmp(netname, "vgg19"))))) {
            fprintf(stderr, "atelier %s: --net %s: %s\n", CMD, netname, error_message());
            return false;
        }
        p->so = stylize_net_defaults(p->net);
        p->so.multires = 1;
    }
    if (optimise) {
        p->so.iterations = c->iterations;
        return true;
    }
    if (!(p->model = stylenet_load(c->model ? c->model : "kit-styles"))) {
        fprintf(stderr, "atelier %s: --model %s\n", CMD, error_message());
        return false;
    }
    if (!(p->mix = calloc((size_t)p->model->nstyles, sizeof(float)))) { fprintf(stderr, "atelier %s: out of memory\n", CMD); return false; }
    if (!stylize_fast_mix(CMD, p->model, c->mix, c->styles, c->nstyles, p->mix)) return false;
    p->po = stylenet_paint_defaults();
    p->po.mix = p->mix;
    p->po.strength = c->strength;
    p->po.preserve_colors = c->preserve_colors;
    return true;
}

/* One frame painted. Optimisation starts from init (the warped previous output, or NULL:
 * the frame) and, with a prior, adds the temporal term on the mask's reliable pixels. */
static image *paint(painter *p, const image *frame, const image *init, const image *prior, const float *mask,
                    float temporal_weight) {
    if (p->model) return stylenet_paint(p->model, frame, &p->po);
    stylize_opts o = p->so;
    o.size = frame->w > frame->h ? frame->w : frame->h;
    if (init) { o.init = STYLIZE_INIT_IMAGE; o.init_image = init; }
    if (prior && temporal_weight > 0) {
        o.temporal_weight = temporal_weight * o.content_weight;
        o.prior = prior;
        o.prior_mask = mask;
    }
    return stylize_run(p->net, frame, (const image *const[]){p->painting}, 1, &o, NULL);
}

/* The style distance of a frame to the painting: stylize's unweighted style term
 * (sum_l w_l mean((G_l(x) - G_l(s))^2) / mean(G_l(s)^2)) on its loss network, evaluated
 * without optimising (iterations 0 from the frame itself). */
static bool style_distance1(painter *p, const image *frame, double *out) {
    stylize_opts o = p->so;
    o.size = frame->w > frame->h ? frame->w : frame->h;
    o.iterations = 0;
    o.init = STYLIZE_INIT_IMAGE;
    o.init_image = frame;
    o.temporal_weight = 0;
    stylize_result r;
    image *im = stylize_run(p->net, frame, (const image *const[]){p->painting}, 1, &o, &r);
    if (!im) return false;
    image_free(im);
    *out = r.style;
    return true;
}

/* The style distance averaged over the frame's phases-by-phases top-left crops (offsets 0 ..
 * phases-1 px): the loss network's strided stem (InceptionV3: stride 2, then a stride-2
 * pool) reads a fine texture differently at each offset, so one reading moves with a
 * translation: kit-styles' vangogh_starry_night per-frame on Sintel, moved by 1, 2, 3 px,
 * reads 1.06x, 1.11x, 1.14x its own distance (monet_charing_cross_bridge up to 1.15x); the
 * mean over 4x4 offsets moved 1.02x for 2 px. */
static bool style_distance(painter *p, const image *frame, int phases, double *out) {
    if (phases <= 1) return style_distance1(p, frame, out);
    double acc = 0;
    for (int dy = 0; dy < phases; dy++)
        for (int dx = 0; dx < phases; dx++) {
            int w = frame->w - dx, h = frame->h - dy;
            image *c = image_new(w, h, 3);
            if (!c) return false;
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < h; y++)
                    memcpy(c->data + ((size_t)ch * h + y) * w,
                           frame->data + ((size_t)ch * frame->h + y + dy) * frame->w + dx, sizeof(float) * w);
            double d;
            bool ok = style_distance1(p, c, &d);
            image_free(c);
            if (!ok) return false;
            acc += d;
        }
    *out = acc / (phases * phases);
    return true;
}

/* A box blur of one plane (h, w) into out, radius r, borders clamped: two separable passes
 * with running sums. tmp is (h, w). */
static void box_blur(const float *in, int w, int h, int r, float *tmp, float *out) {
    for (int y = 0; y < h; y++) {
        const float *row = in + (size_t)y * w;
        double acc = 0;
        for (int x = -r; x <= r; x++) acc += row[x < 0 ? 0 : x >= w ? w - 1 : x];
        for (int x = 0; x < w; x++) {
            tmp[(size_t)y * w + x] = (float)(acc / (2 * r + 1));
            int add = x + r + 1, sub = x - r;
            acc += row[add >= w ? w - 1 : add] - row[sub < 0 ? 0 : sub];
        }
    }
    for (int x = 0; x < w; x++) {
        double acc = 0;
        for (int y = -r; y <= r; y++) acc += tmp[(size_t)(y < 0 ? 0 : y >= h ? h - 1 : y) * w + x];
        for (int y = 0; y < h; y++) {
            out[(size_t)y * w + x] = (float)(acc / (2 * r + 1));
            int add = y + r + 1, sub = y - r;
            acc += tmp[(size_t)(add >= h ? h - 1 : add) * w + x] - tmp[(size_t)(sub < 0 ? 0 : sub) * w + x];
        }
    }
}

/* Blending uncorrelated strokes averages them away: the blend's detail (the image less its
 * local mean) has less energy than one stylised frame's, and the painting's texture fades
 * (the Gram distance grows). As the variance-preserving blend of Heitz and Neyret 2018
 * does, the detail is scaled back: per plane, o = L(o) + g (o - L(o)) with
 * g = sqrt(sum (s - L(s))^2 / sum (o - L(o))^2) in [1, DETAIL_MAX_GAIN], L a box blur of
 * radius DETAIL_RADIUS, s the frame stylised on its own. One gain per frame and plane, so
 * the blend's steadiness is kept. */
#define DETAIL_RADIUS 2
#define DETAIL_MAX_GAIN 3.0
static bool restore_detail(const image *s, image *o) {
    int w = o->w, h = o->h;
    size_t n = (size_t)w * h;
    float *tmp = malloc(sizeof(float) * n), *ls = malloc(sizeof(float) * n), *lo = malloc(sizeof(float) * n);
    bool ok = tmp && ls && lo;
    for (int c = 0; ok && c < 3; c++) {
        const float *sp = s->data + c * n;
        float *op = o->data + c * n;
        box_blur(sp, w, h, DETAIL_RADIUS, tmp, ls);
        box_blur(op, w, h, DETAIL_RADIUS, tmp, lo);
        double es = 0, eo = 0;
        for (size_t i = 0; i < n; i++) {
            es += (double)(sp[i] - ls[i]) * (sp[i] - ls[i]);
            eo += (double)(op[i] - lo[i]) * (op[i] - lo[i]);
        }
        double g = eo > 0 ? sqrt(es / eo) : 1;
        g = g < 1 ? 1 : g > DETAIL_MAX_GAIN ? DETAIL_MAX_GAIN : g;
        for (size_t i = 0; i < n; i++) {
            float v = lo[i] + (float)g * (op[i] - lo[i]);
            op[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    free(tmp);
    free(ls);
    free(lo);
    if (!ok) error_set(STATUS_NOMEM, "out of memory");
    return ok;
}

/* The streamed state: the previous input, per-frame and consistent frames. */
typedef struct stream {
    image *prev_in, *prev_pf, *prev_out;
    flow_field fwd, bwd;     /* current -> previous, previous -> current (input frames) */
    float *mask, *mask_prev; /* the current frame's mask (blend); the previous one's (report) */
    flow_werr werr[4];       /* input, per-frame, consistent; the floor (flow_werr_add_floor) */
    double style[2], t_paint, t_flow;
    int style_n;
} stream;

static void stream_free(stream *s) {
    image_free(s->prev_in);
    image_free(s->prev_pf);
    image_free(s->prev_out);
    flow_field_free(&s->fwd);
    flow_field_free(&s->bwd);
    free(s->mask);
    free(s->mask_prev);
}

/* One frame through: painted, made consistent, measured. *out is what OUT gets. */
static bool step(const video_cli *c, painter *p, stream *s, image *frame, int64_t k, int64_t sample_every, image **out) {
    bool optimise = p->model == NULL;
    bool need_flow = (c->temporal || c->report) && s->prev_in;
    image *warped = NULL, *pf = NULL, *cons = NULL;
    double t0 = progress_now();
    if (need_flow) {
        if (!s->mask && !(s->mask = malloc(sizeof(float) * (size_t)frame->w * frame->h))) goto oom;
        flow_field_free(&s->fwd);
        flow_field_free(&s->bwd);
        if (flow_pair_compute(frame, s->prev_in, &s->fwd, &s->bwd, s->mask) != STATUS_OK) goto fail;
        if (!(warped = image_new(frame->w, frame->h, 3))) goto fail;
        /* bicubic: the blend resamples its own past every frame, and bilinear would soften
         * the finest strokes more each time (flow.h, flow_warp_cubic) */
        if (flow_warp_cubic(s->prev_out, &s->fwd, warped) != STATUS_OK) goto fail;
        for (size_t i = 0; i < (size_t)3 * warped->w * warped->h; i++)
            warped->data[i] = warped->data[i] < 0 ? 0 : warped->data[i] > 1 ? 1 : warped->data[i];
    }
    double t1 = progress_now();
    s->t_flow += t1 - t0;
    if (optimise) {
        /* per frame: from the previous output, unwarped; consistent: from the warped one
         * with the temporal term */
        if (!c->temporal || c->report)
            if (!(pf = paint(p, frame, s->prev_pf, NULL, NULL, 0))) goto fail;
        if (c->temporal) {
            if (!(cons = paint(p, frame, warped, warped, s->mask, c->temporal_weight))) goto fail;
        } else if (!(cons = image_copy(pf))) goto fail;
        if (!pf && !(pf = image_copy(cons))) goto fail;
    } else {
        if (!(pf = paint(p, frame, NULL, NULL, NULL, 0))) goto fail;
        if (!(cons = image_copy(pf))) goto fail;
        double t2 = progress_now();
        if (warped && flow_blend(pf, warped, s->mask, c->blend, cons) != STATUS_OK) goto fail;
        if (warped && c->detail && !restore_detail(pf, cons)) goto fail;
        s->t_flow += progress_now() - t2;
    }
    s->t_paint += progress_now() - t1;
    if (c->report) {
        if (need_flow) {
            /* the warping error of pair (k-1, k): the input's flow k-1 -> k and its mask */
            if (!s->mask_prev && !(s->mask_prev = malloc(sizeof(float) * (size_t)frame->w * frame->h))) goto oom;
            if (flow_occlusion(&s->bwd, &s->fwd, s->mask_prev) != STATUS_OK ||
                flow_werr_add(&s->werr[0], s->prev_in, frame, &s->bwd, s->mask_prev) != STATUS_OK ||
                flow_werr_add(&s->werr[1], s->prev_pf, pf, &s->bwd, s->mask_prev) != STATUS_OK ||
                flow_werr_add(&s->werr[2], s->prev_out, cons, &s->bwd, s->mask_prev) != STATUS_OK ||
                flow_werr_add_floor(&s->werr[3], s->prev_pf, &s->bwd, &s->fwd, s->mask_prev) != STATUS_OK)
                goto fail;
        }
        if (k % sample_every == 0) {
            double a, b;
            if (!style_distance(p, pf, c->report_phases, &a) || !style_distance(p, cons, c->report_phases, &b)) goto fail;
            s->style[0] += a, s->style[1] += b;
            s->style_n++;
        }
    }
    image_free(warped);
    image_free(s->prev_in);
    image_free(s->prev_pf);
    image_free(s->prev_out);
    s->prev_in = frame;
    s->prev_pf = pf;
    s->prev_out = cons;
    *out = c->temporal ? cons : pf;
    return true;
oom:
    error_set(STATUS_NOMEM, "out of memory");
fail:
    image_free(warped);
    image_free(pf);
    image_free(cons);
    image_free(frame);
    return false;
}

static void print_report(const video_cli *c, const painter *p, const stream *s, const video_info *vi, int64_t n) {
    double e[4];
    for (int i = 0; i < 4; i++) e[i] = flow_werr_value(&s->werr[i]);
    double st[2] = {s->style_n ? s->style[0] / s->style_n : NAN, s->style_n ? s->style[1] / s->style_n : NAN};
    printf("report: %s, %lld frames of %dx%d at %g fps; style distance on %d frames (network %s)\n", c->in,
           (long long)n, vi->width, vi->height, vi->fps, s->style_n, c->net ? c->net : stylize_default_net(c->models_dir));
    printf("  %-12s %14s %14s\n", "", "warping error", "style dist.");
    printf("  %-12s %14.6f %14s\n", "input", e[0], "-");
    printf("  %-12s %14.6f %14.6f\n", "per-frame", e[1], st[0]);
    printf("  %-12s %14.6f %14.6f\n", "consistent", e[2], st[1]);
    printf("  %-12s %14.6f %14s   (each per-frame frame carried on by the flow: no flicker at all)\n", "floor", e[3], "-");
    printf("  consistent / per-frame: warping error %.3fx, style %.3fx; consistent / input: warping error %.3fx;\n"
           "  consistent / floor: warping error %.3fx (the floor / input: %.3fx, how much finer the painting's texture\n"
           "  is than the input's; a video at the floor does not flicker)\n",
           e[1] > 0 ? e[2] / e[1] : NAN, st[0] > 0 ? st[1] / st[0] : NAN, e[0] > 0 ? e[2] / e[0] : NAN,
           e[3] > 0 ? e[2] / e[3] : NAN, e[0] > 0 ? e[3] / e[0] : NAN);
    (void)p;
}

int cmd_video(int argc, char **argv) {
    video_cli c = {.strength = 1, .detail = true, .blend = VIDEO_DEFAULT_BLEND, .temporal = -1, .crf = -1,
                   .iterations = DEFAULT_ITERATIONS, .report_frames = REPORT_SAMPLES, .report_phases = 1, .temporal_weight = DEFAULT_TEMPORAL_WEIGHT};
    int parsed = video_parse(argc, argv, &c);
    if (parsed > 0) { video_usage(stdout); return 0; }
    if (parsed < 0) return 2;
    bool optimise = !c.model && c.nstyles == 1 && is_file(c.styles[0]);
    if (optimise && (c.mix || c.strength != 1 || c.preserve_colors)) {
        fprintf(stderr, "atelier %s: --mix, --strength and --preserve-colors are for fast networks (--model)\n", CMD);
        return 2;
    }
    if (c.report && !optimise && !c.report_style) {
        fprintf(stderr, "atelier %s: --report needs the painting for its style distance: --report-style FILE\n", CMD);
        return 2;
    }
    /* Ctrl-C (and kill) stop the loop, which removes the temporary output: before anything
     * is written */
    struct sigaction sa = {.sa_handler = on_sigint}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    video_read_opts ro = video_read_defaults();
    ro.start = c.start, ro.duration = c.duration, ro.size = c.size, ro.fps = c.fps;
    painter p = {0};
    stream s = {0};
    video_writer *w = NULL;
    int rc = 1;
    int64_t n = 0;
    video_reader *r = video_open(c.in, &ro);
    if (!r) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); rc = 1; goto done; }
    const video_info *vi = video_reader_info(r);
    if (!painter_open(&c, &p, optimise)) goto done;
    for (int i = 0; i < 4; i++) flow_werr_init(&s.werr[i]);
    video_write_opts wo = video_write_defaults();
    wo.fps = vi->fps;
    wo.crf = c.crf;
    if (vi->has_audio && !vi->is_folder) {
        wo.audio_from = c.in;
        wo.audio_start = c.start, wo.audio_duration = c.duration;
    }
    if (!(w = video_writer_open(c.out, vi->width, vi->height, &wo))) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); goto done; }
    int64_t total = vi->frames > 0 ? vi->frames : 0;
    int64_t sample_every = total > c.report_frames ? total / c.report_frames : 1;
    progress bar = progress_start(total, c.quiet);
    double t0 = progress_now();
    for (;;) {
        image *frame, *out;
        int got = video_read_frame(r, &frame);
        if (got < 0) { fprintf(stderr, "%satelier %s: %s\n", bar.tty && !c.quiet ? "\n" : "", CMD, error_message()); break; }
        if (got == 0) { rc = 0; break; }
        if (interrupted) { image_free(frame); break; }
        if (!step(&c, &p, &s, frame, n, sample_every, &out) || video_write_frame(w, out) != STATUS_OK) {
            fprintf(stderr, "%satelier %s: %s\n", bar.tty && !c.quiet ? "\n" : "", CMD, error_message());
            break;
        }
        n++;
        if (total && n > bar.total) bar.total = n;
        char info[64];
        snprintf(info, sizeof info, "frames, %.2f fps", n / (progress_now() - t0));
        progress_update(&bar, n, info);
    }
    if (interrupted) { fprintf(stderr, "\natelier %s: interrupted: no output written\n", CMD); rc = 130; }
    if (rc == 0 && n == 0) { fprintf(stderr, "atelier %s: %s: no frames to stylise\n", CMD, c.in); rc = 1; }
    if (rc == 0) {
        bar.total = n;
        progress_finish(&bar, NULL);
        status st = video_writer_finish(w);
        w = NULL;
        if (st != STATUS_OK) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); rc = 1; }
    }
    if (rc == 0) {
        double secs = progress_now() - t0;
        if (!c.quiet)
            fprintf(stderr, "wrote %s: %lld frames of %dx%d at %g fps in %.1f s (%.2f frames/s; painting %.1f s, flow %.1f s)\n",
                    c.out, (long long)n, vi->width, vi->height, vi->fps, secs, n / secs, s.t_paint, s.t_flow);
        if (c.report) print_report(&c, &p, &s, vi, n);
    }
done:
    video_writer_abort(w);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    stream_free(&s);
    painter_free(&p);
    video_close(r);
    return rc;
}
