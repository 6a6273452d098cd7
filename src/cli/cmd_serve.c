/* cmd_serve.c: `atelier serve`: the web service (serve.h) until SIGTERM or SIGINT. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/serve.h"
#include "atelier/stylenet.h"
#include "atelier/stylize.h"
#include "cli/args.h"
#include "cli/cli.h"

#define CMD "serve"

static void serve_usage(FILE *f) {
    serve_opts d = serve_defaults();
    fprintf(f,
        "usage: atelier serve [options]\n\n"
        "Serves the web page and JSON API of Atelier: upload a photo, pick a style, watch it\n"
        "become a painting (the README's \"Web service\" lists the endpoints). Jobs and their\n"
        "files live in the data folder and survive a restart; SIGTERM or SIGINT drains the\n"
        "requests in flight, puts running jobs back in the queue and stops.\n\n"
        "The gallery's styles that the fast style model was trained on (same name) are painted\n"
        "by the fast network in seconds, unless a job asks for quality \"finest\"; uploaded\n"
        "styles and the others are optimised (minutes).\n\n"
        "options (default in brackets):\n"
        "  --host ADDR            IPv4 address to listen on; 0.0.0.0 for every interface [%s]\n"
        "  --port N               [%d]; 0 picks a free port (the first line on stderr says which)\n"
        "  --data-dir DIR         job records (SQLite) and files [%s]\n"
        "  --styles DIR           the style gallery: its .png/.jpg/.jpeg/.webp files [none]\n"
        "  --workers N            optimisation jobs run at once; 0 with --db: run none here [%d]\n"
        "  --db URL               a PostgreSQL queue shared with other servers and `atelier worker`s\n"
        "                         (postgresql://host/db; the data folder is then a cache) [SQLite\n"
        "                         in the data folder]\n"
        "  --lease S              with --db: a running job's lease, renewed while it runs; a dead\n"
        "                         worker's job runs again elsewhere after it [30]\n"
        "  --queue N              jobs that may wait; more are refused with 429 [%d]\n"
        "  --token TOKEN          require \"Authorization: Bearer TOKEN\" (or ?token=) for all but\n"
        "                         the page and /healthz; also from $ATELIER_TOKEN [off]\n"
        "  --cors ORIGIN          allow this origin cross-site (CORS) [off]\n"
        "  --net NAME|PATH        the feature network (atelier models) [inception_v3 when installed,\n"
        "                         else the built-in VGG-19]\n"
        "  --weights FILE         real VGG-19 weights (.pth or .safetensors) [built-in network]\n"
        "  --style-model M        the fast style network: a built-in name or a model file (atelier\n"
        "                         style-net); none: every job is optimised [%s]\n"
        "  --fast-workers N       fast jobs painted at once, beside --workers [%d]\n"
        "  --max-upload MB        request body limit [%g]\n"
        "  --max-pixels MP        pixel limit per uploaded image, checked before decoding [%g]\n"
        "  --min-size PX          smallest output size allowed [%d]\n"
        "  --max-size PX          largest output size allowed [%d]\n"
        "  --default-size PX      output size when a job gives none [%d]\n"
        "  --iterations N         iterations per level when a job gives none [%d]\n"
        "  --max-iterations N     [%d]\n"
        "  --max-connections N    [%d]\n"
        "  --quiet                no request log on stderr\n"
        "  -h, --help             this text\n",
        d.host, d.port, d.data_dir, d.workers, d.queue_max, d.style_model ? d.style_model : "none: kit-styles is not built in",
        d.fast_workers, (double)d.max_upload / (1 << 20), (double)d.max_pixels / 1e6,
        d.min_size, d.max_size, d.default_size, d.default_iterations, d.max_iterations, d.max_connections);
}

typedef struct serve_cli { serve_opts o; bool quiet; } serve_cli;

static bool parse_value(serve_cli *c, const char *opt, const char *v) {
    serve_opts *o = &c->o;
    float f;
    if (!strcmp(opt, "--host")) o->host = v;
    else if (!strcmp(opt, "--port")) return arg_int(CMD, opt, v, 0, 65535, &o->port);
    else if (!strcmp(opt, "--data-dir")) o->data_dir = v;
    else if (!strcmp(opt, "--styles")) o->styles_dir = v;
    else if (!strcmp(opt, "--workers")) return arg_int(CMD, opt, v, 0, 64, &o->workers);
    else if (!strcmp(opt, "--db")) o->db = v;
    else if (!strcmp(opt, "--lease")) {
        if (!arg_float(CMD, opt, v, 1, 3600, &f)) return false;
        o->lease_seconds = f;
    }
    else if (!strcmp(opt, "--queue")) return arg_int(CMD, opt, v, 1, 100000, &o->queue_max);
    else if (!strcmp(opt, "--token")) o->token = v;
    else if (!strcmp(opt, "--cors")) o->cors_origin = v;
    else if (!strcmp(opt, "--weights")) o->weights = v;
    else if (!strcmp(opt, "--net")) o->net = v;
    else if (!strcmp(opt, "--style-model")) o->style_model = strcmp(v, "none") ? v : NULL;
    else if (!strcmp(opt, "--fast-workers")) return arg_int(CMD, opt, v, 1, 64, &o->fast_workers);
    else if (!strcmp(opt, "--max-upload")) {
        if (!arg_float(CMD, opt, v, 0.01, 4096, &f)) return false;
        o->max_upload = (int64_t)((double)f * (1 << 20));
    } else if (!strcmp(opt, "--max-pixels")) {
        if (!arg_float(CMD, opt, v, 0.0001, 1000, &f)) return false;
        o->max_pixels = (int64_t)((double)f * 1e6);
    } else if (!strcmp(opt, "--min-size")) return arg_int(CMD, opt, v, 16, 8192, &o->min_size);
    else if (!strcmp(opt, "--max-size")) return arg_int(CMD, opt, v, 16, 8192, &o->max_size);
    else if (!strcmp(opt, "--default-size")) return arg_int(CMD, opt, v, 16, 8192, &o->default_size);
    else if (!strcmp(opt, "--iterations")) return arg_int(CMD, opt, v, 1, 100000, &o->default_iterations);
    else if (!strcmp(opt, "--max-iterations")) return arg_int(CMD, opt, v, 1, 100000, &o->max_iterations);
    else if (!strcmp(opt, "--max-connections")) return arg_int(CMD, opt, v, 4, 100000, &o->max_connections);
    else {
        fprintf(stderr, "atelier %s: unknown option '%s' (atelier serve --help lists them)\n", CMD, opt);
        return false;
    }
    return true;
}

/* 1: --help shown, 0: parsed, -1: error (message printed). */
static int serve_parse(int argc, char **argv, serve_cli *c) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--quiet")) { c->quiet = true; continue; }
        if (a[0] != '-') { fprintf(stderr, "atelier %s: unexpected argument '%s'\n", CMD, a); return -1; }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return -1; }
        if (!parse_value(c, opt, v)) return -1;
    }
    if (c->o.workers == 0 && !c->o.db) {
        fprintf(stderr, "atelier %s: --workers 0 needs --db (a shared queue that other processes run)\n", CMD);
        return -1;
    }
    if (!c->o.token) {
        const char *env = getenv("ATELIER_TOKEN");
        if (env && *env) c->o.token = env;
    }
    return 0;
}

static void log_line(const char *line, void *user) {
    (void)user;
    fprintf(stderr, "%s\n", line);
}

int cmd_serve(int argc, char **argv) {
    serve_cli c = {.o = serve_defaults()};
    int parsed = serve_parse(argc, argv, &c);
    if (parsed > 0) { serve_usage(stdout); return 0; }
    if (parsed < 0) return 2;
    if (!c.quiet) c.o.log = log_line;
    /* Every thread inherits this mask: the signals wait for sigwait below, which can then
     * do what a handler may not (drain, join, close the database). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    server *s = serve_start(&c.o);
    if (!s) {
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        return 1;
    }
    const char *net = c.o.net ? c.o.net : c.o.weights ? "vgg19 (weights file)" : stylize_default_net(NULL);
    fprintf(stderr, "atelier serve: listening on http://%s:%d/ (%s %s; feature network %s)\n", c.o.host, serve_port(s),
            c.o.db ? "queue in PostgreSQL, cache in" : "data in", c.o.data_dir, net);
    if (c.o.style_model) fprintf(stderr, "atelier serve: fast style model %s: its styles in the gallery paint in seconds\n",
                                 c.o.style_model);
    else fprintf(stderr, "atelier serve: no fast style model (--style-model): every job is optimised\n");
    if (!c.o.net && !c.o.weights && !strcmp(net, "vgg19"))
        fprintf(stderr, "atelier serve: the trained feature networks are not installed: painting with the built-in random "
                "VGG-19 (weaker pictures); install them with: sh scripts/install-models.sh\n");
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "atelier serve: %s: draining and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_stop(s);
    fprintf(stderr, "atelier serve: stopped\n");
    return 0;
}
