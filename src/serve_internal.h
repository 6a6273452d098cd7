/* serve_internal.h: the web service's parts (serve.h): the daemon, routing and small
 * answers (serve.c), job submission from multipart uploads (serve_upload.c), the job
 * endpoints and event streams (serve_api.c), the style gallery (serve_styles.c) and the
 * embedded page (serve_page.c). */
#ifndef ATELIER_SERVE_INTERNAL_H
#define ATELIER_SERVE_INTERNAL_H
#include <microhttpd.h>
#include <pthread.h>
#include "atelier/jobs.h"
#include "atelier/serve.h"

/* ---- the style gallery ---- */

typedef struct style_entry {
    char name[64];              /* file name without its extension */
    char *path;                 /* the file in styles_dir */
    bool thumb_made;            /* this process wrote its thumbnail */
} style_entry;

typedef struct styles {
    style_entry *items;         /* (n) sorted by name */
    int n;
    char *thumb_dir;            /* data_dir/thumbs */
    pthread_mutex_t mu;         /* thumbnail making */
} styles;

/* Lists the image files (.png .jpg .jpeg .webp) of dir whose names are 1..63 of
 * [A-Za-z0-9_.-] before the extension; dir NULL: an empty gallery. NULL on failure. */
styles *styles_scan(const char *dir, const char *thumb_dir);
void styles_free(styles *g);
int styles_find(const styles *g, const char *name);    /* index, or -1 */
/* The thumbnail's path (made on first use, long side 256); false and error_set on failure. */
bool styles_thumb(styles *g, int index, char *path, size_t size);

/* ---- the server ---- */

typedef struct request request;

struct server {
    serve_opts o;               /* strings owned below */
    char *data_dir, *tmp_dir;
    struct MHD_Daemon *daemon;
    jobs *jobs;
    styles *styles;
    int port;
    pthread_mutex_t mu;         /* the fields below */
    pthread_cond_t cond;        /* drained, or a decode slot free */
    int inflight;               /* requests begun and not completed */
    int decoding;               /* uploads being decoded */
    bool stopping;
    long long responses[6];     /* by class: 1xx..5xx (index 1..5) */
    long long refused_429;
};

/* Per request (MHD's con_cls). */
struct request {
    server *s;
    double t0;
    int code;                   /* the status queued, for the log */
    char method[8], url[96];    /* for the log */
    struct upload *up;          /* POST /api/jobs */
};

/* Answers; each queues the response and returns MHD's result. */
enum MHD_Result serve_json(request *r, struct MHD_Connection *c, unsigned code, const char *json);
enum MHD_Result serve_error(request *r, struct MHD_Connection *c, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum MHD_Result serve_queue(request *r, struct MHD_Connection *c, unsigned code, struct MHD_Response *resp);
/* 405 with the Allow header (allow: "GET, DELETE"). */
enum MHD_Result serve_method_not_allowed(request *r, struct MHD_Connection *c, const char *allow);
/* A file (by its open descriptor's size) with a content type; 404 if it cannot be opened. */
enum MHD_Result serve_file(request *r, struct MHD_Connection *c, const char *path, const char *type);
/* s quoted as a JSON string into buf (truncated safely); returns buf. */
char *serve_json_string(const char *s, char *buf, size_t size);
void serve_log(server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* serve_start's server whose daemon has no listening socket and no threads (serve.c): the
 * caller hands it connections (MHD_add_connection, e.g. one end of a socketpair) and runs
 * it (MHD_run); requests go through the same handlers. For tests/fuzz/serve_driver.c, which
 * feeds it raw request bytes. serve_stop stops it. */
server *serve_start_detached(const serve_opts *o);

/* serve_upload.c: POST /api/jobs, called for every piece of the body. */
enum MHD_Result serve_upload(request *r, struct MHD_Connection *c, const char *data, size_t *size);
void serve_upload_free(request *r);

/* serve_api.c */
enum MHD_Result serve_job(request *r, struct MHD_Connection *c, const char *method, const char *id, const char *what);
enum MHD_Result serve_styles_list(request *r, struct MHD_Connection *c);
enum MHD_Result serve_style_thumb(request *r, struct MHD_Connection *c, const char *name);
enum MHD_Result serve_metrics(request *r, struct MHD_Connection *c);
enum MHD_Result serve_config(request *r, struct MHD_Connection *c);

/* serve_page.c: the page's bytes. */
extern const unsigned char atelier_page_data[];
extern const unsigned long long atelier_page_size;

#endif
