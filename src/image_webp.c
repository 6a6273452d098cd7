/* image_webp.c: WebP through libwebp: decoding (lossy or lossless, with alpha) and
 * encoding with the advanced API, so that lossless keeps the colour under transparent
 * pixels exactly. Text metadata travels in an XMP chunk (libwebpmux to write it,
 * libwebpdemux to find it), one <atelier:key>value</atelier:key> element per pair inside
 * the packet's rdf:Description, values XML-escaped.
 *
 * Hostile files (image.h): WebPGetFeatures reads the size from the first bytes and does not
 * look further, so webp_check_chunks first makes sure that the RIFF size and every chunk
 * size fit in the file (libwebp would refuse the file only after we had sized the pixels
 * from it). The float image is allocated once libwebp has filled the 8-bit pixels.
 */
#include "image_internal.h"
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#define WEBP_MAX_SIDE 16383  /* the format's limit */

static const char *xmp_head =
    "<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
    "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
    "<rdf:Description rdf:about=\"\" xmlns:atelier=\"https://atelier.invalid/ns/text/1.0/\">\n";
static const char *xmp_tail = "</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end=\"w\"?>";

/* Decodes XML's five predefined entities in place; others are left as they are. */
static void xml_unescape(char *s) {
    static const struct { const char *ent; char ch; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *o = s;
    while (*s) {
        int k = -1;
        for (int i = 0; i < 5 && *s == '&'; i++)
            if (strncmp(s, ents[i].ent, strlen(ents[i].ent)) == 0) k = i;
        if (k >= 0) { *o++ = ents[k].ch; s += strlen(ents[k].ent); }
        else *o++ = *s++;
    }
    *o = 0;
}

/* Finds each <atelier:KEY>VALUE</atelier:KEY> in the packet (a NUL-terminated copy). */
static void xmp_collect_text(char *xmp, image *im) {
    char *p = xmp;
    while ((p = strstr(p, "<atelier:")) != NULL) {
        char *key = p + 9, *gt = strchr(key, '>');
        if (!gt) return;
        *gt = 0;
        char close[100];
        snprintf(close, sizeof close, "</atelier:%s>", key);
        char *end = image_text_key_valid(key) ? strstr(gt + 1, close) : NULL;
        if (!end) { p = gt + 1; continue; }
        *end = 0;
        xml_unescape(gt + 1);
        image_text_set(im, key, gt + 1);
        p = end + strlen(close);
    }
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The RIFF container: "RIFF" size "WEBP", then chunks of fourcc, size, payload (padded to
 * even). Every size must fit in the bytes present; bytes after the RIFF's end are ignored,
 * as libwebp ignores them. */
static status webp_check_chunks(const char *path, const unsigned char *buf, size_t n) {
    uint32_t riff = le32(buf + 4);
    if (riff < 4 || riff > n - 8)
        return error_set(STATUS_FORMAT, "%s: truncated WebP: the RIFF header claims %u bytes, the file "
                         "has %zu after it", path, riff, n - 8);
    size_t end = 8 + (size_t)riff;
    for (size_t pos = 12; end - pos >= 8; ) {
        uint32_t len = le32(buf + pos + 4);
        char type[5] = "?";
        bool named = true;
        for (int i = 0; i < 4; i++) named = named && buf[pos + i] >= 0x20 && buf[pos + i] < 0x7f;
        if (named) { memcpy(type, buf + pos, 4); type[4] = 0; }
        if (len > end - pos - 8)
            return error_set(STATUS_FORMAT, "%s: truncated WebP: the '%s' chunk at byte %zu claims %u bytes, "
                             "only %zu remain", path, type, pos, len, end - pos - 8);
        pos += 8 + (size_t)len + (len & 1);
        if (pos > end) break;   /* the padding byte of the last chunk may be missing */
    }
    return STATUS_OK;
}

static void webp_read_text(const unsigned char *buf, size_t n, image *im) {
    WebPData data = {buf, n};
    WebPDemuxer *dmx = WebPDemux(&data);
    WebPChunkIterator it;
    if (dmx && WebPDemuxGetChunk(dmx, "XMP ", 1, &it)) {
        char *xmp = malloc(it.chunk.size + 1);
        if (xmp) {
            memcpy(xmp, it.chunk.bytes, it.chunk.size);
            xmp[it.chunk.size] = 0;
            xmp_collect_text(xmp, im);
            free(xmp);
        }
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(dmx);
}

image *image_webp_decode(const char *path, const unsigned char *buf, size_t n, int64_t max_pixels) {
    if (webp_check_chunks(path, buf, n) != STATUS_OK) return NULL;
    WebPBitstreamFeatures ft;
    VP8StatusCode st = WebPGetFeatures(buf, n, &ft);
    if (st != VP8_STATUS_OK) {
        error_set(STATUS_FORMAT, "%s: corrupt WebP header (libwebp status %d%s)", path, (int)st,
                  st == VP8_STATUS_NOT_ENOUGH_DATA ? ": truncated" : "");
        return NULL;
    }
    if (ft.has_animation) {
        error_set(STATUS_FORMAT, "%s: animated WebP is not supported", path);
        return NULL;
    }
    if (image_check_size(path, "WebP", ft.width, ft.height, max_pixels) != STATUS_OK) return NULL;
    int c = ft.has_alpha ? 4 : 3, w = ft.width, h = ft.height;
    size_t size = (size_t)w * h * c;
    uint8_t *px = malloc(size);
    uint8_t *ok = !px ? NULL : c == 4 ? WebPDecodeRGBAInto(buf, n, px, size, w * 4)
                                      : WebPDecodeRGBInto(buf, n, px, size, w * 3);
    image *im = ok ? image_new(w, h, c) : NULL;   /* only once libwebp has filled px */
    if (!im) {
        if (!px || ok) error_set(STATUS_NOMEM, "%s: out of memory for %dx%d pixels", path, w, h);
        else error_set(STATUS_FORMAT, "%s: corrupt or truncated WebP data", path);
        free(px);
        return NULL;
    }
    size_t plane = (size_t)w * h;
    for (size_t i = 0; i < plane; i++)
        for (int ch = 0; ch < c; ch++) im->data[ch * plane + i] = px[i * c + ch] / 255.0f;
    free(px);
    webp_read_text(buf, n, im);
    return im;
}

/* Appends s to the growing buffer, XML-escaping it when escape is set. */
static bool buf_add(char **b, size_t *len, size_t *cap, const char *s, bool escape) {
    for (; *s; s++) {
        const char *piece = NULL;
        if (escape) piece = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        size_t pn = piece ? strlen(piece) : 1;
        if (*len + pn + 1 > *cap) {
            size_t nc = 2 * (*cap + pn) + 64;
            char *nb = realloc(*b, nc);
            if (!nb) return false;
            *b = nb; *cap = nc;
        }
        memcpy(*b + *len, piece ? piece : s, pn);
        *len += pn;
        (*b)[*len] = 0;
    }
    return true;
}

static char *xmp_build(const image *im, size_t *len) {
    char *b = NULL;
    size_t cap = 0;
    bool ok = buf_add(&b, len, &cap, xmp_head, false);
    for (int i = 0; ok && i < im->ntext; i++) {
        const char *k = im->text[i].key;
        ok = buf_add(&b, len, &cap, "<atelier:", false) && buf_add(&b, len, &cap, k, false) &&
             buf_add(&b, len, &cap, ">", false) && buf_add(&b, len, &cap, im->text[i].value, true) &&
             buf_add(&b, len, &cap, "</atelier:", false) && buf_add(&b, len, &cap, k, false) &&
             buf_add(&b, len, &cap, ">\n", false);
    }
    if (ok) ok = buf_add(&b, len, &cap, xmp_tail, false);
    if (!ok) { free(b); return NULL; }
    return b;
}

/* Encodes the pixels into wr (a WebPMemoryWriter the caller clears). */
static status webp_encode_pixels(const char *path, const image *im, const image_write_opts *o,
                                 WebPMemoryWriter *wr) {
    WebPConfig cfg;
    WebPPicture pic;
    if (!WebPConfigInit(&cfg) || !WebPPictureInit(&pic))
        return error_set(STATUS_IO, "%s: libwebp version mismatch", path);
    cfg.lossless = o->webp_lossless;
    cfg.quality = o->webp_lossless ? 75 : (float)o->quality;  /* lossless: effort, not loss */
    cfg.exact = o->webp_lossless;           /* keep RGB under alpha 0 exactly */
    pic.use_argb = o->webp_lossless;
    pic.width = im->w;
    pic.height = im->h;
    size_t plane = (size_t)im->w * im->h;
    uint8_t *px = malloc(plane * im->c);
    if (!px) return error_set(STATUS_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < plane; i++)
        for (int ch = 0; ch < im->c; ch++) px[i * im->c + ch] = (uint8_t)image_quant(im->data[ch * plane + i], 255);
    int ok = im->c == 4 ? WebPPictureImportRGBA(&pic, px, im->w * 4) : WebPPictureImportRGB(&pic, px, im->w * 3);
    free(px);
    pic.writer = WebPMemoryWrite;
    pic.custom_ptr = wr;
    if (ok) ok = WebPEncode(&cfg, &pic);
    status s = ok ? STATUS_OK : error_set(STATUS_IO, "%s: WebP encoding failed (libwebp error %d)", path, (int)pic.error_code);
    WebPPictureFree(&pic);
    return s;
}

/* Adds the XMP chunk through libwebpmux; out receives the assembled file. */
static status webp_add_xmp(const char *path, const image *im, const WebPData *in, WebPData *out) {
    size_t xn = 0;
    char *xmp = xmp_build(im, &xn);
    WebPMux *mux = xmp ? WebPMuxCreate(in, 1) : NULL;
    WebPData xd = {(const uint8_t *)xmp, xn};
    bool ok = mux && WebPMuxSetChunk(mux, "XMP ", &xd, 1) == WEBP_MUX_OK &&
              WebPMuxAssemble(mux, out) == WEBP_MUX_OK;
    WebPMuxDelete(mux);
    free(xmp);
    return ok ? STATUS_OK : error_set(STATUS_IO, "%s: could not add the XMP text chunk", path);
}

status image_webp_encode(const char *path, FILE *f, const image *im, const image_write_opts *o) {
    if (im->w > WEBP_MAX_SIDE || im->h > WEBP_MAX_SIDE)
        return error_set(STATUS_ARG, "%s: %dx%d is too large for WebP (sides up to %d)", path, im->w, im->h, WEBP_MAX_SIDE);
    WebPMemoryWriter wr;
    WebPMemoryWriterInit(&wr);
    status s = webp_encode_pixels(path, im, o, &wr);
    WebPData file = {wr.mem, wr.size}, with_xmp = {NULL, 0};
    if (s == STATUS_OK && im->ntext > 0 && (s = webp_add_xmp(path, im, &file, &with_xmp)) == STATUS_OK)
        file = with_xmp;
    if (s == STATUS_OK && fwrite(file.bytes, 1, file.size, f) != file.size)
        s = error_set(STATUS_IO, "%s: write failed", path);
    WebPDataClear(&with_xmp);
    WebPMemoryWriterClear(&wr);
    return s;
}
