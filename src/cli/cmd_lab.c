/* cmd_lab.c: `atelier lab`: GAN Lab on Atelier's engine (lab.h), served on a local port. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "atelier/backend.h"
#include "atelier/lab.h"
#include "cli/args.h"
#include "cli/cli.h"

#define CMD "lab"

static void lab_usage(FILE *f) {
    lab_server_opts d = lab_server_defaults();
    fprintf(f,
            "usage: atelier lab [options]\n\n"
            "GAN Lab on Atelier's engine: open the page, pick a distribution on the plane, and watch a\n"
            "small GAN learn it (samples, D's heat map, G's gradients and manifold, losses, KL/JS, the\n"
            "collapse alarm). Each browser tab trains its own model on this machine.\n\n"
            "options:\n"
            "  --port N             the port [%d] (0: any free port, printed)\n"
            "  --host ADDR          the IPv4 address to listen on [%s] (local only by default)\n"
            "  --max-labs N         labs (browser tabs) at once, 1..64 [%d]\n"
            "  --idle-pause S       a lab nobody looked at for S seconds pauses [%g]\n"
            "  --idle-close S       ... and is closed after S seconds [%g]\n"
            "  --refresh N          iterations between two pictures while playing [%d]\n"
            "  -h, --help           this text\n\n"
            "All labs train on one thread, in turn, a few iterations each: the lab takes one core.\n",
            d.port, d.host, d.max_labs, d.idle_pause_s, d.idle_close_s, d.refresh_every);
}

static bool lab_option(lab_server_opts *o, const char *opt, const char *v) {
    float f;
    if (!strcmp(opt, "--port")) return arg_int(CMD, opt, v, 0, 65535, &o->port);
    if (!strcmp(opt, "--host")) { o->host = v; return true; }
    if (!strcmp(opt, "--max-labs")) return arg_int(CMD, opt, v, 1, 64, &o->max_labs);
    if (!strcmp(opt, "--refresh")) return arg_int(CMD, opt, v, 1, 10000, &o->refresh_every);
    if (!strcmp(opt, "--idle-pause")) { if (!arg_float(CMD, opt, v, 0.1, 1e6, &f)) return false; o->idle_pause_s = f; return true; }
    if (!strcmp(opt, "--idle-close")) { if (!arg_float(CMD, opt, v, 0.1, 1e7, &f)) return false; o->idle_close_s = f; return true; }
    fprintf(stderr, "atelier %s: unknown option '%s' (atelier lab --help lists them)\n", CMD, opt);
    return false;
}

int cmd_lab(int argc, char **argv) {
    lab_server_opts o = lab_server_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { lab_usage(stdout); return 0; }
        if (a[0] != '-') { fprintf(stderr, "atelier %s: unexpected argument '%s'\n", CMD, a); return 2; }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return 2; }
        if (!lab_option(&o, opt, v)) return 2;
    }
    if (o.idle_close_s < o.idle_pause_s) {
        fprintf(stderr, "atelier %s: --idle-close %g must be at least --idle-pause %g\n", CMD, o.idle_close_s, o.idle_pause_s);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    backend_set_threads(1);      /* the models are small: one core, no thread pool spinning */
    lab_server *s = lab_server_start(&o);
    if (!s) {
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        return 1;
    }
    fprintf(stderr, "atelier lab: the GAN lab on http://%s:%d/ (up to %d labs; Ctrl-C stops)\n", o.host,
            lab_server_port(s), o.max_labs);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "atelier lab: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    lab_server_stop(s);
    return 0;
}
