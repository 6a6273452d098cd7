/* classify_internal.h: the classifier's struct, shared by classify.c and classify_train.c. */
#ifndef ATELIER_CLASSIFY_INTERNAL_H
#define ATELIER_CLASSIFY_INTERNAL_H
#include "atelier/classify.h"
#include "atelier/safetensors.h"

struct classifier {
    classify_config c;
    struct featnet *fn;          /* the head's network (owned), NULL for a cnn */
    arena *params;               /* own parameters and the tables */
    int nfeat;                   /* F: the head's input, the CNN's last channels */
    tensor *fc1_w, *fc1_b;       /* head hidden layer (H, F), (H) or NULL */
    tensor *fc2_w, *fc2_b;       /* (K, H or F), (K) */
    tensor *conv_w[3], *conv_b[3];  /* cnn: (OC, C, 3, 3), (OC) */
    model_params own;            /* the head's or the CNN's tensors */
    const char *own_names[16];
    tensor *own_tensors[16];
    model_params all;            /* own, then the network's ("net." + name) with fine_tune */
};

/* The model's metadata as (key, value) pairs in kv; returns the pair count. */
typedef struct classify_meta_buf {
    const char *kv[2 * 16];
    char classes[CLASSIFY_MAX_CLASSES * CLASSIFY_NAME_MAX];
    char nclasses[16], size[16], detail[16], hidden[16], width[16], seed[32];
} classify_meta_buf;
int classify_meta(const classifier *m, classify_meta_buf *mb);
/* A model's config from its file's metadata (a model file or a training checkpoint). */
status classify_config_from_file(const safetensors *f, const char *path, classify_config *c);
/* softmax of k logits */
void classify_softmax(const float *z, int k, float *p);

#endif
