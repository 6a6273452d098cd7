/* cmd_worker.c: `atelier worker`: runs the jobs of a shared queue (PostgreSQL, jobs.h) with
 * no HTTP, until SIGTERM or SIGINT; its running jobs then go back to the queue. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/jobs.h"
#include "atelier/stylenet.h"
#include "atelier/stylize.h"
#include "cli/args.h"
#include "cli/cli.h"

#define CMD "worker"

static void worker_usage(FILE *f, const jobs_opts *d, const char *model) {
    fprintf(f,
        "usage: atelier worker --db URL [options]\n\n"
        "Runs the style transfer jobs of a queue in PostgreSQL that `atelier serve --db URL`\n"
        "servers accept, on this machine, without serving HTTP. Any number of workers and\n"
        "servers on any number of machines may share one queue: each job runs on one worker at\n"
        "a time under a lease the worker renews; a worker that dies loses its lease and another\n"
        "runs the job again. SIGTERM or SIGINT puts the running jobs back in the queue.\n\n"
        "options (default in brackets):\n"
        "  --db URL               the queue: a PostgreSQL connection string, e.g.\n"
        "                         postgresql://user@host/atelier (required)\n"
        "  --data-dir DIR         this worker's cache of inputs and results [atelier-worker]\n"
        "  --workers N            optimisation jobs run at once [%d]\n"
        "  --style-model M        the fast style network (a built-in name or a file); none: this\n"
        "                         worker runs no fast jobs [%s]\n"
        "  --fast-workers N       fast jobs painted at once [%d]\n"
        "  --net NAME|PATH        the feature network [inception_v3 when installed, else VGG-19]\n"
        "  --weights FILE         real VGG-19 weights [built-in network]\n"
        "  --lease S              a running job's lease in seconds, renewed every S/3 [%g]\n"
        "  -h, --help             this text\n",
        d->workers, model ? model : "none", d->fast_workers, d->lease_seconds);
}

static bool parse_value(jobs_opts *o, const char *opt, const char *v) {
    float f;
    if (!strcmp(opt, "--db")) o->db = v;
    else if (!strcmp(opt, "--data-dir")) o->data_dir = v;
    else if (!strcmp(opt, "--workers")) return arg_int(CMD, opt, v, 0, 64, &o->workers);
    else if (!strcmp(opt, "--style-model")) o->style_model = strcmp(v, "none") ? v : NULL;
    else if (!strcmp(opt, "--fast-workers")) return arg_int(CMD, opt, v, 0, 64, &o->fast_workers);
    else if (!strcmp(opt, "--net")) o->net = v;
    else if (!strcmp(opt, "--weights")) o->weights = v;
    else if (!strcmp(opt, "--lease")) {
        if (!arg_float(CMD, opt, v, 1, 3600, &f)) return false;
        o->lease_seconds = f;
    } else {
        fprintf(stderr, "atelier %s: unknown option '%s' (atelier worker --help lists them)\n", CMD, opt);
        return false;
    }
    return true;
}

int cmd_worker(int argc, char **argv) {
    jobs_opts o = jobs_defaults();
    o.data_dir = "atelier-worker";
    o.style_model = stylenet_builtin_available("kit-styles") ? "kit-styles" : NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { worker_usage(stdout, &o, o.style_model); return 0; }
        if (a[0] != '-') { fprintf(stderr, "atelier %s: unexpected argument '%s'\n", CMD, a); return 2; }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return 2; }
        if (!parse_value(&o, opt, v)) return 2;
    }
    if (!o.db) { fprintf(stderr, "atelier %s: --db URL is required (the PostgreSQL queue to work for)\n", CMD); return 2; }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);   /* for sigwait below; every thread inherits it */
    signal(SIGPIPE, SIG_IGN);
    jobs *q = jobs_open(&o);
    if (!q) {
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        return 1;
    }
    fprintf(stderr, "atelier worker: running jobs of the shared queue (%d optimisation, %d fast workers; cache in %s)\n",
            o.workers, o.style_model ? o.fast_workers : 0, o.data_dir);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "atelier worker: %s: putting the running jobs back and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    jobs_stats st;
    jobs_get_stats(q, &st);
    jobs_close(q);
    fprintf(stderr, "atelier worker: stopped (%lld jobs done, %lld failed here)\n", st.finished, st.failed);
    return 0;
}
