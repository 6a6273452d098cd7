/* lab.h: the GAN lab: a 2-D GAN (gan.h's mlp, trained by gan_train_step) learning a
 * distribution on the plane [0, 1]^2, with what a viewer needs to watch it: the fake
 * samples, D's output over the plane, G's gradient on each fake, G's manifold, the losses,
 * KL and JS divergence between real and fake on a 30x30 histogram, and the collapse alarm
 * of `atelier gan` (diversity ratio, modes covered). After GAN Lab (Kahng et al. 2019,
 * "GAN Lab: understanding complex deep generative models using interactive visual
 * experimentation"), on Atelier's engine. The web server over it is lab_server_* below.
 *
 * The plane [0, 1]^2 is the engine's [-1, 1]^2 (x_engine = 2 x - 1). Distributions:
 *   line           a segment from (0.15, 0.2) to (0.85, 0.8), N(0, 0.01^2) across
 *   two-gaussians  N((0.3, 0.65), 0.06^2 I) and N((0.7, 0.35), 0.06^2 I), equal weights
 *   ring           eight N(c_k, 0.02^2 I), c_k on the circle of radius 0.3 around (0.5, 0.5)
 *   three-blobs    N(c_k, 0.05^2 I) at (0.25, 0.3), (0.75, 0.3), (0.5, 0.75)
 *   drawn          the user's points (2..LAB_MAX_POINTS), each with N(0, 0.015^2 I) around it
 * A mode is covered when at least 1/(4K) of 2000 fakes lie within max(3 sigma, 0.04) of its
 * centre (K modes; the line and drawn distributions have none). KL(real || fake) and JS (in
 * nats; JS <= ln 2) are over 30x30 bins of [0, 1]^2 (points outside in the border bins),
 * from 20000 reals and 2000 fakes, each bin + 1e-4 before normalising.
 *
 * One iteration ("epoch" in GAN Lab) is k_d D updates then k_g G updates (gan_train_step);
 * step mode does one D or one G update alone (gan_train_d / gan_train_g).
 *
 * Example:
 * EXAMPLE_BEGIN
 *   lab_settings s = lab_defaults();
 *   s.dist = LAB_DIST_RING;
 *   lab *l = lab_new(&s);
 *   if (!l) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   lab_measures m0, m1;
 *   if (lab_measure(l, &m0) != STATUS_OK) return 1;
 *   if (lab_step(l, LAB_STEP_BOTH, 300) != STATUS_OK || lab_iterations(l) != 300) return 1;
 *   if (lab_measure(l, &m1) != STATUS_OK || !(m1.fake_to_real < m0.fake_to_real)) return 1;
 *   char *json = lab_state_json(l);                  // what the page draws
 *   if (!json || !strstr(json, "\"heat\"")) return 1;
 *   free(json);
 *   lab_settings bad = s;
 *   bad.g_layers = 9;
 *   if (lab_settings_check(&bad) == STATUS_OK) return 1; // "g_layers 9: must be 0..5"
 *   error_clear();
 *   lab_free(l);
 * EXAMPLE_END
 */
#ifndef ATELIER_LAB_H
#define ATELIER_LAB_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/error.h"
#include "atelier/gan.h"

#define LAB_MAX_POINTS 1000     /* a drawn distribution */
#define LAB_GRID 30             /* the heat map and the histograms: 30x30 cells */
#define LAB_SHOW 300            /* real and fake samples drawn (and gradients) */

typedef enum { LAB_DIST_LINE, LAB_DIST_TWO_GAUSSIANS, LAB_DIST_RING, LAB_DIST_THREE_BLOBS, LAB_DIST_DRAWN } lab_dist;
typedef enum { LAB_STEP_BOTH, LAB_STEP_D, LAB_STEP_G } lab_step_kind;

typedef struct lab_settings {
    lab_dist dist;                       /* ring */
    int npoints;                         /* drawn: points (x, y) in [0, 1]^2 */
    float points[2 * LAB_MAX_POINTS];
    int noise_dim;                       /* 1 or 2; 2 */
    gan_noise noise;                     /* gaussian */
    int g_layers, d_layers;              /* hidden layers 0..5; 2, 2 */
    int g_units[GAN_MLP_MAX_HIDDEN], d_units[GAN_MLP_MAX_HIDDEN];  /* 1..100; 64 */
    gan_opt opt;                         /* adam */
    gan_loss loss;                       /* bce (log loss) */
    float lr_g, lr_d;                    /* 1e-3, 3e-3 (D faster: Heusel et al. 2017) */
    float beta1;                         /* Adam's; 0.5 */
    int k_d, k_g;                        /* updates per iteration, 1..10; 1, 1 */
    int batch;                           /* 8..512; 64 */
    uint64_t seed;                       /* 1 */
} lab_settings;

lab_settings lab_defaults(void);
/* Named presets: "default", and "collapse" (the ring with Adam's beta1 0.9 and lr 3e-3 on
 * wide nets: G lands on one or two of the eight modes within a few hundred iterations). */
status lab_preset(const char *name, lab_settings *out);
/* STATUS_ARG and one line naming the field and its range when a setting is bad. */
status lab_settings_check(const lab_settings *s);
/* Sets the fields a JSON object names over *s ("preset" first, then the rest; unknown keys
 * refused), then checks. dist, noise, optimizer, loss are strings; points [[x, y], ...]. */
status lab_settings_from_json(const char *json, size_t len, lab_settings *s);
/* The settings as a JSON object (without the points); malloc'd. */
char *lab_settings_json(const lab_settings *s);
const char *lab_dist_name(lab_dist d);

typedef struct lab lab;
lab *lab_new(const lab_settings *s);             /* NULL + error_message() */
void lab_free(lab *l);                           /* NULL is fine */
const lab_settings *lab_get_settings(const lab *l);
/* New settings: learning rates and k alone go on training; anything else starts afresh. */
status lab_set(lab *l, const lab_settings *s);
status lab_reset(lab *l);                        /* fresh weights, iteration 0 */
/* n iterations (BOTH), or n single D or G updates. */
status lab_step(lab *l, lab_step_kind kind, int n);
int64_t lab_iterations(const lab *l);            /* iterations plus single updates */

typedef struct lab_measures {
    double d_loss, g_loss;       /* mean over the updates since the last measure (else the last) */
    double kl, js;               /* histogram divergences, real against fake */
    double fake_to_real;         /* mean distance of a fake to its nearest of 500 reals */
    double diversity_ratio;      /* metrics_diversity of fakes / of reals (metrics.h) */
    int modes, modes_covered;    /* 0 modes for line and drawn */
    bool collapse;               /* diversity_ratio < METRICS_COLLAPSE_RATIO, or fewer than
                                    half the modes covered */
} lab_measures;
/* Measures now, and adds them to the charts' history. */
status lab_measure(lab *l, lab_measures *out);
/* Everything the page draws, as JSON (malloc'd): iteration, settings, real and fake
 * samples, the real density, D's heat map, G's gradients, the manifold, the last
 * measures and their history. Measures first (lab_measure) when none since the last
 * update. */
char *lab_state_json(lab *l);

/* ---- the server: `atelier lab` ---- */
typedef struct lab_server_opts {
    const char *host;            /* 127.0.0.1 */
    int port;                    /* 8090 (0: any free port) */
    int max_labs;                /* 8: labs (browser tabs) open at once */
    double idle_pause_s;         /* 20: a lab nobody asked about for this long pauses */
    double idle_close_s;         /* 600: ... and is closed after this */
    int refresh_every;           /* 50: iterations between two states while playing */
} lab_server_opts;
typedef struct lab_server lab_server;
lab_server_opts lab_server_defaults(void);
lab_server *lab_server_start(const lab_server_opts *o);   /* NULL + error_message() */
int lab_server_port(const lab_server *s);
void lab_server_stop(lab_server *s);                       /* NULL is fine */

#endif
