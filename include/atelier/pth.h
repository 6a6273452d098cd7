/* pth.h: read the tensors of a PyTorch checkpoint (.pth, .pt) by name, running nothing.
 *
 * torch.save pickles a Python object; torch.load unpickles it, and unpickling can import
 * and call anything (a .pth can run os.system). This reader understands only what
 * torch.save writes for tensors and plain containers: dicts (OrderedDict too), lists,
 * tuples, strings, numbers, None, and tensors and parameters rebuilt from storages by
 * torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter. Any other
 * global is refused before anything is built, with one line naming it:
 *   "model.pth: refusing to load 'os.system' (only tensors and plain containers are read)"
 *
 * Both layouts torch.save writes are read:
 *   zip     (torch >= 1.6): <archive>/data.pkl and one entry <archive>/data/<key> per
 *           storage, stored uncompressed; compressed entries are refused.
 *   legacy  (_use_new_zipfile_serialization=False, and old checkpoints such as
 *           torchvision's vgg19-dcbb9e9d.pth): five pickles (magic number, protocol
 *           version 1001, sys info, the object, the storage keys), then per storage an
 *           8-byte element count and its bytes.
 * The file is mapped, not read: opening parses the pickle and checks every size, offset and
 * stride against the file (a malformed or truncated file gives one error line, never a
 * crash); pth_load_into reads one tensor's bytes.
 *
 * Names: every tensor reachable from the top object, joined with dots: a dict's string (or
 * integer) keys, a list's or tuple's indices. A state dict gives "features.0.weight"; a
 * checkpoint {"state_dict": {...}, "epoch": 3} gives "state_dict.features.0.weight" (the
 * loader in weights.h tries such prefixes). A bare tensor saved alone is named "".
 *
 * Element types: F32, F16, BF16 and F64 (rounded to float32), and the integer types I64,
 * I32, I16, I8, U8 and BOOL (num_batches_tracked is I64), which load as float32 too (exact
 * below 2^24). Views are read as they are: storage offsets, any non-negative strides (a
 * transposed tensor), several tensors sharing one storage, 0-d tensors. Whole pickled
 * modules (torch.save(model)) are refused: save model.state_dict().
 *
 * Hostile input: a pickle is data here, but its memo lets a few bytes name a big object
 * again (one dict shared by four levels of 40 keys reaches a tensor by 40^4 paths from 12 KB).
 * So memory is counted, not only capped: every object, string and container the unpickler
 * builds and every tensor name is charged against 16 MB + 64 bytes per pickle byte (the
 * pickles only: the storages are mapped, not copied), and a file that would pass it is
 * refused with "... would take more than the N MB allowed for M bytes of pickle". Naming
 * visits a shared container once per path, so it visits at most 64K + 16 objects per pickle
 * byte (and 4M), 64 levels deep. Time is O(n) in the pickles' bytes n, plus O(k log k) to
 * sort the k names. pth_open_memory copies the bytes once; pth_open maps the file.
 *
 * Example (a legacy file written by hand: torch.load reads these bytes as {"w": [1.5, -2]}):
 * EXAMPLE_INCLUDES
 *   #include "atelier/arena.h"
 * EXAMPLE_BEGIN
 *   static const char file[] =
 *       "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."       // 0x1950a86a20f9469cfc6c
 *       "\x80\x02M\xe9\x03." "\x80\x02}."                                // 1001, {} (sys info)
 *       "\x80\x02}U\x01wctorch._utils\n_rebuild_tensor_v2\n"              // {"w": _rebuild_tensor_v2(
 *       "((U\x07storagectorch\nFloatStorage\nU\x01" "0U\x03" "cpuK\x02NtQ"  //   storage '0' (2 floats),
 *       "K\x00K\x02\x85K\x01\x85\x89NtRs."                                //   0, (2,), (1,), False, None)}
 *       "\x80\x02]U\x01" "0a."                                           // storage keys ["0"]
 *       "\x02\x00\x00\x00\x00\x00\x00\x00" "\x00\x00\xc0\x3f\x00\x00\x00\xc0";  // 2 elements, 1.5f, -2.0f
 *   pth_file *f = pth_open_memory(file, sizeof file - 1, "example.pth");
 *   if (!f) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   int64_t shape[8];
 *   if (pth_count(f) != 1 || strcmp(pth_name(f, 0), "w") != 0) return 1;
 *   if (pth_shape(f, "w", shape) != 1 || shape[0] != 2 || strcmp(pth_dtype(f, "w"), "F32") != 0) return 1;
 *   arena *a = arena_new(1 << 12);
 *   tensor *w = tensor_new(a, 1, (int[]){2});
 *   if (pth_load_into(f, "w", w) != STATUS_OK || w->data[0] != 1.5f || w->data[1] != -2.0f) return 1;
 *   pth_close(f);
 *   static const char evil[] = "\x80\x02" "cos\nsystem\nU\x02ls\x85R.";   // os.system("ls")
 *   if (pth_open_memory(evil, sizeof evil - 1, "evil.pth") != NULL) return 1;
 *   if (!strstr(error_message(), "refusing to load 'os.system'")) return 1;
 *   error_clear();
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_PTH_H
#define ATELIER_PTH_H
#include <stddef.h>
#include <stdint.h>
#include "atelier/tensor.h"

typedef struct pth_file pth_file;

/* Maps the file and checks it whole. NULL and error_set on any problem. */
pth_file *pth_open(const char *path);
/* The same, from bytes in memory (copied); `what` names them in messages. */
pth_file *pth_open_memory(const void *bytes, size_t len, const char *what);
void pth_close(pth_file *f);

const char *pth_format(const pth_file *f);                   /* "zip" or "legacy" */
int pth_count(const pth_file *f);
const char *pth_name(const pth_file *f, int i);              /* in file order; NULL out of range */
/* shape of a tensor by name: returns ndim (0..8) or -1 if absent; dims into shape[8] */
int pth_shape(const pth_file *f, const char *name, int64_t shape[8]);
const char *pth_dtype(const pth_file *f, const char *name);  /* "F32", "F16", "I64"... or NULL */

/* Copy a tensor into dst as float32: STATUS_SHAPE naming both shapes if they differ,
 * STATUS_FORMAT if absent. Cannot fail on the file's account once it is open. */
status pth_load_into(const pth_file *f, const char *name, tensor *dst);

#endif
