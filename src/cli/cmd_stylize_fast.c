/* cmd_stylize_fast.c: `atelier stylize PHOTO --model MODEL -o OUT`: a photo painted by a
 * fast style network (stylenet.h) in one forward pass: one of its styles, or a blend, at a
 * strength, optionally keeping the photo's colours; large outputs in tiles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "atelier/backend.h"
#include "atelier/sha256.h"
#include "atelier/stylenet.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"

#define CMD "stylize"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct fast_ctx { progress bar; bool started; } fast_ctx;

static bool on_tile(int done, int total, void *user) {
    fast_ctx *f = user;
    if (!f->started) { f->bar.total = total; f->started = true; }
    char info[48];
    snprintf(info, sizeof info, "tile %d/%d", done, total);
    progress_update(&f->bar, done, info);
    return true;
}

bool stylize_fast_mix(const char *cmd, const stylenet *m, const char *spec, const char *const *styles, int nstyles,
                      float *mix) {
    /* the style: --mix, or the -s names (equal weights), or the first */
    for (int s = 0; s < m->nstyles; s++) mix[s] = 0;
    if (spec) {
        if (stylenet_parse_mix(m, spec, mix) != STATUS_OK) { fprintf(stderr, "atelier %s: --mix: %s\n", cmd, error_message()); return false; }
    } else if (nstyles) {
        for (int k = 0; k < nstyles; k++) {
            int s = stylenet_style_index(m, styles[k]);
            if (s < 0) { fprintf(stderr, "atelier %s: --style: %s\n", cmd, error_message()); return false; }
            mix[s] += 1.0f / nstyles;
        }
    } else mix[0] = 1.0f;
    return true;
}

int stylize_fast(const stylize_fast_args *a) {
    stylenet *m = NULL;
    image *photo = NULL, *out = NULL;
    float *mix = NULL;
    int rc = 1;
    double t0 = now();
    if (!(m = stylenet_load(a->model))) { fprintf(stderr, "atelier %s: --model %s\n", CMD, error_message()); return 1; }
    if (!(mix = calloc((size_t)m->nstyles, sizeof(float)))) { fprintf(stderr, "atelier %s: out of memory\n", CMD); goto done; }
    char mixdesc[1024] = "";
    if (!stylize_fast_mix(CMD, m, a->mix, a->styles, a->nstyles, mix)) goto done;
    for (int s = 0, n = 0; s < m->nstyles; s++)
        if (mix[s] > 0 && n < (int)sizeof mixdesc - 80)
            n += snprintf(mixdesc + n, sizeof mixdesc - (size_t)n, "%s\"%s\": %g", n ? ", " : "", m->names[s], mix[s]);
    if (!(photo = image_read(a->content, NULL))) { fprintf(stderr, "atelier %s: content image: %s\n", CMD, error_message()); goto done; }
    stylenet_paint_opts o = stylenet_paint_defaults();
    o.mix = mix;
    o.strength = a->strength;
    o.preserve_colors = a->preserve_colors;
    o.size = a->size;
    if (a->tile) {
        o.tile = a->tile;
        o.overlap = a->tile / 8 < 16 ? 16 : a->tile / 8 > 64 ? 64 : a->tile / 8;
    }
    fast_ctx f = {.bar = progress_start(1, a->quiet)};
    o.callback = on_tile;
    o.user = &f;
    out = stylenet_paint(m, photo, &o);
    if (!out) {
        if (f.started && f.bar.tty && !a->quiet) fprintf(stderr, "\n");
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        goto done;
    }
    if (f.started) progress_finish(&f.bar, NULL);
    double secs = now() - t0;
    char settings[2048];
    snprintf(settings, sizeof settings,
             "{\"path\": \"fast\", \"model\": \"%s\", \"styles\": {%s}, \"strength\": %g, \"preserve_colors\": %s, "
             "\"size\": %d, \"tile\": %d, \"backend\": \"%s\"}",
             m->source, mixdesc, a->strength, a->preserve_colors ? "true" : "false", out->w > out->h ? out->w : out->h,
             o.tile, backend_current()->name);
    char content_hex[65];
    status st = sha256_file(a->content, content_hex) ? STATUS_OK : error_set(STATUS_IO, "%s: cannot read to hash it", a->content);
    if (st == STATUS_OK) st = image_text_set(out, "Software", "Atelier " ATELIER_VERSION);
    if (st == STATUS_OK) st = image_text_set(out, "atelier.made_by", "machine-made: fast neural style transfer (Atelier " ATELIER_VERSION ")");
    if (st == STATUS_OK) st = image_text_set(out, "atelier.settings", settings);
    if (st == STATUS_OK) st = image_text_set(out, "atelier.model.sha256", m->sha256);
    if (st == STATUS_OK) st = image_text_set(out, "atelier.content.sha256", content_hex);
    image_write_opts wo = {.quality = a->quality};
    if (st == STATUS_OK) st = image_write(a->out, out, &wo);
    if (st != STATUS_OK) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); goto done; }
    if (!a->quiet) fprintf(stderr, "wrote %s (%dx%d, %s) in %.2f s\n", a->out, out->w, out->h, m->source, secs);
    rc = 0;
done:
    free(mix);
    image_free(out);
    image_free(photo);
    stylenet_free(m);
    return rc;
}
