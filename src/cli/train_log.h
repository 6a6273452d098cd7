/* train_log.h: the JSON-lines log of a training run (gan train, style-net train), kept in
 * step with its checkpoint on resume.
 *
 * train_log_reopen keeps the lines of RUN_DIR/log.jsonl whose "step" is at most the
 * checkpoint's (a run stopped after its last checkpoint logged steps it will train again),
 * rewrites the file atomically (temporary file, rename), hands each kept line to `kept`
 * (to rebuild the curves' history) and returns the file open for appending; NULL with a
 * line on stderr if it cannot. A missing log is an empty one. */
#ifndef ATELIER_TRAIN_LOG_H
#define ATELIER_TRAIN_LOG_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The number after "key": in a JSON line (false when absent). */
bool train_log_num(const char *line, const char *key, double *v);
FILE *train_log_reopen(const char *cmd, const char *path, int64_t step,
                       void (*kept)(const char *line, double step, void *user), void *user);

/* The run's processes (dist.h: mpirun -np K, or one), NULL with a line on stderr. Ranks
 * sharing a machine split its cores (dist_threads_per_rank) unless OMP_NUM_THREADS says
 * otherwise. */
struct dist;
struct dist *train_dist_init(const char *cmd);

#endif
