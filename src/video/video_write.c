/* video_write.c: encoding images into MP4 (H.264), WebM (VP9), an animated GIF or a folder
 * of PNG frames, with the audio of a source file carried along (see video.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include "atelier/gif.h"
#include "video/video_internal.h"

typedef enum kind { KIND_AV, KIND_GIF, KIND_FOLDER } kind;

/* The audio carried from a source file: copied packet for packet, or re-encoded. */
typedef struct audio_track {
    AVFormatContext *in;
    int is;                   /* the input's audio stream */
    AVStream *st;             /* the output's */
    double t0, start, end;    /* the input stream's start; the part carried (s, input time) */
    bool copy, done, held;   /* held: a packet read, not yet due */
    AVPacket *pkt;
    /* re-encoding */
    AVCodecContext *dec, *enc;
    SwrContext *swr;
    AVAudioFifo *fifo;
    AVFrame *in_frame, *out_frame;
    int64_t samples;          /* written, the encoder's pts */
} audio_track;

struct video_writer {
    kind kind;
    char *path, *tmp;
    int w, h, ow, oh;         /* the frames given; the encoded size (even for yuv420p) */
    double fps;
    int64_t n;
    video_write_opts o;
    /* KIND_AV */
    AVFormatContext *oc;
    AVCodecContext *venc;
    AVStream *vst;
    struct SwsContext *sws;
    AVFrame *yuv;
    AVPacket *pkt;
    uint8_t *rgb;             /* (h, w, 3) */
    audio_track *audio;
    /* KIND_GIF: the frames, until the end */
    image **frames;
    int cap;
};

video_write_opts video_write_defaults(void) {
    return (video_write_opts){.fps = 25, .crf = -1};
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

const char *video_output_kind(const char *path) {
    size_t len = path ? strlen(path) : 0;
    if (!len) { error_set(STATUS_ARG, "video: empty output name"); return NULL; }
    if (path[len - 1] == '/') return "folder";
    const char *dot = strrchr(base_name(path), '.');
    if (!dot) return "folder";
    if (!strcasecmp(dot, ".mp4") || !strcasecmp(dot, ".mov") || !strcasecmp(dot, ".m4v")) return "mp4";
    if (!strcasecmp(dot, ".webm") || !strcasecmp(dot, ".mkv")) return "webm";
    if (!strcasecmp(dot, ".gif")) return "gif";
    error_set(STATUS_ARG, "%s: cannot write '%s' files (use .mp4, .mov, .webm, .mkv, .gif or a folder name)", path, dot);
    return NULL;
}

/* ---- audio ---- */

static void audio_free(audio_track *a) {
    if (!a) return;
    avformat_close_input(&a->in);
    av_packet_free(&a->pkt);
    avcodec_free_context(&a->dec);
    avcodec_free_context(&a->enc);
    swr_free(&a->swr);
    if (a->fifo) av_audio_fifo_free(a->fifo);
    av_frame_free(&a->in_frame);
    av_frame_free(&a->out_frame);
    free(a);
}

/* The encoder a container takes when the source's codec cannot be copied into it. */
static const AVCodec *audio_encoder_for(const AVOutputFormat *of) {
    const char *names[] = {"libopus", "libvorbis", "opus", "vorbis", NULL};
    if (avformat_query_codec(of, AV_CODEC_ID_AAC, FF_COMPLIANCE_NORMAL) == 1) return avcodec_find_encoder(AV_CODEC_ID_AAC);
    for (int i = 0; names[i]; i++) {
        const AVCodec *c = avcodec_find_encoder_by_name(names[i]);
        if (c && avformat_query_codec(of, c->id, FF_COMPLIANCE_NORMAL) == 1) return c;
    }
    return NULL;
}

static status audio_open_encoder(video_writer *w, audio_track *a, const AVCodecParameters *par) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    const AVCodec *dc = avcodec_find_decoder(par->codec_id), *ec = audio_encoder_for(w->oc->oformat);
    if (!dc) return error_set(STATUS_FORMAT, "%s: no decoder for its audio codec '%s'", w->o.audio_from, avcodec_get_name(par->codec_id));
    if (!ec) return error_set(STATUS_FORMAT, "%s: no audio encoder for this container", w->path);
    int e;
    if (!(a->dec = avcodec_alloc_context3(dc)) || !(a->enc = avcodec_alloc_context3(ec)))
        return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    if ((e = avcodec_parameters_to_context(a->dec, par)) < 0 || (e = avcodec_open2(a->dec, dc, NULL)) < 0)
        return error_set(STATUS_FORMAT, "%s: cannot decode its audio (%s)", w->o.audio_from, video_averr(e, eb));
    int rate = 48000;   /* Opus takes only 48 kHz (and a few lower); AAC takes the source's */
    if (ec->id != AV_CODEC_ID_OPUS && a->dec->sample_rate > 0 && a->dec->sample_rate <= 96000) rate = a->dec->sample_rate;
    if (ec->supported_samplerates) {
        int best = ec->supported_samplerates[0];
        for (const int *r = ec->supported_samplerates; *r; r++)
            if (*r == rate) best = rate;
        rate = best;
    }
    a->enc->sample_rate = rate;
    a->enc->sample_fmt = ec->sample_fmts ? ec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    int ch = a->dec->ch_layout.nb_channels >= 2 ? 2 : 1;
    av_channel_layout_default(&a->enc->ch_layout, ch);
    a->enc->bit_rate = 128000;
    a->enc->time_base = (AVRational){1, rate};
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) a->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((e = avcodec_open2(a->enc, ec, NULL)) < 0)
        return error_set(STATUS_FORMAT, "%s: cannot open the '%s' audio encoder (%s)", w->path, ec->name, video_averr(e, eb));
    if ((e = avcodec_parameters_from_context(a->st->codecpar, a->enc)) < 0)
        return error_set(STATUS_FORMAT, "%s: audio parameters (%s)", w->path, video_averr(e, eb));
    a->st->time_base = a->enc->time_base;
    if ((e = swr_alloc_set_opts2(&a->swr, &a->enc->ch_layout, a->enc->sample_fmt, rate, &a->dec->ch_layout,
                                 a->dec->sample_fmt, a->dec->sample_rate, 0, NULL)) < 0 || (e = swr_init(a->swr)) < 0)
        return error_set(STATUS_FORMAT, "%s: cannot resample its audio (%s)", w->o.audio_from, video_averr(e, eb));
    if (!(a->fifo = av_audio_fifo_alloc(a->enc->sample_fmt, ch, 4096)) || !(a->in_frame = av_frame_alloc()) ||
        !(a->out_frame = av_frame_alloc()))
        return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    return STATUS_OK;
}

/* Opens the audio source and adds the output's audio stream (before the header). */
static status audio_open(video_writer *w) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    audio_track *a = calloc(1, sizeof *a);
    if (!a) return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    w->audio = a;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    int e = avformat_open_input(&a->in, w->o.audio_from, NULL, &opts);
    av_dict_free(&opts);
    if (e < 0 || avformat_find_stream_info(a->in, NULL) < 0)
        return error_set(STATUS_FORMAT, "%s: cannot read its audio (%s)", w->o.audio_from, video_averr(e, eb));
    a->is = av_find_best_stream(a->in, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (a->is < 0) { audio_free(a); w->audio = NULL; return STATUS_OK; }   /* no audio: nothing to carry */
    AVStream *ist = a->in->streams[a->is];
    a->t0 = ist->start_time != AV_NOPTS_VALUE ? ist->start_time * av_q2d(ist->time_base) : 0;
    a->start = w->o.audio_start > 0 ? w->o.audio_start : 0;
    a->end = w->o.audio_duration > 0 ? a->start + w->o.audio_duration : INFINITY;
    if (!(a->pkt = av_packet_alloc()) || !(a->st = avformat_new_stream(w->oc, NULL)))
        return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    a->copy = avformat_query_codec(w->oc->oformat, ist->codecpar->codec_id, FF_COMPLIANCE_NORMAL) == 1;
    if (a->copy) {
        if ((e = avcodec_parameters_copy(a->st->codecpar, ist->codecpar)) < 0)
            return error_set(STATUS_FORMAT, "%s: audio parameters (%s)", w->path, video_averr(e, eb));
        a->st->codecpar->codec_tag = 0;
        a->st->time_base = ist->time_base;
    } else {
        status s = audio_open_encoder(w, a, ist->codecpar);
        if (s != STATUS_OK) return s;
    }
    if (a->start > 0) {
        int64_t ts = (int64_t)((a->start + a->t0) / av_q2d(ist->time_base));
        if (av_seek_frame(a->in, a->is, ts, AVSEEK_FLAG_BACKWARD) >= 0 && a->dec) avcodec_flush_buffers(a->dec);
    }
    return STATUS_OK;
}

/* Encodes what the fifo holds in whole encoder frames (all of it when flushing). */
static status audio_encode_fifo(video_writer *w, audio_track *a, bool flush) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int fs = a->enc->frame_size > 0 ? a->enc->frame_size : 1024;
    while (av_audio_fifo_size(a->fifo) >= fs || (flush && av_audio_fifo_size(a->fifo) > 0)) {
        int n = av_audio_fifo_size(a->fifo) < fs ? av_audio_fifo_size(a->fifo) : fs;
        AVFrame *f = a->out_frame;
        av_frame_unref(f);
        f->nb_samples = n;
        f->format = a->enc->sample_fmt;
        f->sample_rate = a->enc->sample_rate;
        av_channel_layout_copy(&f->ch_layout, &a->enc->ch_layout);
        if (av_frame_get_buffer(f, 0) < 0) return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
        av_audio_fifo_read(a->fifo, (void **)f->data, n);
        f->pts = a->samples;
        a->samples += n;
        if (avcodec_send_frame(a->enc, f) < 0) break;
        for (;;) {
            int e = avcodec_receive_packet(a->enc, a->pkt);
            if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) break;
            if (e < 0) return error_set(STATUS_FORMAT, "%s: audio encoding failed (%s)", w->path, video_averr(e, eb));
            av_packet_rescale_ts(a->pkt, a->enc->time_base, a->st->time_base);
            a->pkt->stream_index = a->st->index;
            if ((e = av_interleaved_write_frame(w->oc, a->pkt)) < 0)
                return error_set(STATUS_IO, "%s: write failed (%s)", w->path, video_averr(e, eb));
        }
    }
    return STATUS_OK;
}

static status audio_drain_encoder(video_writer *w, audio_track *a) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    status s = audio_encode_fifo(w, a, true);
    if (s != STATUS_OK) return s;
    avcodec_send_frame(a->enc, NULL);
    for (;;) {
        int e = avcodec_receive_packet(a->enc, a->pkt);
        if (e < 0) break;
        av_packet_rescale_ts(a->pkt, a->enc->time_base, a->st->time_base);
        a->pkt->stream_index = a->st->index;
        if ((e = av_interleaved_write_frame(w->oc, a->pkt)) < 0)
            return error_set(STATUS_IO, "%s: write failed (%s)", w->path, video_averr(e, eb));
    }
    return STATUS_OK;
}

/* One decoded source frame, trimmed to the part carried, into the fifo. */
static status audio_take_frame(video_writer *w, audio_track *a, double t) {
    AVFrame *f = a->in_frame;
    double dur = f->sample_rate > 0 ? (double)f->nb_samples / f->sample_rate : 0;
    if (t + dur <= 0) return STATUS_OK;
    int cap = swr_get_out_samples(a->swr, f->nb_samples);
    if (cap <= 0) return STATUS_OK;
    uint8_t **buf = NULL;
    if (av_samples_alloc_array_and_samples(&buf, NULL, a->enc->ch_layout.nb_channels, cap, a->enc->sample_fmt, 0) < 0)
        return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    int got = swr_convert(a->swr, buf, cap, (const uint8_t **)f->extended_data, f->nb_samples);
    if (got > 0) av_audio_fifo_write(a->fifo, (void **)buf, got);
    av_freep(&buf[0]);
    av_freep(&buf);
    return audio_encode_fifo(w, a, false);
}

/* Carries the source's audio up to output time `until` (s). A packet that starts later is
 * held for the next call. */
static status audio_pump(video_writer *w, double until) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    audio_track *a = w->audio;
    if (!a || a->done) return STATUS_OK;
    AVStream *ist = a->in->streams[a->is];
    double tb = av_q2d(ist->time_base);
    if (a->end - a->start < until) until = a->end - a->start;
    for (;;) {
        if (!a->held) {
            int e = av_read_frame(a->in, a->pkt);
            if (e < 0) { a->done = true; return STATUS_OK; }   /* the end (or a damaged tail) */
            if (a->pkt->stream_index != a->is || a->pkt->pts == AV_NOPTS_VALUE) { av_packet_unref(a->pkt); continue; }
            a->held = true;
        }
        double t = a->pkt->pts * tb - a->t0 - a->start;   /* output time */
        if (t >= until) return STATUS_OK;
        a->held = false;
        int e;
        if (a->copy) {
            if (t < -1e-6) { av_packet_unref(a->pkt); continue; }
            int64_t off = (int64_t)llround((a->start + a->t0) / tb);
            a->pkt->pts -= off;
            if (a->pkt->dts != AV_NOPTS_VALUE) a->pkt->dts -= off;
            av_packet_rescale_ts(a->pkt, ist->time_base, a->st->time_base);
            a->pkt->stream_index = a->st->index;
            a->pkt->pos = -1;
            if ((e = av_interleaved_write_frame(w->oc, a->pkt)) < 0)
                return error_set(STATUS_IO, "%s: write failed (%s)", w->path, video_averr(e, eb));
            continue;
        }
        e = avcodec_send_packet(a->dec, a->pkt);
        av_packet_unref(a->pkt);
        if (e < 0) continue;   /* a damaged packet: skipped */
        while (avcodec_receive_frame(a->dec, a->in_frame) == 0) {
            double ft = a->in_frame->best_effort_timestamp != AV_NOPTS_VALUE
                            ? a->in_frame->best_effort_timestamp * tb - a->t0 - a->start : t;
            status s = audio_take_frame(w, a, ft);
            av_frame_unref(a->in_frame);
            if (s != STATUS_OK) return s;
        }
    }
}

/* ---- video ---- */

static status av_open(video_writer *w, const char *kindname) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int e = avformat_alloc_output_context2(&w->oc, NULL, NULL, w->path);
    if (e < 0 || !w->oc) return error_set(STATUS_ARG, "%s: no muxer for this name (%s)", w->path, video_averr(e, eb));
    bool h264 = !strcmp(kindname, "mp4");
    const AVCodec *vc = avcodec_find_encoder_by_name(h264 ? "libx264" : "libvpx-vp9");
    if (!vc) return error_set(STATUS_FORMAT, "%s: this build's libavcodec has no %s encoder", w->path, h264 ? "libx264" : "libvpx-vp9");
    if (!(w->venc = avcodec_alloc_context3(vc)) || !(w->vst = avformat_new_stream(w->oc, NULL)) ||
        !(w->pkt = av_packet_alloc()) || !(w->yuv = av_frame_alloc()))
        return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    AVRational fr = av_d2q(w->fps, 1001000);
    w->venc->width = w->ow;
    w->venc->height = w->oh;
    w->venc->pix_fmt = AV_PIX_FMT_YUV420P;
    w->venc->time_base = av_inv_q(fr);
    w->venc->framerate = fr;
    w->venc->colorspace = AVCOL_SPC_SMPTE170M;   /* what libswscale's default coefficients are */
    w->venc->color_range = AVCOL_RANGE_MPEG;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) w->venc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", w->o.crf >= 0 ? w->o.crf : h264 ? 23 : 32);
    av_opt_set(w->venc->priv_data, "crf", crf, 0);
    if (h264) av_opt_set(w->venc->priv_data, "preset", "medium", 0);
    else {
        w->venc->bit_rate = 0;   /* constant quality */
        av_opt_set(w->venc->priv_data, "deadline", "good", 0);
        av_opt_set(w->venc->priv_data, "cpu-used", "5", 0);
        av_opt_set_int(w->venc->priv_data, "row-mt", 1, 0);
    }
    if ((e = avcodec_open2(w->venc, vc, NULL)) < 0)
        return error_set(STATUS_FORMAT, "%s: cannot open the %s encoder (%s)", w->path, vc->name, video_averr(e, eb));
    if ((e = avcodec_parameters_from_context(w->vst->codecpar, w->venc)) < 0)
        return error_set(STATUS_FORMAT, "%s: video parameters (%s)", w->path, video_averr(e, eb));
    w->vst->time_base = w->venc->time_base;
    w->vst->avg_frame_rate = fr;
    w->yuv->format = AV_PIX_FMT_YUV420P;
    w->yuv->width = w->ow;
    w->yuv->height = w->oh;
    if (av_frame_get_buffer(w->yuv, 0) < 0 || !(w->rgb = malloc((size_t)w->w * w->h * 3)))
        return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    w->sws = sws_getContext(w->w, w->h, AV_PIX_FMT_RGB24, w->ow, w->oh, AV_PIX_FMT_YUV420P,
                            SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
    if (!w->sws) return error_set(STATUS_FORMAT, "%s: cannot convert frames to yuv420p", w->path);
    if (w->o.audio_from) {
        status s = audio_open(w);
        if (s != STATUS_OK) return s;
    }
    if ((e = avio_open(&w->oc->pb, w->tmp, AVIO_FLAG_WRITE)) < 0)
        return error_set(STATUS_IO, "%s: cannot write there (%s)", w->path, video_averr(e, eb));
    if ((e = avformat_write_header(w->oc, NULL)) < 0)
        return error_set(STATUS_FORMAT, "%s: cannot write the header (%s)", w->path, video_averr(e, eb));
    return STATUS_OK;
}

/* Sends a frame (NULL: flush) and writes the packets that come out. */
static status av_encode(video_writer *w, AVFrame *f) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    int e = avcodec_send_frame(w->venc, f);
    if (e < 0) return error_set(STATUS_FORMAT, "%s: video encoding failed (%s)", w->path, video_averr(e, eb));
    for (;;) {
        e = avcodec_receive_packet(w->venc, w->pkt);
        if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return STATUS_OK;
        if (e < 0) return error_set(STATUS_FORMAT, "%s: video encoding failed (%s)", w->path, video_averr(e, eb));
        av_packet_rescale_ts(w->pkt, w->venc->time_base, w->vst->time_base);
        w->pkt->stream_index = w->vst->index;
        if ((e = av_interleaved_write_frame(w->oc, w->pkt)) < 0)
            return error_set(STATUS_IO, "%s: write failed (%s)", w->path, video_averr(e, eb));
    }
}

static status av_write(video_writer *w, const image *im) {
    video_planar_to_rgb24(im->data, w->w, w->h, w->rgb, 3 * w->w);
    if (av_frame_make_writable(w->yuv) < 0) return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    const uint8_t *src[4] = {w->rgb};
    int stride[4] = {3 * w->w};
    sws_scale(w->sws, src, stride, 0, w->h, w->yuv->data, w->yuv->linesize);
    w->yuv->pts = w->n;
    status s = av_encode(w, w->yuv);
    /* the audio up to the end of this frame, so the muxer interleaves as it goes */
    return s == STATUS_OK ? audio_pump(w, (w->n + 1) / w->fps) : s;
}

static status av_finish(video_writer *w) {
    char eb[AV_ERROR_MAX_STRING_SIZE];
    status s = av_encode(w, NULL);
    if (s == STATUS_OK) s = audio_pump(w, w->n / w->fps);
    if (s == STATUS_OK && w->audio && !w->audio->copy) s = audio_drain_encoder(w, w->audio);
    int e;
    if (s == STATUS_OK && (e = av_write_trailer(w->oc)) < 0)
        s = error_set(STATUS_IO, "%s: write failed (%s)", w->path, video_averr(e, eb));
    if (s == STATUS_OK && (e = avio_closep(&w->oc->pb)) < 0)
        s = error_set(STATUS_IO, "%s: write failed (%s)", w->path, video_averr(e, eb));
    return s;
}

/* ---- the writer ---- */

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            size_t len = strlen(dir) + strlen(e->d_name) + 2;
            char *p = malloc(len);
            if (p) { snprintf(p, len, "%s/%s", dir, e->d_name); unlink(p); free(p); }
        }
        closedir(d);
    }
    rmdir(dir);
}

static void writer_free(video_writer *w) {
    if (!w) return;
    if (w->oc) {
        if (w->oc->pb) avio_closep(&w->oc->pb);
        avformat_free_context(w->oc);
    }
    avcodec_free_context(&w->venc);
    sws_freeContext(w->sws);
    av_frame_free(&w->yuv);
    av_packet_free(&w->pkt);
    audio_free(w->audio);
    free(w->rgb);
    for (int64_t i = 0; i < w->n && w->frames; i++) image_free(w->frames[i]);
    free(w->frames);
    free(w->path);
    free(w->tmp);
    free(w);
}

void video_writer_abort(video_writer *w) {
    if (!w) return;
    if (w->oc && w->oc->pb) avio_closep(&w->oc->pb);
    if (w->tmp) {
        if (w->kind == KIND_FOLDER) remove_tree(w->tmp);
        else unlink(w->tmp);
    }
    writer_free(w);
}

/* A temporary name beside the target: a file (KIND_AV) or a folder. */
static status make_tmp(video_writer *w) {
    size_t len = strlen(w->path);
    while (len > 1 && w->path[len - 1] == '/') w->path[--len] = 0;
    if (!(w->tmp = malloc(len + 16))) return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
    snprintf(w->tmp, len + 16, "%s.tmp-XXXXXX", w->path);
    if (w->kind == KIND_FOLDER) {
        struct stat sb;
        if (stat(w->path, &sb) == 0) {
            DIR *d = S_ISDIR(sb.st_mode) ? opendir(w->path) : NULL;
            int entries = 0;
            struct dirent *e;
            while (d && (e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
            if (d) closedir(d);
            if (!S_ISDIR(sb.st_mode) || entries) {
                free(w->tmp);
                w->tmp = NULL;
                return error_set(STATUS_IO, "%s: exists and is not an empty folder", w->path);
            }
        }
        if (!mkdtemp(w->tmp)) {
            status s = error_set(STATUS_IO, "%s: cannot create a folder there: %s", w->path, strerror(errno));
            free(w->tmp);
            w->tmp = NULL;
            return s;
        }
        return STATUS_OK;
    }
    int fd = mkstemp(w->tmp);
    if (fd < 0) {
        status s = error_set(STATUS_IO, "%s: cannot create a file there: %s", w->path, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        return s;
    }
    fchmod(fd, 0644);
    close(fd);
    return STATUS_OK;
}

video_writer *video_writer_open(const char *path, int width, int height, const video_write_opts *o) {
    video_quiet_ffmpeg();
    const char *kn = video_output_kind(path);
    if (!kn) return NULL;
    if (width < 2 || height < 2 || width > 16384 || height > 16384) {
        error_set(STATUS_ARG, "%s: frames of %dx%d cannot be written (2 to 16384 a side)", path, width, height);
        return NULL;
    }
    video_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        error_set(STATUS_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    w->o = o ? *o : video_write_defaults();
    w->kind = !strcmp(kn, "gif") ? KIND_GIF : !strcmp(kn, "folder") ? KIND_FOLDER : KIND_AV;
    w->w = width, w->h = height;
    w->ow = width & ~1, w->oh = height & ~1;
    w->fps = w->o.fps > 0 ? w->o.fps : 25;
    if (w->fps > 1000) { error_set(STATUS_ARG, "%s: %g frames a second is too many", path, w->fps); writer_free(w); return NULL; }
    if (w->kind == KIND_GIF) {
        /* gif_write writes atomically itself; check the directory now, not at the end */
        char *probe = malloc(strlen(path) + 16);
        if (!probe) { error_set(STATUS_NOMEM, "%s: out of memory", path); writer_free(w); return NULL; }
        snprintf(probe, strlen(path) + 16, "%s.tmp-XXXXXX", path);
        int fd = mkstemp(probe);
        if (fd < 0) {
            error_set(STATUS_IO, "%s: cannot create a file there: %s", path, strerror(errno));
            free(probe);
            writer_free(w);
            return NULL;
        }
        close(fd);
        unlink(probe);
        free(probe);
        return w;
    }
    status s = make_tmp(w);
    if (s == STATUS_OK && w->kind == KIND_AV) s = av_open(w, kn);
    if (s != STATUS_OK) { video_writer_abort(w); return NULL; }
    return w;
}

status video_write_frame(video_writer *w, const image *im) {
    if (!im || im->w != w->w || im->h != w->h || im->c < 3)
        return error_set(STATUS_ARG, "%s: a frame of %dx%d, unlike the %dx%d the writer was opened for", w->path,
                         im ? im->w : 0, im ? im->h : 0, w->w, w->h);
    status s = STATUS_OK;
    if (w->kind == KIND_AV) s = av_write(w, im);
    else if (w->kind == KIND_FOLDER) {
        size_t len = strlen(w->tmp) + 32;
        char *name = malloc(len);
        if (!name) return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
        snprintf(name, len, "%s/frame_%06lld.png", w->tmp, (long long)w->n + 1);
        image *rgb = im->c == 3 ? (image *)im : NULL;
        if (!rgb && (rgb = image_new(im->w, im->h, 3))) memcpy(rgb->data, im->data, sizeof(float) * 3 * (size_t)im->w * im->h);
        s = rgb ? image_write(name, rgb, NULL) : error_status();
        if (rgb != im) image_free(rgb);
        free(name);
    } else {
        if ((w->n + 1) * (int64_t)w->w * w->h > VIDEO_GIF_MAX_PIXELS)
            return error_set(STATUS_ARG, "%s: a GIF holds its frames in memory: at most %lld pixels of frames "
                             "(use --size or --duration, or write .mp4)", w->path, (long long)VIDEO_GIF_MAX_PIXELS);
        if (w->n == w->cap) {
            int cap = w->cap ? 2 * w->cap : 64;
            image **f = realloc(w->frames, (size_t)cap * sizeof *f);
            if (!f) return error_set(STATUS_NOMEM, "%s: out of memory", w->path);
            w->frames = f, w->cap = cap;
        }
        if (!(w->frames[w->n] = image_copy(im))) return error_status();
    }
    if (s == STATUS_OK) w->n++;
    return s;
}

status video_writer_finish(video_writer *w) {
    status s = STATUS_OK;
    if (w->n == 0) s = error_set(STATUS_ARG, "%s: no frames to write", w->path);
    else if (w->kind == KIND_AV) {
        s = av_finish(w);
        if (s == STATUS_OK && rename(w->tmp, w->path) != 0)
            s = error_set(STATUS_IO, "%s: cannot replace the target: %s", w->path, strerror(errno));
    } else if (w->kind == KIND_FOLDER) {
        if (rename(w->tmp, w->path) != 0)
            s = error_set(STATUS_IO, "%s: cannot rename the frames' folder there: %s", w->path, strerror(errno));
    } else {
        gif_opts g = gif_defaults();
        int cs = (int)lround(100.0 / w->fps);
        g.delay_cs = cs < 2 ? 2 : cs;
        s = gif_write(w->path, w->frames, (int)w->n, &g);
    }
    if (s != STATUS_OK) { video_writer_abort(w); return s; }
    free(w->tmp);
    w->tmp = NULL;
    writer_free(w);
    return STATUS_OK;
}
