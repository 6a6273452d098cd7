/* serve_upload.c: POST /api/jobs (serve.h): a multipart body streamed into temporary files
 * under data_dir/tmp, counted against the upload limit as it arrives; then the fields are
 * checked, the images decoded (sniffed, the pixel limit checked from the header first, a
 * few at a time) and the job submitted. Cheap refusals come first: an oversized
 * Content-Length or a full queue is answered before the body is read.
 *
 * The path: a gallery style the fast model knows ("fast-capable") is painted by the fast
 * network unless quality=finest asks for optimisation; any other style (an upload, a
 * gallery style the model does not know) is optimised. A second style (style2, with blend
 * its share) is a fast-path blend of two fast-capable gallery styles. Strength defaults to
 * 1 on the fast path (the full style) and 0.5 on the optimisation path (the balance). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "serve_internal.h"

typedef struct upload_file {
    int fd;
    char path[4200];
    int64_t bytes;
} upload_file;

typedef struct upload {
    struct MHD_PostProcessor *pp;
    upload_file content, style_image;
    char style[80], size[16], iterations[16], strength[32], preserve[16], quality[16], style2[80], blend[32];
    int64_t total;              /* body bytes so far */
    unsigned code;              /* the first problem: its status (0: none) and message */
    char error[256];
} upload;

static void fail(upload *u, unsigned code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(upload *u, unsigned code, const char *fmt, ...) {
    if (u->code) return;   /* the first problem is the one to report */
    u->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->error, sizeof u->error, fmt, ap);
    va_end(ap);
}

/* ---- the parts ---- */

static enum MHD_Result file_part(server *s, upload *u, upload_file *f, const char *name, const char *data,
                                 uint64_t off, size_t size) {
    if (off == 0 && f->bytes > 0) { fail(u, MHD_HTTP_BAD_REQUEST, "field '%s' given twice", name); return MHD_NO; }
    if (size == 0) return MHD_YES;
    if (f->fd < 0) {
        char id[JOB_ID_LEN + 1];
        if (job_random_id(id) != STATUS_OK) { fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", error_message()); return MHD_NO; }
        snprintf(f->path, sizeof f->path, "%s/%s-%s", s->tmp_dir, id, name);
        if ((f->fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
            fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload: %s", strerror(errno));
            f->path[0] = 0;
            return MHD_NO;
        }
    }
    for (size_t done = 0; done < size;) {
        ssize_t k = write(f->fd, data + done, size - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) { fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store the upload: %s", strerror(errno)); return MHD_NO; }
        done += (size_t)k;
    }
    f->bytes += (int64_t)size;
    return MHD_YES;
}

static enum MHD_Result text_part(upload *u, char *buf, size_t cap, const char *name, const char *data, uint64_t off, size_t size) {
    size_t have = strlen(buf);
    if (off == 0 && have) { fail(u, MHD_HTTP_BAD_REQUEST, "field '%s' given twice", name); return MHD_NO; }
    if (have + size >= cap || memchr(data, 0, size)) { fail(u, MHD_HTTP_BAD_REQUEST, "field '%s' is too long or not text", name); return MHD_NO; }
    memcpy(buf + have, data, size);
    buf[have + size] = 0;
    return MHD_YES;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *type, const char *encoding, const char *data, uint64_t off, size_t size) {
    request *r = cls;
    upload *u = r->up;
    if (!key) { fail(u, MHD_HTTP_BAD_REQUEST, "a part of the multipart body has no name"); return MHD_NO; }
    if (!strcmp(key, "content")) return file_part(r->s, u, &u->content, "content", data, off, size);
    if (!strcmp(key, "style_image")) return file_part(r->s, u, &u->style_image, "style_image", data, off, size);
    if (!strcmp(key, "style")) return text_part(u, u->style, sizeof u->style, key, data, off, size);
    if (!strcmp(key, "size")) return text_part(u, u->size, sizeof u->size, key, data, off, size);
    if (!strcmp(key, "iterations")) return text_part(u, u->iterations, sizeof u->iterations, key, data, off, size);
    if (!strcmp(key, "strength")) return text_part(u, u->strength, sizeof u->strength, key, data, off, size);
    if (!strcmp(key, "preserve_colors")) return text_part(u, u->preserve, sizeof u->preserve, key, data, off, size);
    if (!strcmp(key, "quality")) return text_part(u, u->quality, sizeof u->quality, key, data, off, size);
    if (!strcmp(key, "style2")) return text_part(u, u->style2, sizeof u->style2, key, data, off, size);
    if (!strcmp(key, "blend")) return text_part(u, u->blend, sizeof u->blend, key, data, off, size);
    char name[64];
    fail(u, MHD_HTTP_BAD_REQUEST, "unknown field %s (fields: content, style, style_image, quality, style2, blend, size, "
         "iterations, strength, preserve_colors)", serve_json_string(key, name, sizeof name));
    return MHD_NO;
}

/* ---- the fields ---- */

static bool parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool parse_unit(const char *s, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0 && v <= 1)) return false;
    *out = (float)v;
    return true;
}

static bool parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"true", "1", "on", "yes"}, *const no[] = {"false", "0", "off", "no"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = true; return true; }
        if (!strcasecmp(s, no[i])) { *out = false; return true; }
    }
    return false;
}

/* The settings, with the server's defaults for those not given (strength's waits for the
 * path: choose_path). */
static bool parse_params(server *s, upload *u, job_params *p) {
    const serve_opts *o = &s->o;
    *p = (job_params){.size = o->default_size, .iterations = o->default_iterations, .strength = 0.5f};
    if (u->size[0] && !parse_int(u->size, o->min_size, o->max_size, &p->size))
        fail(u, MHD_HTTP_BAD_REQUEST, "size must be a whole number of pixels in %d..%d", o->min_size, o->max_size);
    else if (u->iterations[0] && !parse_int(u->iterations, 1, o->max_iterations, &p->iterations))
        fail(u, MHD_HTTP_BAD_REQUEST, "iterations must be a whole number in 1..%d", o->max_iterations);
    else if (u->strength[0] && !parse_unit(u->strength, &p->strength))
        fail(u, MHD_HTTP_BAD_REQUEST, "strength must be a number in 0..1");
    else if (u->preserve[0] && !parse_bool(u->preserve, &p->preserve_colors))
        fail(u, MHD_HTTP_BAD_REQUEST, "preserve_colors must be true or false");
    else if (u->quality[0] && strcmp(u->quality, "fast") && strcmp(u->quality, "finest"))
        fail(u, MHD_HTTP_BAD_REQUEST, "quality must be fast (the fast network, seconds) or finest (optimisation, minutes)");
    else if (u->blend[0] && !parse_unit(u->blend, &p->blend))
        fail(u, MHD_HTTP_BAD_REQUEST, "blend must be a number in 0..1 (the second style's share)");
    else if (u->blend[0] && !u->style2[0])
        fail(u, MHD_HTTP_BAD_REQUEST, "blend needs a second style (style2) to blend with");
    return u->code == 0;
}

/* The path (see the top), and the second style; p->style is the gallery's name or "". */
static bool choose_path(server *s, upload *u, job_params *p, bool named) {
    bool capable = named && jobs_fast_capable(s->jobs, p->style);
    bool fast = u->quality[0] ? !strcmp(u->quality, "fast") : capable;
    const stylenet *m = jobs_style_model(s->jobs);
    char quoted[100];
    if (fast && !named)
        fail(u, MHD_HTTP_BAD_REQUEST, "quality fast paints the gallery's fast styles only: an uploaded style needs quality finest");
    else if (fast && !capable)
        fail(u, MHD_HTTP_BAD_REQUEST, "style '%s' has no fast network (%s): use quality finest", p->style,
             m ? "the fast model was not trained on it" : "this server has no fast style model");
    else if (u->style2[0] && !fast)
        fail(u, MHD_HTTP_BAD_REQUEST, "a second style (style2) blends on the fast path only: quality fast, with a fast gallery style");
    if (u->code) return false;
    p->path = fast ? JOB_PATH_FAST : JOB_PATH_OPTIMISE;
    if (!u->strength[0]) p->strength = fast ? 1.0f : 0.5f;
    if (!u->style2[0]) return true;
    int k = styles_find(s->styles, u->style2);
    if (k < 0)
        fail(u, MHD_HTTP_NOT_FOUND, "no style named %s (GET /api/styles lists them)", serve_json_string(u->style2, quoted, sizeof quoted));
    else if (!jobs_fast_capable(s->jobs, s->styles->items[k].name))
        fail(u, MHD_HTTP_BAD_REQUEST, "style2 '%s' has no fast network: blend two fast styles", s->styles->items[k].name);
    else if (!strcmp(s->styles->items[k].name, p->style))
        fail(u, MHD_HTTP_BAD_REQUEST, "style2 is '%s' again: choose another style to blend with", p->style);
    if (u->code) return false;
    snprintf(p->style2, sizeof p->style2, "%s", s->styles->items[k].name);
    if (!u->blend[0]) p->blend = 0.5f;
    return true;
}

/* ---- decoding ---- */

static void slot_take(server *s) {
    pthread_mutex_lock(&s->mu);
    while (s->decoding >= s->o.decode_slots) pthread_cond_wait(&s->cond, &s->mu);
    s->decoding++;
    pthread_mutex_unlock(&s->mu);
}

static void slot_give(server *s) {
    pthread_mutex_lock(&s->mu);
    s->decoding--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* Decodes an upload (the caller holds a decode slot); on failure a 400 naming the field,
 * not the temporary file. */
static image *read_upload(upload *u, const char *path, const char *field, int64_t max_pixels) {
    image_read_opts ro = {.max_pixels = max_pixels};
    error_clear();
    image *im = image_read(path, &ro);
    if (!im) {
        const char *msg = error_message();
        size_t n = strlen(path);
        if (!strncmp(msg, path, n)) msg += n;   /* "PATH: why" -> "field: why" */
        if (error_status() == STATUS_NOMEM) fail(u, MHD_HTTP_SERVICE_UNAVAILABLE, "%s%s", field, msg);
        else fail(u, MHD_HTTP_BAD_REQUEST, "%s%s", field, msg);
        error_clear();
    }
    return im;
}

/* ---- the answers ---- */

/* 429 (the queue is full) or 503 (the job store cannot be reached), with Retry-After. */
static enum MHD_Result try_later(request *r, struct MHD_Connection *c, unsigned code, const char *why) {
    char quoted[300], json[400];
    snprintf(json, sizeof json, "{\"error\": %s}\n", serve_json_string(why, quoted, sizeof quoted));
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "10");
    if (code == MHD_HTTP_TOO_MANY_REQUESTS) {
        pthread_mutex_lock(&r->s->mu);
        r->s->refused_429++;
        pthread_mutex_unlock(&r->s->mu);
    }
    return serve_queue(r, c, code, resp);
}

static enum MHD_Result too_busy(request *r, struct MHD_Connection *c, const char *why) {
    return try_later(r, c, MHD_HTTP_TOO_MANY_REQUESTS, why);
}

static enum MHD_Result created(request *r, struct MHD_Connection *c, const char *id) {
    char json[160], where[64];
    snprintf(json, sizeof json, "{\"id\": \"%s\", \"url\": \"/api/jobs/%s\"}\n", id, id);
    snprintf(where, sizeof where, "/api/jobs/%s", id);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, where);
    serve_log(r->s, "job %s accepted", id);
    return serve_queue(r, c, MHD_HTTP_CREATED, resp);
}

/* The body is in: check, decode, submit. */
static enum MHD_Result finish(request *r, struct MHD_Connection *c) {
    server *s = r->s;
    upload *u = r->up;
    bool complete = MHD_destroy_post_processor(u->pp) == MHD_YES;
    u->pp = NULL;
    if (!complete) fail(u, MHD_HTTP_BAD_REQUEST, "the multipart body is incomplete or malformed");
    bool named = u->style[0] != 0, uploaded = u->style_image.bytes > 0;
    if (!u->content.bytes) fail(u, MHD_HTTP_BAD_REQUEST, "no 'content' file: the photo to paint");
    if (named == uploaded) fail(u, MHD_HTTP_BAD_REQUEST, "give 'style' (a name from /api/styles) or 'style_image' (a file), one of them");
    job_params p;
    if (!parse_params(s, u, &p)) return serve_error(r, c, u->code, "%s", u->error);
    int k = named ? styles_find(s->styles, u->style) : -1;
    char quoted[100];
    if (named && k < 0)
        return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no style named %s (GET /api/styles lists them)",
                           serve_json_string(u->style, quoted, sizeof quoted));
    if (named) snprintf(p.style, sizeof p.style, "%s", s->styles->items[k].name);
    if (!choose_path(s, u, &p, named)) return serve_error(r, c, u->code, "%s", u->error);
    if (!jobs_has_room(s->jobs)) return too_busy(r, c, "the queue is full: try again later");
    /* The slot is held until the decoded images are freed: it bounds them, not only the
     * decoding (a request waiting for a slot holds no pixels). */
    slot_take(s);
    image *content = read_upload(u, u->content.path, "content", s->o.max_pixels), *style = NULL;
    if (content)
        style = named ? read_upload(u, s->styles->items[k].path, "style", 0)
                      : read_upload(u, u->style_image.path, "style_image", s->o.max_pixels);
    enum MHD_Result ret;
    char id[JOB_ID_LEN + 1];
    if (!content || !style) ret = serve_error(r, c, u->code, "%s", u->error);
    else if (jobs_submit(s->jobs, content, style, &p, id) == STATUS_OK) ret = created(r, c, id);
    else if (error_status() == STATUS_BUSY) ret = too_busy(r, c, error_message());
    else if (error_status() == STATUS_IO) ret = try_later(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, error_message());   /* the store */
    else ret = serve_error(r, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", error_message());
    error_clear();
    image_free(content);
    image_free(style);
    slot_give(s);
    return ret;
}

/* The first call: refuse what can be refused before reading the body. */
static enum MHD_Result begin(request *r, struct MHD_Connection *c) {
    server *s = r->s;
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len && strtoll(len, NULL, 10) > s->o.max_upload)
        return serve_error(r, c, MHD_HTTP_CONTENT_TOO_LARGE, "the upload is over the limit of %lld bytes", (long long)s->o.max_upload);
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type || strncasecmp(type, "multipart/form-data", 19))
        return serve_error(r, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "send the job as multipart/form-data");
    if (!jobs_has_room(s->jobs)) return too_busy(r, c, "the queue is full: try again later");
    upload *u = calloc(1, sizeof *u);
    if (!u) return MHD_NO;
    u->content.fd = u->style_image.fd = -1;
    r->up = u;
    if (!(u->pp = MHD_create_post_processor(c, 64 * 1024, on_part, r)))
        return serve_error(r, c, MHD_HTTP_BAD_REQUEST, "cannot parse the multipart body (no boundary?)");
    return MHD_YES;
}

enum MHD_Result serve_upload(request *r, struct MHD_Connection *c, const char *data, size_t *size) {
    if (!r->up) return begin(r, c);
    upload *u = r->up;
    int64_t max = r->s->o.max_upload;
    if (r->code) { *size = 0; return MHD_YES; }   /* answered already: the rest is dropped */
    if (*size == 0) return u->code ? serve_error(r, c, u->code, "%s", u->error) : finish(r, c);
    u->total += (int64_t)*size;
    if (u->total > max) {
        /* Over the limit: the rest is read and dropped, so that the client, still sending,
         * gets the answer (closing on unread data resets the connection and loses it);
         * past twice the limit the answer goes now and the connection closes. */
        fail(u, MHD_HTTP_CONTENT_TOO_LARGE, "the upload is over the limit of %lld bytes", (long long)max);
        *size = 0;
        return u->total > 2 * max + (1 << 20) ? serve_error(r, c, u->code, "%s", u->error) : MHD_YES;
    }
    if (!u->code && MHD_post_process(u->pp, data, *size) != MHD_YES)
        fail(u, MHD_HTTP_BAD_REQUEST, "the multipart body is malformed");
    *size = 0;
    return MHD_YES;
}

static void file_drop(upload_file *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->path[0]) unlink(f->path);
    f->fd = -1;
}

void serve_upload_free(request *r) {
    upload *u = r->up;
    if (!u) return;
    if (u->pp) MHD_destroy_post_processor(u->pp);
    file_drop(&u->content);
    file_drop(&u->style_image);
    free(u);
    r->up = NULL;
}
