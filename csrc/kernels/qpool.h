/* lpot's own small task pool (for lpot's conv GEMM). Plain C.
 *
 * Why not OpenMP: an OpenMP parallel region ends in a barrier that every
 * team thread must reach, so a call waits for a worker that the OS has not
 * scheduled yet; on a loaded machine (other processes on the same cores) a
 * 0.7 ms batch-1 convolution then took 8 ms (a scheduler time slice), and
 * the adaptive thread choice fell back to one thread. Here the calling
 * thread takes tasks from a shared counter as well, and a call ends when
 * every task is done: a helper that wakes too late finds none left and does
 * not hold the call up (only a helper preempted in the middle of a task
 * does, so tasks are kept small). */
#ifndef LPOT_QPOOL_H
#define LPOT_QPOOL_H

#include <stddef.h>
#include <stdint.h>

#define LPOT_POOL_MAX_WORKERS 64

/* One task: `worker` is 0 for the calling thread, 1.. for the helpers (a
 * worker runs one task at a time: per-worker scratch indexed by it needs no
 * lock). */
typedef void (*lpot_pool_fn)(void *ctx, int64_t task, int worker);

/* Run fn(ctx, t, worker) for t in [0, ntask) on the calling thread and up to
 * nt - 1 helpers (created on first use; nt is capped at
 * LPOT_POOL_MAX_WORKERS); returns when all are done. One call at a time
 * uses the helpers: a concurrent caller runs its tasks by itself. Worker
 * ids are below min(nt, LPOT_POOL_MAX_WORKERS). */
void lpot_pool_run(int nt, int64_t ntask, lpot_pool_fn fn, void *ctx);

/* The calling thread's scratch buffer number `slot` (< LPOT_POOL_SLOTS) of at
 * least `bytes` bytes (64-byte aligned; contents undefined), kept for the
 * next call and freed at thread exit; NULL when out of memory. Reusing it
 * matters: a helper's freed buffers go back to its own malloc arena, which
 * returns them to the kernel, and every call then page-faults them in
 * again (measured: 53 faults per batch-1 convolution, 1.5x slower). */
#define LPOT_POOL_SLOTS 3
void *lpot_pool_scratch(int slot, size_t bytes);

#endif
