/* metrics.h: how good, how varied and how original a GAN's images are.
 *
 * Generated images ("fake", n of them) are compared with an artist's training images
 * ("real", m) through features of the built-in VGG-19 (models.h), one row of
 * metrics_feature_dim() numbers per image. Three measures, on the rows:
 *
 *   KID          kernel inception distance (Binkowski et al. 2018, "Demystifying MMD
 *                GANs"): the unbiased MMD^2 between the two sets with the polynomial kernel
 *                k(x, y) = (x.y / d + 1)^3, averaged over random subsets as torch-fidelity
 *                does. Unbiased, so it works with few samples and is ~0 (either sign) for
 *                sets from one distribution; it grows as they drift apart. Our features
 *                are VGG-19's, not Inception's: the numbers are not comparable with
 *                published KID, only with each other (same VGG weights, same sizes).
 *   diversity    the mean pairwise L2 distance among the fakes, relative to that among the
 *                reals: well below 1 means the generator covers few modes (mode collapse).
 *   memorisation each fake's distance to its nearest real, against each real's distance to
 *                its nearest other real (leave one out). Median ratio well below 1 and a
 *                high share of fakes much closer to a real than reals are to each other
 *                ("copy_fraction") mean the generator copies its training images.
 *
 * Features (metrics_features), for images (N, 3, H, W) in [-1, 1] (the GAN convention):
 *  - mapped to [0, 1] (x / 2 + 1/2, not clipped) and normalised with vgg_normalize;
 *  - if the smaller side is under 64 px, bilinearly upsampled (align_corners false) so that
 *    it is 64 with the aspect ratio kept: relu5_1 then has at least 4x4 positions;
 *  - at relu2_1, relu3_1, relu4_1 and relu5_1 (128, 256, 512, 512 channels) the spatial
 *    mean and the spatial standard deviation (population, 1/(H W)) of every channel: the
 *    first-order statistics of the Gram-style texture description, blind to position;
 *  - row layout: for each layer in that order, its C means then its C standard deviations;
 *  - each layer's block of 2C numbers is multiplied by sqrt(D / (4 * 2C)), D = 2816: every
 *    layer then weighs a quarter of a squared distance (if its numbers were alike in size),
 *    so relu4_1/relu5_1's 1024 numbers do not drown relu2_1's 256; the factor keeps the
 *    mean square per dimension of the raw statistics, the scale the KID kernel's x.y/d
 *    was made for (1/sqrt(2C) alone would shrink x.y/d ~40x and make the kernel linear).
 *  - images go through VGG at most 16 at a time, each chunk in a scratch arena freed after
 *    it, with autograd off; the net must be built at least to relu5_1.
 *
 * Statistics: sums in double. Medians of an even count are the mean of the two middle
 * values (numpy's, torch.quantile(x, 0.5)). KID's std is the population std (numpy's
 * default, torch-fidelity's) of the subset values. Subsets draw rows without replacement
 * by a partial Fisher-Yates shuffle from rng.h: the result depends only on the seed.
 *
 * Failure: functions returning a status give STATUS_ARG (or STATUS_SHAPE for images) with
 * error_message(); metrics_mmd2_unbiased and metrics_diversity return NAN (with error_set)
 * for bad sizes.
 *
 * Legend: n fakes, m reals, d feature dimensions; rows are contiguous: x (n, d).
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/rng.h"
 * EXAMPLE_BEGIN
 *   enum { N = 40, M = 80, D = 8 };                             // n fakes, m reals
 *   float real[M * D], fake[N * D], collapsed[N * D];
 *   rng r = rng_new(7);
 *   rng_normal(&r, real, M * D, 0.0f, 1.0f);                    // (M, D) real features
 *   rng_normal(&r, fake, N * D, 0.0f, 1.0f);                    // a healthy generator
 *   for (int i = 0; i < N * D; i++) collapsed[i] = 0.05f * fake[i] + 1.0f;  // one mode
 *   metrics_report good, bad;
 *   if (metrics_compare(fake, N, real, M, D, 1, &good) != STATUS_OK) return 1;
 *   if (metrics_compare(collapsed, N, real, M, D, 1, &bad) != STATUS_OK) return 1;
 *   if (good.collapse_warning || good.copy_warning || !bad.collapse_warning) return 1;
 *   if (!(bad.kid > good.kid + 3 * good.kid_std)) return 1;     // further from the reals
 *   printf("KID %.4f +- %.4f, diversity %.2f, memorisation ratio %.2f\n", good.kid,
 *          good.kid_std, good.diversity_ratio, good.memo.ratio);
 *   if (metrics_kid(fake, N, real, 1, D, 10, 50, 1, &good.kid, &good.kid_std) == STATUS_OK)
 *       return 1;                                               // one real row: no KID
 *   error_clear();
 * EXAMPLE_END
 */
#ifndef ATELIER_METRICS_H
#define ATELIER_METRICS_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/models.h"
#include "atelier/featnet.h"

/* A fake counts as a copy when its nearest real is closer than this times the reals'
 * median nearest-neighbour distance. */
#define METRICS_COPY_THRESHOLD 0.5
/* metrics_compare warns of mode collapse when diversity_fake / diversity_real is below this */
#define METRICS_COLLAPSE_RATIO 0.5
/* ... and of copying when more than this share of fakes are copies */
#define METRICS_COPY_FRACTION 0.1
/* KID in metrics_compare: this many subsets of min(n, m, METRICS_KID_SUBSET_SIZE) rows */
#define METRICS_KID_SUBSETS 50
#define METRICS_KID_SUBSET_SIZE 100

/* ---- features ---- */
int metrics_feature_dim(void);   /* 2816 = 2 * (128 + 256 + 512 + 512) */
/* images (N, 3, H, W) in [-1, 1] -> out (N, metrics_feature_dim()), as described above.
 * vgg built to relu5_1 or deeper, any weights (seeded or loaded). */
status metrics_features(const vgg19 *vgg, const tensor *images, float *out);

/* Trained features (featnet.h), as KID and FID use them: images (N, 3, H, W) in [-1, 1]
 * mapped to [0, 1], resized to 299x299 (bilinear, align_corners false, as torch-fidelity),
 * through the network, and the spatial mean of its last pooled layer: InceptionV3's mixed10
 * (2048 values), MobileNetV2's out_relu (1280). The nsfwjs networks are ImageNet backbones
 * fine-tuned to another task, so the numbers are close to, not equal to, the published
 * Inception KID. A VGG-19 featnet gives metrics_features' rows. */
int metrics_featnet_dim(const featnet *f);    /* -1 (error set) if it has no such layer */
status metrics_featnet_features(const featnet *f, const tensor *images, float *out);

/* ---- measures on feature rows ---- */
/* mean k(x_i, x_j) over i != j + mean k(y_i, y_j) over i != j - 2 mean k(x_i, y_j), with
 * k(a, b) = (a.b / d + 1)^3; x (n, d), y (m, d); n, m >= 2 (else NAN). */
double metrics_mmd2_unbiased(const float *x, int n, const float *y, int m, int d);
/* KID: `subsets` times, subset_size rows of x and of y drawn without replacement, their
 * mmd2_unbiased; *mean and *std over the subsets. subset_size is clamped to min(n, m),
 * which must be >= 2. */
status metrics_kid(const float *x, int n, const float *y, int m, int d, int subsets,
                   int subset_size, uint64_t seed, double *mean, double *std);
/* mean L2 distance over all pairs i < j of x (n, d); 0 when n < 2 */
double metrics_diversity(const float *x, int n, int d);

typedef struct metrics_memo {
    double fake_nn_median;  /* median over fakes of the L2 distance to the nearest real */
    double real_nn_median;  /* median over reals of the distance to the nearest other real */
    double ratio;           /* fake_nn_median / real_nn_median: ~1 or more is healthy */
    double copy_fraction;   /* share of fakes nearer than copy_threshold * real_nn_median */
} metrics_memo;
/* fake (n, d), real (m, d); n >= 1, m >= 2, and real_nn_median must be > 0 (the reals are
 * not mostly duplicates). */
status metrics_memorisation(const float *fake, int n, const float *real, int m, int d,
                            double copy_threshold, metrics_memo *out);

/* ---- all of it, with warnings ---- */
typedef struct metrics_report {
    double kid, kid_std;                 /* METRICS_KID_SUBSETS subsets (std 0 when n = m <=
                                          * METRICS_KID_SUBSET_SIZE: each is the whole sets) */
    double diversity_fake, diversity_real, diversity_ratio;  /* ratio = fake / real */
    metrics_memo memo;                   /* with METRICS_COPY_THRESHOLD */
    bool collapse_warning;               /* diversity_ratio < METRICS_COLLAPSE_RATIO */
    bool copy_warning;                   /* memo.copy_fraction > METRICS_COPY_FRACTION */
} metrics_report;
/* fake (n, d), real (m, d): n, m >= 2, every value finite. */
status metrics_compare(const float *fake, int n, const float *real, int m, int d,
                       uint64_t seed, metrics_report *r);

#endif
