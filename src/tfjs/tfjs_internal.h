/* tfjs_internal.h: the loaded graph, shared by tfjs_load.c (model.json, manifest, shards,
 * layers) and tfjs_run.c (the forward pass). */
#ifndef ATELIER_TFJS_INTERNAL_H
#define ATELIER_TFJS_INTERNAL_H
#include <stdbool.h>
#include "atelier/arena.h"
#include "atelier/tfjs.h"

#define TFJS_MAX_INBOUND 64

typedef enum tfjs_kind {
    TFJS_INPUT, TFJS_CONV, TFJS_DEPTHWISE, TFJS_BATCHNORM, TFJS_ACTIVATION, TFJS_RELU,
    TFJS_ADD, TFJS_CONCAT, TFJS_MAXPOOL, TFJS_AVGPOOL, TFJS_ZEROPAD, TFJS_GLOBALAVG,
    TFJS_DENSE, TFJS_IDENTITY, TFJS_FLATTEN, TFJS_RESHAPE,
} tfjs_kind;

typedef enum tfjs_act {
    TFJS_ACT_LINEAR, TFJS_ACT_RELU, TFJS_ACT_RELU6, TFJS_ACT_SIGMOID, TFJS_ACT_TANH,
    TFJS_ACT_SOFTMAX,
} tfjs_act;

typedef struct tfjs_layer {
    const char *name, *cls;       /* in the model's arena */
    tfjs_kind kind;
    int nin, *in;                 /* (nin) indices of the input layers, all earlier */
    int consumers;                /* how many layers take this one's output */
    /* convolutions and pools */
    int kh, kw, sh, sw, dh, dw;   /* kernel (pool size), strides, dilation */
    bool same;                    /* 'same' padding, else 'valid' */
    tfjs_act act;                 /* Conv2D, DepthwiseConv2D, Dense, Activation */
    tensor *w, *b;                /* conv (OC, C/groups, KH, KW), dense (OUT, IN); b or NULL */
    int groups;                   /* depthwise: C */
    /* conv + batch norm folded: wf, bf (OC, ...), (OC); fold = index of the norm, or -1 */
    int fold;
    tensor *wf, *bf;
    /* batch norm: scale and shift of the folded form, and the statistics */
    tensor *gamma, *beta, *mean, *var;   /* (C); gamma, beta all-ones/zeros when absent */
    float eps;
    /* ReLU layer */
    float max_value, slope;       /* max_value < 0: none */
    int axis;                     /* Concatenate: Keras axis (-1, 1, 2, 3) */
    int pad[4];                   /* ZeroPadding2D: top, bottom, left, right */
    int reshape[4], reshape_n;    /* Reshape: Keras target shape (channels last) */
} tfjs_layer;

struct tfjs_model {
    arena *mem;                   /* everything below */
    char *path;                   /* model.json, for messages */
    int n;
    tfjs_layer *layers;           /* (n) in an order where inputs come first */
    int *by_name;                 /* (n) layer indices sorted by name */
    int input;                    /* the InputLayer */
    int output;                   /* the first output layer */
    int in_h, in_w, in_c;
    model_params params;
};

/* tfjs_run.c */
status tfjs_run(const tfjs_model *m, arena *a, tensor *x, int n, const char *const *names, tensor **outs, bool partial);

#endif
