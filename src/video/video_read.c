/* video_read.c: decoding a video file (libavformat + libavcodec + libswscale) or a folder
 * of numbered frames into images, one at a time, with start, duration, size and frame
 * rate applied (see video.h). */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include "video/video_internal.h"

struct video_reader {
    video_info info;
    video_read_opts o;
    char *path;
    /* a folder of frames */
    char **names;
    int nnames, next_name, end_name;
    /* a file */
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frm;
    struct SwsContext *sws;
    uint8_t *rgb;            /* (th, tw, 3) */
    int vs, tw, th;          /* the video stream; the scaled size, before rotation */
    double t0, tb;           /* the stream's start (s) and time base */
    double src_fps, t_end;   /* the source's rate; the end (s) of the newest frame decoded */
    bool flushed, ended;
    int64_t counter;         /* frames decoded (for frames without timestamps) */
    /* frame-rate conversion: output frame k shows the newest source frame whose time
     * rounds to k or before (FFmpeg's fps filter) */
    image *last, *pending;
    int64_t next_k, dup_left, max_frames;
};

const char *video_averr(int e, char buf[AV_ERROR_MAX_STRING_SIZE]) {
    av_strerror(e, buf, AV_ERROR_MAX_STRING_SIZE);
    return buf;
}

void video_quiet_ffmpeg(void) { av_log_set_level(AV_LOG_QUIET); }

video_read_opts video_read_defaults(void) {
    return (video_read_opts){0};
}

void video_rgb24_to_planar(const uint8_t *src, int src_stride, int w, int h, float *dst) {
    size_t plane = (size_t)w * h;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * src_stride;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) dst[c * plane + (size_t)y * w + x] = row[3 * x + c] * (1.0f / 255);
    }
}

void video_planar_to_rgb24(const float *src, int w, int h, uint8_t *dst, int dst_stride) {
    size_t plane = (size_t)w * h;
    for (int y = 0; y < h; y++) {
        uint8_t *row = dst + (size_t)y * dst_stride;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v = src[c * plane + (size_t)y * w + x] * 255.0f + 0.5f;
                row[3 * x + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    }
}

image *video_rotate(const image *im, int deg) {
    int w = im->w, h = im->h;
    image *out = deg == 180 ? image_new(w, h, im->c) : image_new(h, w, im->c);
    if (!out) return NULL;
    for (int c = 0; c < im->c; c++) {
        const float *s = im->data + (size_t)c * w * h;
        float *d = out->data + (size_t)c * w * h;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float v = s[(size_t)y * w + x];
                if (deg == 90) d[(size_t)x * h + (h - 1 - y)] = v;          /* (x, y) -> (h-1-y, x) */
                else if (deg == 270) d[(size_t)(w - 1 - x) * h + y] = v;    /* (x, y) -> (y, w-1-x) */
                else d[(size_t)(h - 1 - y) * w + (w - 1 - x)] = v;
            }
    }
    return out;
}

/* The size (w, h) scaled so that its long side is `size` (0: unchanged). */
static void fit_long_side(int w, int h, int size, int *tw, int *th) {
    *tw = w, *th = h;
    if (size <= 0) return;
    if (w >= h) { *tw = size; *th = (int)lround((double)h * size / w); }
    else { *th = size; *tw = (int)lround((double)w * size / h); }
    if (*tw < 1) *tw = 1;
    if (*th < 1) *th = 1;
}

/* ---- a folder of numbered frames ---- */

static bool is_frame_name(const char *n) {
    const char *dot = strrchr(n, '.');
    if (!dot || n[0] == '.') return false;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg");
}

/* Natural order: digit runs compare as numbers, so frame2 < frame10. */
static int natural_cmp(const void *pa, const void *pb) {
    const char *a = *(char *const *)pa, *b = *(char *const *)pb;
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la])) la++;
            while (isdigit((unsigned char)b[lb])) lb++;
            if (la != lb) return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c) return c;
            a += la, b += lb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++, b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}

static status open_folder(video_reader *r) {
    DIR *d = opendir(r->path);
    if (!d) return error_set(STATUS_IO, "%s: cannot open the folder", r->path);
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_frame_name(e->d_name)) continue;
        if (r->nnames == cap) {
            cap = cap ? 2 * cap : 64;
            char **n = realloc(r->names, (size_t)cap * sizeof *n);
            if (!n) { closedir(d); return error_set(STATUS_NOMEM, "%s: out of memory", r->path); }
            r->names = n;
        }
        size_t len = strlen(r->path) + strlen(e->d_name) + 2;
        if (!(r->names[r->nnames] = malloc(len))) { closedir(d); return error_set(STATUS_NOMEM, "%s: out of memory", r->path); }
        snprintf(r->names[r->nnames++], len, "%s/%s", r->path, e->d_name);
    }
    closedir(d);
    if (!r->nnames) return error_set(STATUS_FORMAT, "%s: a folder without PNG or JPEG frames", r->path);
    qsort(r->names, (size_t)r->nnames, sizeof *r->names, natural_cmp);
    double fps = r->o.fps > 0 ? r->o.fps : VIDEO_FOLDER_FPS;
    int first = (int)lround(r->o.start * fps);
    if (first > r->nnames) first = r->nnames;
    int n = r->nnames - first;
    if (r->o.duration > 0 && lround(r->o.duration * fps) < n) n = (int)lround(r->o.duration * fps);
    r->next_name = first;
    r->end_name = first + n;
    if (n <= 0) return error_set(STATUS_ARG, "%s: no frames after --start %g s", r->path, r->o.start);
    image_read_opts io = {.max_pixels = r->o.max_pixels};
    image *im0 = image_read(r->names[first], &io);
    if (!im0) return error_status();
    r->info.src_width = im0->w, r->info.src_height = im0->h;
    fit_long_side(im0->w, im0->h, r->o.size, &r->info.width, &r->info.height);
    image_free(im0);
    r->info.fps = fps;
    r->info.frames = n;
    r->info.duration = n / fps;
    r->info.is_folder = true;
    const char *dot = strrchr(r->names[first], '.');
    snprintf(r->info.codec, sizeof r->info.codec, "%s", !strcasecmp(dot, ".png") ? "png" : "jpeg");
    return STATUS_OK;
}

static int read_folder_frame(video_reader *r, image **out) {
    if (r->next_name >= r->end_name) return 0;
    const char *name = r->names[r->next_name++];
    image_read_opts io = {.max_pixels = r->o.max_pixels};
    image *im = image_read(name, &io);
    if (!im) return -1;
    if (im->w != r->info.src_width || im->h != r->info.src_height) {
        error_set(STATUS_FORMAT, "%s: %dx%d, unlike the first frame's %dx%d", name, im->w, im->h,
                  r->info.src_width, r->info.src_height);
        image_free(im);
        return -1;
    }
    if (im->c != 3 || im->w != r->info.width || im->h != r->info.height) {
        image *rgb = im->c == 3 ? im : image_new(im->w, im->h, 3);
        if (rgb && rgb != im) memcpy(rgb->data, im->data, sizeof(float) * 3 * (size_t)im->w * im->h);
        image *sized = rgb && (rgb->w != r->info.width || rgb->h != r->info.height)
                           ? image_resize(rgb, r->info.width, r->info.height) : rgb;
        if (rgb != im) image_free(im);
        if (sized != rgb) image_free(rgb);
        if (!sized) return -1;
        im = sized;
    }
    *out = im;
    return 1;
}

/* ---- a file, through libavformat ---- */

/* The clockwise turn (0, 90, 180, 270) that makes the stream's frames upright. */
static int stream_rotation(const AVStream *st) {
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!m) return 0;
    double ccw = av_display_rotation_get((const int32_t *)m);   /* counter-clockwise */
    if (isnan(ccw)) return 0;
    int cw = (int)lround(-ccw / 90.0) * 90 % 360;
    return cw < 0 ? cw + 360 : cw;
}

static status open_file(video_reader *r) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);   /* no network, no concat: */
    int e = avformat_open_input(&r->fmt, r->path, NULL, &opts);
    av_dict_free(&opts);
    if (e < 0) return error_set(STATUS_FORMAT, "%s: not a video FFmpeg can read (%s)", r->path, video_averr(e, eb));
    if ((e = avformat_find_stream_info(r->fmt, NULL)) < 0)
        return error_set(STATUS_FORMAT, "%s: not a video FFmpeg can read (%s)", r->path, video_averr(e, eb));
    r->vs = av_find_best_stream(r->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (r->vs < 0) return error_set(STATUS_FORMAT, "%s: no video stream in this file", r->path);
    AVStream *st = r->fmt->streams[r->vs];
    const AVCodecParameters *par = st->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (par->codec_id == AV_CODEC_ID_NONE)
        return error_set(STATUS_FORMAT, "%s: its video codec is unknown to FFmpeg", r->path);
    if (!codec || par->codec_id == AV_CODEC_ID_ANSI || par->codec_id == AV_CODEC_ID_TEXT)
        return error_set(STATUS_FORMAT, "%s: no decoder for its video codec '%s' in this build", r->path,
                         avcodec_get_name(par->codec_id));
    if (par->width <= 0 || par->height <= 0)
        return error_set(STATUS_FORMAT, "%s: the video stream has no frame size", r->path);
    if ((int64_t)par->width * par->height > r->o.max_pixels)
        return error_set(STATUS_FORMAT, "%s: %dx%d frames, more than the limit of %lld pixels", r->path,
                         par->width, par->height, (long long)r->o.max_pixels);
    if (!(r->dec = avcodec_alloc_context3(codec)) || !(r->pkt = av_packet_alloc()) || !(r->frm = av_frame_alloc()))
        return error_set(STATUS_NOMEM, "%s: out of memory", r->path);
    if ((e = avcodec_parameters_to_context(r->dec, par)) >= 0)
        r->dec->max_pixels = r->o.max_pixels;   /* the decoder refuses larger frames itself too */
    if (e < 0 || (e = avcodec_open2(r->dec, codec, NULL)) < 0)
        return error_set(STATUS_FORMAT, "%s: cannot open the '%s' decoder (%s)", r->path, codec->name, video_averr(e, eb));
    r->tb = av_q2d(st->time_base);
    r->t0 = st->start_time != AV_NOPTS_VALUE ? st->start_time * r->tb : 0;
    AVRational fr = av_guess_frame_rate(r->fmt, st, NULL);
    double src_fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 25.0;
    if (src_fps > 1000 || src_fps < 0.01) src_fps = 25.0;
    double fps = r->o.fps > 0 ? r->o.fps : src_fps;
    r->src_fps = src_fps;
    double dur = st->duration != AV_NOPTS_VALUE && st->duration > 0 ? st->duration * r->tb
               : r->fmt->duration > 0 ? r->fmt->duration / (double)AV_TIME_BASE : 0;
    if (dur > 0) dur = dur > r->o.start ? dur - r->o.start : 0;
    if (r->o.duration > 0 && (dur <= 0 || r->o.duration < dur)) dur = r->o.duration;
    r->info.rotation = stream_rotation(st);
    r->info.src_width = par->width, r->info.src_height = par->height;
    fit_long_side(par->width, par->height, r->o.size, &r->tw, &r->th);
    bool turned = r->info.rotation == 90 || r->info.rotation == 270;
    r->info.width = turned ? r->th : r->tw;
    r->info.height = turned ? r->tw : r->th;
    r->info.fps = fps;
    r->info.duration = dur;
    r->info.frames = dur > 0 ? (int64_t)lround(dur * fps) : -1;
    if (r->o.start == 0 && r->o.fps == 0 && r->o.duration == 0 && st->nb_frames > 0) r->info.frames = st->nb_frames;
    r->info.has_audio = av_find_best_stream(r->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0) >= 0;
    snprintf(r->info.codec, sizeof r->info.codec, "%s", avcodec_get_name(par->codec_id));
    r->max_frames = r->o.duration > 0 ? (int64_t)lround(r->o.duration * fps) : INT64_MAX;
    if (!(r->rgb = malloc((size_t)r->tw * r->th * 3))) return error_set(STATUS_NOMEM, "%s: out of memory", r->path);
    if (r->o.start > 0) {
        int64_t ts = (int64_t)((r->o.start + r->t0) / r->tb);
        if (av_seek_frame(r->fmt, r->vs, ts, AVSEEK_FLAG_BACKWARD) >= 0) avcodec_flush_buffers(r->dec);
    }
    return STATUS_OK;
}

/* The next decoded frame in r->frm: 1, 0 at the end, -1 on a read error. Damaged packets
 * are skipped; a decoder that fails for good ends the stream (a truncated file). */
static int decode_next(video_reader *r) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    for (;;) {
        int e = avcodec_receive_frame(r->dec, r->frm);
        if (e == 0) return 1;
        if (e != AVERROR(EAGAIN) || r->flushed) return 0;
        e = av_read_frame(r->fmt, r->pkt);
        if (e == AVERROR_EOF || e == AVERROR_INVALIDDATA || e == AVERROR(EIO)) {
            r->flushed = true;
            avcodec_send_packet(r->dec, NULL);
            continue;
        }
        if (e < 0) { error_set(STATUS_IO, "%s: read error: %s", r->path, video_averr(e, eb)); return -1; }
        if (r->pkt->stream_index == r->vs) avcodec_send_packet(r->dec, r->pkt);   /* damaged: skipped */
        av_packet_unref(r->pkt);
    }
}

/* r->frm as an upright image of the reader's size. */
static image *convert_frame(video_reader *r) {
    AVFrame *f = r->frm;
    if (f->width <= 0 || f->height <= 0 || (int64_t)f->width * f->height > r->o.max_pixels) {
        error_set(STATUS_FORMAT, "%s: a %dx%d frame, outside the limit of %lld pixels", r->path, f->width, f->height,
                  (long long)r->o.max_pixels);
        return NULL;
    }
    int flags = (int64_t)r->tw * r->th < (int64_t)f->width * f->height ? SWS_AREA : SWS_BICUBIC;
    r->sws = sws_getCachedContext(r->sws, f->width, f->height, f->format, r->tw, r->th, AV_PIX_FMT_RGB24,
                                  flags | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!r->sws) {
        error_set(STATUS_FORMAT, "%s: cannot convert frames of pixel format '%s'", r->path,
                  av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?");
        return NULL;
    }
    int cs = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
    const int *coef = sws_getCoefficients(cs);
    sws_setColorspaceDetails(r->sws, coef, f->color_range == AVCOL_RANGE_JPEG, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                             0, 1 << 16, 1 << 16);
    uint8_t *dst[4] = {r->rgb};
    int stride[4] = {3 * r->tw};
    sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, stride);
    image *im = image_new(r->tw, r->th, 3);
    if (!im) return NULL;
    video_rgb24_to_planar(r->rgb, 3 * r->tw, r->tw, r->th, im->data);
    if (r->info.rotation) {
        image *turned = video_rotate(im, r->info.rotation);
        image_free(im);
        im = turned;
    }
    return im;
}

/* The output slot of time t (s from start): the nearest, ties to the earlier one. */
static int64_t slot(double t, double fps) { return (int64_t)ceil(t * fps - 0.5 - 1e-9); }

static int read_file_frame(video_reader *r, image **out) {
    double fps = r->info.fps;
    for (;;) {
        if (r->dup_left > 0) {
            r->dup_left--;
            r->next_k++;
            return (*out = image_copy(r->last)) ? 1 : -1;
        }
        if (r->pending) {
            image_free(r->last);
            r->last = r->pending;
            r->pending = NULL;
            r->next_k++;
            return (*out = image_copy(r->last)) ? 1 : -1;
        }
        if (r->ended) {   /* the last frame repeated up to the end of its time */
            int64_t end = slot(r->t_end - r->o.start, fps);
            if (end > r->max_frames) end = r->max_frames;
            if (!r->last || r->next_k >= end) return 0;
            r->next_k++;
            return (*out = image_copy(r->last)) ? 1 : -1;
        }
        int got = decode_next(r);
        if (got < 0) return -1;
        if (got == 0) { r->ended = true; continue; }
        int64_t ts = r->frm->best_effort_timestamp;
        double t = ts != AV_NOPTS_VALUE ? ts * r->tb - r->t0 : r->counter / r->src_fps;
        r->counter++;
        if (t + 1 / r->src_fps > r->t_end) r->t_end = t + 1 / r->src_fps;
        int64_t k = slot(t - r->o.start, fps);
        if (k >= r->max_frames) { r->ended = true; av_frame_unref(r->frm); continue; }
        image *im = convert_frame(r);
        av_frame_unref(r->frm);
        if (!im) return -1;
        if (k < r->next_k) {   /* too early for the next slot: a candidate for the gaps */
            image_free(r->last);
            r->last = im;
            continue;
        }
        if (!r->last) { r->last = im; r->dup_left = k - r->next_k + 1; }
        else { r->dup_left = k - r->next_k; r->pending = im; }
    }
}

video_reader *video_open(const char *path, const video_read_opts *o) {
    video_quiet_ffmpeg();
    if (!path || !path[0]) { error_set(STATUS_ARG, "video: empty path"); return NULL; }
    video_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        error_set(STATUS_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->o = o ? *o : video_read_defaults();
    if (r->o.max_pixels <= 0) r->o.max_pixels = VIDEO_DEFAULT_MAX_PIXELS;
    if (r->o.start < 0 || r->o.duration < 0 || r->o.size < 0 || r->o.fps < 0 || r->o.fps > 1000) {
        error_set(STATUS_ARG, "%s: start, duration, size and fps must be positive (fps at most 1000)", path);
        video_close(r);
        return NULL;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        error_set(STATUS_IO, "%s: no such file or folder", path);
        video_close(r);
        return NULL;
    }
    status s = S_ISDIR(sb.st_mode) ? open_folder(r) : open_file(r);
    if (s != STATUS_OK) { video_close(r); return NULL; }
    return r;
}

const video_info *video_reader_info(const video_reader *r) { return &r->info; }

int video_read_frame(video_reader *r, image **out) {
    *out = NULL;
    return r->info.is_folder ? read_folder_frame(r, out) : read_file_frame(r, out);
}

void video_close(video_reader *r) {
    if (!r) return;
    for (int i = 0; i < r->nnames; i++) free(r->names[i]);
    free(r->names);
    avcodec_free_context(&r->dec);
    avformat_close_input(&r->fmt);
    av_packet_free(&r->pkt);
    av_frame_free(&r->frm);
    sws_freeContext(r->sws);
    image_free(r->last);
    image_free(r->pending);
    free(r->rgb);
    free(r->path);
    free(r);
}
