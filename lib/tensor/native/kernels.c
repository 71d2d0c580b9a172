/*
 * Vectorised float32 kernels of the `native` tfjs backend (lib/tensor/native/). Compiled on first
 * use with the system C compiler (`cc -O3 -march=native -shared -fPIC -pthread`) into
 * .cache/native/<hash>.so and called through Deno FFI on the tensors' own typed arrays.
 *
 * Conventions:
 * - every array is a plain C array the caller owns (a Float32Array / Int32Array / Uint8Array);
 *   outputs are written, never allocated here;
 * - shapes and strides are int32 (tfjs tensors have fewer than 2^31 elements);
 * - work is split over a small pthread pool in FIXED partitions, and every output element is
 *   computed by exactly one thread in an order that does not depend on the thread count, so
 *   results are identical run to run and for any number of threads;
 * - transcendental functions are branch-free polynomial approximations (Cephes' single-precision
 *   ones) written on GCC vector types, accurate to a few ulp.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NK_VERSION 2

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() __asm__ __volatile__("" ::: "memory")
#endif
#define MAX_THREADS 64
#define MAX_RANK 8

typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));
typedef float v8fa __attribute__((vector_size(32)));

static inline v8f vload(const float *p) { return *(const v8f *)p; }
static inline void vstore(float *p, v8f v) { *(v8f *)p = v; }
static inline v8f vset1(float x) { return (v8f){x, x, x, x, x, x, x, x}; }
/* mask ? a : b, mask lanes being all ones or all zeros (a vector comparison's result). */
static inline v8f vsel(v8i mask, v8f a, v8f b) {
  v8i r = (mask & (v8i)a) | (~mask & (v8i)b);
  return (v8f)r;
}

/* ------------------------------------------------------------------------------------------ */
/* Thread pool. A parallel region cuts [0, n) into parts of a fixed size; the caller and the    */
/* workers claim parts until none is left. A worker that is slow to wake (another process has  */
/* the core) leaves its parts to the others instead of stalling the region. Every kernel's     */
/* output does not depend on which thread computes a part, nor on the number of parts.         */

typedef void (*nk_task)(void *ctx, long begin, long end);

static int g_threads = 1;
static long g_spin_us = 5000; /* how long an idle worker spins before it sleeps */
static pthread_t g_workers[MAX_THREADS];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static atomic_long g_gen;     /* bumped per region: wakes the workers */
static atomic_ulong g_ticket; /* (region << 32) | next part to claim */
static atomic_long g_done;    /* parts finished in the current region */
static nk_task g_fn;
static void *g_ctx;
static long g_n, g_chunk, g_nparts;

/* Claims and runs parts of region `gen` until none is left (or the region is over). */
static void run_parts(unsigned long gen) {
  for (;;) {
    unsigned long t = atomic_load_explicit(&g_ticket, memory_order_acquire);
    if ((t >> 32) != (gen & 0xffffffffUL)) return;
    long idx = (long)(t & 0xffffffffUL);
    if (idx >= g_nparts) return;
    if (!atomic_compare_exchange_weak_explicit(&g_ticket, &t, t + 1, memory_order_acq_rel,
                                               memory_order_acquire)) {
      continue;
    }
    /* The region cannot end before this part is done: its fields are stable. */
    long b = idx * g_chunk, e = b + g_chunk < g_n ? b + g_chunk : g_n;
    g_fn(g_ctx, b, e);
    atomic_fetch_add_explicit(&g_done, 1, memory_order_acq_rel);
  }
}

static void *worker_main(void *arg) {
  (void)arg;
  long seen = 0;
  for (;;) {
    long gen;
    /* Spin a while (kernels come in quick succession, with the caller's own work between
     * them), then sleep on the condition. Waking a sleeping worker costs tens to hundreds of
     * microseconds (more in a VM, whose idle vCPU halts); on the 2-core VM the ijepa-step ran
     * 5-10% faster with 3-30 ms of spinning than with 0.1 ms, alternating step by step. */
    long spins = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((gen = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen) {
      CPU_RELAX();
      if ((++spins & 255) != 0) continue;
      clock_gettime(CLOCK_MONOTONIC, &now);
      const long us = (now.tv_sec - t0.tv_sec) * 1000000L + (now.tv_nsec - t0.tv_nsec) / 1000;
      if (us >= g_spin_us) break;
    }
    if (gen == seen) {
      pthread_mutex_lock(&g_mu);
      while ((gen = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen) {
        pthread_cond_wait(&g_cv, &g_mu);
      }
      pthread_mutex_unlock(&g_mu);
    }
    seen = gen;
    run_parts((unsigned long)gen);
  }
  return NULL;
}

/* Serialises parallel regions: several JS isolates (Deno test workers) may share the pool. */
static pthread_mutex_t g_region = PTHREAD_MUTEX_INITIALIZER;

/* Runs fn over [0, n) in parts of at least `grain` items (a multiple of `align`), on the pool;
 * in the calling thread alone when n <= grain or when another caller holds the pool. */
static void parallel_for(long n, long grain, long align, nk_task fn, void *ctx) {
  if (n <= 0) return;
  if (align < 1) align = 1;
  if (grain < align) grain = align;
  if (g_threads <= 1 || n <= grain || pthread_mutex_trylock(&g_region) != 0) {
    fn(ctx, 0, n);
    return;
  }
  /* About 4 parts per thread (for balance), none smaller than grain. */
  long parts = 4L * g_threads;
  long chunk = (n + parts - 1) / parts;
  if (chunk < grain) chunk = grain;
  chunk = (chunk + align - 1) / align * align;
  g_fn = fn;
  g_ctx = ctx;
  g_n = n;
  g_chunk = chunk;
  g_nparts = (n + chunk - 1) / chunk;
  atomic_store_explicit(&g_done, 0, memory_order_relaxed);
  long gen = atomic_load_explicit(&g_gen, memory_order_relaxed) + 1;
  atomic_store_explicit(&g_ticket, ((unsigned long)gen & 0xffffffffUL) << 32,
                        memory_order_release);
  pthread_mutex_lock(&g_mu);
  atomic_store_explicit(&g_gen, gen, memory_order_release);
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  run_parts((unsigned long)gen);
  while (atomic_load_explicit(&g_done, memory_order_acquire) < g_nparts) CPU_RELAX();
  pthread_mutex_unlock(&g_region);
}

/* Keeps a shared library loaded for the life of the process (RTLD_NODELETE). Deno unloads an
 * FFI library when the isolate that opened it ends (each `deno test` module is one): this
 * library's pool threads would then wait on a condition variable that a reload re-initialises,
 * and OpenBLAS would tear down and restart its own threads. Returns 0 on success. */
int nk_pin(const char *name) {
  if (name == NULL) {
    Dl_info info;
    if (!dladdr((void *)nk_pin, &info) || info.dli_fname == NULL) return -1;
    name = info.dli_fname;
  }
  return dlopen(name, RTLD_NOW | RTLD_NODELETE) ? 0 : -1;
}

/* Starts the pool (once per process), its idle workers spinning spin_us microseconds before
 * they sleep; returns the number of threads in use, the caller included. */
int nk_init(int threads, int spin_us) {
  static int started = 0;
  if (started) return g_threads;
  started = 1;
  g_spin_us = spin_us < 0 ? 0 : spin_us;
  nk_pin(NULL);
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  int ok = 1;
  for (int t = 1; t < threads; t++) {
    if (pthread_create(&g_workers[t], NULL, worker_main, NULL) != 0) {
      ok = t;
      break;
    }
    pthread_detach(g_workers[t]);
  }
  g_threads = ok == 1 ? threads : ok;
  return g_threads;
}

int nk_version(void) { return NK_VERSION; }

/* ------------------------------------------------------------------------------------------ */
/* Vector math (Cephes single precision).                                                     */

/* e^(x - n ln 2) for |x - n ln 2| <= ln 2 / 2: Cephes' expf polynomial on the reduced argument
 * (ln 2 split in two parts for the reduction). */
static inline v8f exp_reduced(v8f x, v8f n) {
  const v8f r = x - n * vset1(0.693359375f) - n * vset1(-2.12194440e-4f);
  v8f z = r * r;
  v8f y = vset1(1.9875691500E-4f);
  y = y * r + vset1(1.3981999507E-3f);
  y = y * r + vset1(8.3334519073E-3f);
  y = y * r + vset1(4.1665795894E-2f);
  y = y * r + vset1(1.6666665459E-1f);
  y = y * r + vset1(5.0000001201E-1f);
  y = y * z + r + vset1(1.0f);
  return y;
}

static inline v8f v_exp(v8f x) {
  const v8f hi = vset1(88.72283905206835f), lo = vset1(-103.972084f);
  v8f xc = vsel(x > hi, hi, x);
  xc = vsel(xc < lo, lo, xc);
  v8f fx = xc * vset1(1.44269504088896341f) + vset1(0.5f);
  v8f fl = __builtin_convertvector(__builtin_convertvector(fx, v8i), v8f);
  fl = vsel(fl > fx, fl - vset1(1.0f), fl); /* floor */
  v8f y = exp_reduced(xc, fl);
  /* 2^n in two factors so that n in [-150, 128] stays representable. */
  v8i n = __builtin_convertvector(fl, v8i);
  v8i n1 = n >> 1, n2 = n - n1;
  v8f s1 = (v8f)((n1 + 127) << 23), s2 = (v8f)((n2 + 127) << 23);
  y = y * s1 * s2;
  y = vsel(x > hi, vset1(INFINITY), y);
  y = vsel(x != x, x, y);
  return y;
}

/* v_exp without its edge cases, for kernels that only feed it values where those do not matter
 * (softmax, GELU): the same polynomial and accuracy on [-87.3, 88.7], 0 below (v_exp gives
 * denormals down to -103.97), overflow to inf above; NaN stays NaN. Rounds with the 1.5 * 2^23
 * trick and builds 2^n in one step: about 1.6x faster. */
static inline v8f v_exp_normal(v8f x0) {
  const v8f lo = vset1(-87.3f), hi = vset1(88.7f), magic = vset1(12582912.0f);
  v8f x = vsel(x0 > lo, x0, lo); /* NaN stays: the comparison is false, x0 is kept... */
  x = vsel(x0 != x0, x0, x);      /* ...only where it is not NaN */
  x = vsel(x < hi, x, hi);
  v8f t = x * vset1(1.44269504088896341f) + magic; /* n = round(x / ln 2) in t's low bits */
  v8f n = t - magic;
  v8f y = exp_reduced(x, n);
  v8i e = ((v8i)t - (v8i)magic + 127) << 23;
  return vsel(x0 < lo, vset1(0.0f), y * (v8f)e);
}

static inline v8f v_log(v8f x) {
  v8i xi = (v8i)x;
  /* Denormals: scale up by 2^23 first. */
  v8i den = xi < (v8i){0x00800000, 0x00800000, 0x00800000, 0x00800000, 0x00800000, 0x00800000,
                       0x00800000, 0x00800000};
  v8f xs = vsel(den, x * vset1(8388608.0f), x);
  v8i bits = (v8i)xs;
  v8i e = ((bits >> 23) & 0xff) - 126;
  e = e - (den & 23);
  v8f m = (v8f)((bits & 0x007fffff) | 0x3f000000); /* [0.5, 1) */
  v8f ef = __builtin_convertvector(e, v8f);
  v8i small = m < vset1(0.707106781186547524f);
  ef = vsel(small, ef - vset1(1.0f), ef);
  m = vsel(small, m + m - vset1(1.0f), m - vset1(1.0f));
  v8f z = m * m;
  v8f y = vset1(7.0376836292E-2f);
  y = y * m - vset1(1.1514610310E-1f);
  y = y * m + vset1(1.1676998740E-1f);
  y = y * m - vset1(1.2420140846E-1f);
  y = y * m + vset1(1.4249322787E-1f);
  y = y * m - vset1(1.6668057665E-1f);
  y = y * m + vset1(2.0000714765E-1f);
  y = y * m - vset1(2.4999993993E-1f);
  y = y * m + vset1(3.3333331174E-1f);
  y = y * m * z;
  y = y + ef * vset1(-2.12194440e-4f);
  y = y - vset1(0.5f) * z;
  v8f r = m + y + ef * vset1(0.693359375f);
  r = vsel(x == vset1(0.0f), vset1(-INFINITY), r);
  r = vsel(x < vset1(0.0f), vset1(NAN), r);
  r = vsel(x == vset1(INFINITY), x, r);
  r = vsel(x != x, x, r);
  return r;
}

static inline v8f v_abs(v8f x) { return (v8f)((v8i)x & 0x7fffffff); }

static inline v8f v_tanh(v8f x) {
  v8f ax = v_abs(x);
  v8f z = x * x;
  v8f p = vset1(-5.70498872745E-3f);
  p = p * z + vset1(2.06390887954E-2f);
  p = p * z - vset1(5.37397155531E-2f);
  p = p * z + vset1(1.33314422036E-1f);
  p = p * z - vset1(3.33332819422E-1f);
  v8f small = p * z * x + x;
  v8f e = v_exp(ax + ax);
  v8f big = vset1(1.0f) - vset1(2.0f) / (e + vset1(1.0f));
  big = (v8f)((v8i)big | ((v8i)x & (int32_t)0x80000000)); /* copy the sign */
  return vsel(ax < vset1(0.625f), small, big);
}

static inline v8f v_sigmoid(v8f x) { return vset1(1.0f) / (vset1(1.0f) + v_exp(-x)); }

/* tfjs' erf (Abramowitz & Stegun 7.1.26, the cpu backend's formula). */
static inline v8f v_erf(v8f x) {
  const float p = 0.3275911f, a1 = 0.254829592f, a2 = -0.284496736f, a3 = 1.421413741f,
              a4 = -1.453152027f, a5 = 1.061405429f;
  v8f v = v_abs(x);
  v8f t = vset1(1.0f) / (vset1(1.0f) + vset1(p) * v);
  v8f poly = ((((vset1(a5) * t + vset1(a4)) * t + vset1(a3)) * t + vset1(a2)) * t + vset1(a1)) * t;
  v8f r = vset1(1.0f) - poly * v_exp(-v * v);
  r = (v8f)((v8i)r | ((v8i)x & (int32_t)0x80000000));
  r = vsel(x == vset1(0.0f), x, r);
  return vsel(x != x, x, r);
}

/* ------------------------------------------------------------------------------------------ */
/* Unary element-wise ops.                                                                     */

enum {
  U_NEG = 0, U_ABS, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_SQUARE, U_TANH, U_SIGMOID, U_ERF,
  U_RELU, U_RELU6, U_ELU, U_LEAKY, U_STEP, U_RECIP, U_LOG1P, U_SOFTPLUS, U_SIGN, U_FLOOR,
  U_CEIL, U_CUBE, U_POW15, U_COPY, U_SELU, U_EXPM1, U_SIN, U_COS, U_CLIP, U_FILL,
  U_AFFINE, U_POW_SCALAR, U_COUNT
};

typedef struct {
  int op;
  const float *x;
  float *out;
  float alpha, beta;
} unary_ctx;

static inline float s_sign(float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : (x == 0 ? 0.0f : x)); }

/* Applies a vector function over [b, e): full vectors, then the tail through a padded copy. */
#define VEC_MAP(FN)                                                                   \
  do {                                                                                \
    long i = b;                                                                       \
    for (; i + 8 <= e; i += 8) vstore(out + i, FN(vload(x + i)));                     \
    if (i < e) {                                                                      \
      float tin[8] = {0}, tout[8];                                                    \
      memcpy(tin, x + i, (size_t)(e - i) * sizeof(float));                            \
      vstore(tout, FN(vload(tin)));                                                   \
      memcpy(out + i, tout, (size_t)(e - i) * sizeof(float));                         \
    }                                                                                 \
  } while (0)

#define SCALAR_MAP(EXPR)                                                              \
  do {                                                                                \
    for (long i = b; i < e; i++) {                                                    \
      float v = x[i];                                                                 \
      out[i] = (EXPR);                                                                \
    }                                                                                 \
  } while (0)

static void unary_task(void *p, long b, long e) {
  unary_ctx *c = p;
  const float *x = c->x;
  float *out = c->out;
  const float alpha = c->alpha, beta = c->beta;
  switch (c->op) {
    case U_NEG: SCALAR_MAP(-v); break;
    case U_ABS: SCALAR_MAP(fabsf(v)); break;
    case U_EXP: VEC_MAP(v_exp); break;
    case U_LOG: VEC_MAP(v_log); break;
    case U_SQRT: SCALAR_MAP(sqrtf(v)); break;
    case U_RSQRT: SCALAR_MAP(1.0f / sqrtf(v)); break;
    case U_SQUARE: SCALAR_MAP(v * v); break;
    case U_TANH: VEC_MAP(v_tanh); break;
    case U_SIGMOID: VEC_MAP(v_sigmoid); break;
    case U_ERF: VEC_MAP(v_erf); break;
    case U_RELU: SCALAR_MAP(v < 0 ? 0.0f : v); break;
    case U_RELU6: SCALAR_MAP(v < 0 ? 0.0f : (v > 6 ? 6.0f : v)); break;
    case U_ELU: {
      /* exp only where needed: x < 0. */
      long i = b;
      for (; i + 8 <= e; i += 8) {
        v8f v = vload(x + i);
        vstore(out + i, vsel(v < vset1(0.0f), v_exp(v) - vset1(1.0f), v));
      }
      for (; i < e; i++) out[i] = x[i] >= 0 ? x[i] : expf(x[i]) - 1.0f;
      break;
    }
    case U_SELU: {
      const float scale = 1.0507009873554804934193349852946f;
      const float sa = 1.7580993408473768599402175208123f;
      long i = b;
      for (; i + 8 <= e; i += 8) {
        v8f v = vload(x + i);
        vstore(out + i,
               vsel(v < vset1(0.0f), vset1(sa) * (v_exp(v) - vset1(1.0f)), vset1(scale) * v));
      }
      for (; i < e; i++) out[i] = x[i] >= 0 ? scale * x[i] : sa * (expf(x[i]) - 1.0f);
      break;
    }
    case U_LEAKY: SCALAR_MAP(v < 0 ? alpha * v : v); break;
    case U_STEP: SCALAR_MAP(v != v ? v : (v > 0 ? 1.0f : alpha)); break;
    case U_RECIP: SCALAR_MAP(1.0f / v); break;
    case U_LOG1P: SCALAR_MAP(log1pf(v)); break;
    case U_EXPM1: SCALAR_MAP(expm1f(v)); break;
    case U_SOFTPLUS: {
      /* tfjs' thresholds: exp(x) below log(eps) + 2, x above -(log(eps) + 2). */
      const float th = -13.942385152878742f;
      for (long i = b; i < e; i++) {
        float v = x[i];
        out[i] = v > -th ? v : (v < th ? expf(v) : logf(1.0f + expf(v)));
      }
      break;
    }
    case U_SIGN: SCALAR_MAP(s_sign(v)); break;
    case U_FLOOR: SCALAR_MAP(floorf(v)); break;
    case U_CEIL: SCALAR_MAP(ceilf(v)); break;
    case U_CUBE: SCALAR_MAP(v * v * v); break;
    case U_POW15: SCALAR_MAP(v * sqrtf(v)); break;
    case U_COPY: memcpy(out + b, x + b, (size_t)(e - b) * sizeof(float)); break;
    case U_SIN: SCALAR_MAP(sinf(v)); break;
    case U_COS: SCALAR_MAP(cosf(v)); break;
    case U_CLIP: SCALAR_MAP(v != v ? v : (v < alpha ? alpha : (v > beta ? beta : v))); break;
    case U_FILL: for (long i = b; i < e; i++) out[i] = alpha; break;
    case U_AFFINE: SCALAR_MAP(alpha * v + beta); break;
    case U_POW_SCALAR: SCALAR_MAP(beta != beta ? beta : powf(v, alpha)); break;
    default: break;
  }
}

/* out[i] = op(x[i]) for i < n. Returns -1 on an unknown op. */
int nk_unary(int op, int n, const float *x, float *out, float alpha, float beta) {
  if (op < 0 || op >= U_COUNT) return -1;
  unary_ctx c = {op, x, out, alpha, beta};
  parallel_for(n, 1 << 15, 16, unary_task, &c);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Binary element-wise ops with broadcasting. The caller collapses dims; rank <= MAX_RANK.     */

enum { B_ADD = 0, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_SQDIFF, B_POW, B_COUNT };
enum { C_LESS = 0, C_LESS_EQ, C_GREATER, C_GREATER_EQ, C_EQUAL, C_NOT_EQUAL, C_COUNT };

typedef struct {
  int op, rank, compare;
  int shape[MAX_RANK];
  int as[MAX_RANK], bs[MAX_RANK];
  const float *a, *b;
  void *out;
} binary_ctx;

static inline float s_max(float x, float y) { return x != x ? x : (y != y ? y : (x > y ? x : y)); }
static inline float s_min(float x, float y) { return x != x ? x : (y != y ? y : (x < y ? x : y)); }
static inline float s_pow(float x, float y) { return y != y ? y : powf(x, y); }

#define BIN_LOOP(EXPR)                                                                \
  do {                                                                                \
    if (sa && sb) {                                                                   \
      for (long i = 0; i < n; i++) {                                                  \
        float x = a[i], y = b[i];                                                     \
        o[i] = (EXPR);                                                                \
      }                                                                               \
    } else if (sa) {                                                                  \
      const float y = b[0];                                                           \
      for (long i = 0; i < n; i++) {                                                  \
        float x = a[i];                                                               \
        o[i] = (EXPR);                                                                \
      }                                                                               \
    } else if (sb) {                                                                  \
      const float x = a[0];                                                           \
      for (long i = 0; i < n; i++) {                                                  \
        float y = b[i];                                                               \
        o[i] = (EXPR);                                                                \
      }                                                                               \
    } else {                                                                          \
      const float x = a[0], y = b[0];                                                 \
      const float r = (EXPR);                                                         \
      for (long i = 0; i < n; i++) o[i] = r;                                          \
    }                                                                                 \
  } while (0)

static void binary_row(int op, long n, const float *a, int sa, const float *b, int sb, float *o) {
  switch (op) {
    case B_ADD: BIN_LOOP(x + y); break;
    case B_SUB: BIN_LOOP(x - y); break;
    case B_MUL: BIN_LOOP(x * y); break;
    case B_DIV: BIN_LOOP(x / y); break;
    case B_MAX: BIN_LOOP(s_max(x, y)); break;
    case B_MIN: BIN_LOOP(s_min(x, y)); break;
    case B_SQDIFF: BIN_LOOP((x - y) * (x - y)); break;
    case B_POW: BIN_LOOP(s_pow(x, y)); break;
    default: break;
  }
}

#define CMP_LOOP(EXPR)                                                                \
  do {                                                                                \
    for (long i = 0; i < n; i++) {                                                    \
      float x = a[sa ? i : 0], y = b[sb ? i : 0];                                     \
      o[i] = (EXPR) ? 1 : 0;                                                          \
    }                                                                                 \
  } while (0)

static void compare_row(int op, long n, const float *a, int sa, const float *b, int sb,
                        uint8_t *o) {
  switch (op) {
    case C_LESS: CMP_LOOP(x < y); break;
    case C_LESS_EQ: CMP_LOOP(x <= y); break;
    case C_GREATER: CMP_LOOP(x > y); break;
    case C_GREATER_EQ: CMP_LOOP(x >= y); break;
    case C_EQUAL: CMP_LOOP(x == y); break;
    case C_NOT_EQUAL: CMP_LOOP(x != y); break;
    default: break;
  }
}

/* Rows [rb, re) of the output seen as [rows, shape[rank-1]]. */
static void broadcast_rows(binary_ctx *c, long rb, long re, int compare) {
  const int r = c->rank;
  const long inner = c->shape[r - 1];
  const int sa = c->as[r - 1] != 0, sb = c->bs[r - 1] != 0;
  int idx[MAX_RANK] = {0};
  long rem = rb;
  long ao = 0, bo = 0;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = (int)(rem % c->shape[d]);
    rem /= c->shape[d];
    ao += (long)idx[d] * c->as[d];
    bo += (long)idx[d] * c->bs[d];
  }
  for (long row = rb; row < re; row++) {
    if (compare) {
      compare_row(c->op, inner, c->a + ao, sa, c->b + bo, sb, (uint8_t *)c->out + row * inner);
    } else {
      binary_row(c->op, inner, c->a + ao, sa, c->b + bo, sb, (float *)c->out + row * inner);
    }
    for (int d = r - 2; d >= 0; d--) {
      idx[d]++;
      ao += c->as[d];
      bo += c->bs[d];
      if (idx[d] < c->shape[d]) break;
      ao -= (long)c->as[d] * c->shape[d];
      bo -= (long)c->bs[d] * c->shape[d];
      idx[d] = 0;
    }
  }
}

static void binary_task(void *p, long b, long e) {
  binary_ctx *c = p;
  if (c->rank > 1) {
    broadcast_rows(c, b, e, c->compare);
    return;
  }
  /* One flat row: split it. */
  const int sa = c->as[0] != 0, sb = c->bs[0] != 0;
  const float *a = c->a + (sa ? b : 0), *bb = c->b + (sb ? b : 0);
  if (c->compare) compare_row(c->op, e - b, a, sa, bb, sb, (uint8_t *)c->out + b);
  else binary_row(c->op, e - b, a, sa, bb, sb, (float *)c->out + b);
}

/* Runs a binary op or a comparison (`compare`) over `shape`: rank 1 split in flat parts, higher
 * ranks by rows of the last dim. */
static int binary_run(int op, int compare, int rank, const int32_t *shape, const float *a,
                      const int32_t *as, const float *b, const int32_t *bs, void *out) {
  if (rank < 1 || rank > MAX_RANK) return -1;
  binary_ctx c = {.op = op, .rank = rank, .compare = compare, .a = a, .b = b, .out = out};
  long total = 1;
  for (int d = 0; d < rank; d++) {
    c.shape[d] = shape[d];
    c.as[d] = as[d];
    c.bs[d] = bs[d];
    total *= shape[d];
  }
  if (total <= 0) return 0;
  const long inner = shape[rank - 1];
  if (rank == 1) parallel_for(inner, 1 << 15, 16, binary_task, &c);
  else parallel_for(total / inner, ((1 << 15) + inner - 1) / inner, 1, binary_task, &c);
  return 0;
}

/* out = a op b over `shape` (output order), a/b read through strides (0 where broadcast). */
int nk_binary(int op, int rank, const int32_t *shape, const float *a, const int32_t *as,
              const float *b, const int32_t *bs, float *out) {
  if (op < 0 || op >= B_COUNT) return -1;
  return binary_run(op, 0, rank, shape, a, as, b, bs, out);
}

/* Comparisons of float32 inputs into a bool (uint8) output. */
int nk_compare(int op, int rank, const int32_t *shape, const float *a, const int32_t *as,
               const float *b, const int32_t *bs, uint8_t *out) {
  if (op < 0 || op >= C_COUNT) return -1;
  return binary_run(op, 1, rank, shape, a, as, b, bs, out);
}

/* ------------------------------------------------------------------------------------------ */
/* Reductions over the middle axis of [outer, r, inner].                                      */

enum { R_SUM = 0, R_MAX, R_MIN, R_PROD, R_COUNT };

typedef struct {
  int op;
  long outer, r, inner;
  const float *x;
  float *out;
  float scale;
} reduce_ctx;

/* Sum of a[i] (b == NULL) or of a[i] * b[i] over i < n: 16 lanes, then the tail, in a fixed
 * order. */
static inline float dot_or_sum(const float *a, const float *b, long n) {
  v8f s0 = vset1(0), s1 = vset1(0);
  long i = 0;
  if (b) {
    for (; i + 16 <= n; i += 16) {
      s0 += vload(a + i) * vload(b + i);
      s1 += vload(a + i + 8) * vload(b + i + 8);
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      s0 += vload(a + i);
      s1 += vload(a + i + 8);
    }
  }
  s0 += s1;
  float s = 0;
  for (int k = 0; k < 8; k++) s += s0[k];
  for (; i < n; i++) s += b ? a[i] * b[i] : a[i];
  return s;
}

/* Reduces one contiguous row of length n, with 16 lanes in a fixed order. */
static float reduce_row(int op, const float *x, long n) {
  long i = 0;
  if (op == R_SUM) return dot_or_sum(x, NULL, n);
  if (op == R_PROD) {
    float s = 1;
    for (; i < n; i++) s *= x[i];
    return s;
  }
  float m = x[0];
  int nan = 0;
  for (i = 0; i < n; i++) {
    float v = x[i];
    nan |= v != v;
    m = op == R_MAX ? (v > m ? v : m) : (v < m ? v : m);
  }
  return nan ? NAN : m;
}

static void reduce_task(void *p, long b, long e) {
  reduce_ctx *c = p;
  if (c->inner == 1) {
    for (long o = b; o < e; o++) c->out[o] = reduce_row(c->op, c->x + o * c->r, c->r) * c->scale;
    return;
  }
  /* Parts are over outer * inner "columns", split by outer index then column chunks. */
  for (long q = b; q < e; q++) {
    long o = q / ((c->inner + 255) / 256);
    long chunk = q % ((c->inner + 255) / 256);
    long i0 = chunk * 256, i1 = i0 + 256 < c->inner ? i0 + 256 : c->inner;
    const float *base = c->x + o * c->r * c->inner;
    float *dst = c->out + o * c->inner;
    if (c->op == R_SUM) {
      for (long i = i0; i < i1; i++) dst[i] = 0;
      for (long k = 0; k < c->r; k++) {
        const float *row = base + k * c->inner;
        for (long i = i0; i < i1; i++) dst[i] += row[i];
      }
      if (c->scale != 1.0f) for (long i = i0; i < i1; i++) dst[i] *= c->scale;
    } else if (c->op == R_PROD) {
      for (long i = i0; i < i1; i++) dst[i] = 1;
      for (long k = 0; k < c->r; k++) {
        const float *row = base + k * c->inner;
        for (long i = i0; i < i1; i++) dst[i] *= row[i];
      }
    } else {
      const int mx = c->op == R_MAX;
      for (long i = i0; i < i1; i++) dst[i] = base[i];
      for (long k = 1; k < c->r; k++) {
        const float *row = base + k * c->inner;
        for (long i = i0; i < i1; i++) {
          float v = row[i], m = dst[i];
          dst[i] = m != m ? m : (v != v ? v : (mx ? (v > m ? v : m) : (v < m ? v : m)));
        }
      }
    }
  }
}

/* out[o, i] = reduce_k x[o, k, i] (times `scale` for sums: a mean). r must be >= 1. */
int nk_reduce(int op, int outer, int r, int inner, const float *x, float *out, float scale) {
  if (op < 0 || op >= R_COUNT || r < 1) return -1;
  reduce_ctx c = {op, outer, r, inner, x, out, scale};
  if (inner == 1) {
    parallel_for(outer, (1 << 15) / r + 1, 1, reduce_task, &c);
  } else {
    long chunks = (inner + 255) / 256;
    parallel_for(outer * chunks, (1 << 15) / (r * 256) + 1, 1, reduce_task, &c);
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Softmax over the last axis of [rows, cols].                                                 */

typedef struct {
  long cols;
  const float *x;
  float *out;
} softmax_ctx;

static void softmax_task(void *p, long b, long e) {
  softmax_ctx *c = p;
  const long n = c->cols;
  for (long row = b; row < e; row++) {
    const float *x = c->x + row * n;
    float *o = c->out + row * n;
    float m = reduce_row(R_MAX, x, n);
    const v8f mv = vset1(m);
    long i = 0;
    for (; i + 8 <= n; i += 8) vstore(o + i, v_exp(vload(x + i) - mv));
    if (i < n) {
      float tin[8] = {0}, tout[8];
      for (long k = i; k < n; k++) tin[k - i] = x[k] - m;
      vstore(tout, v_exp(vload(tin)));
      memcpy(o + i, tout, (size_t)(n - i) * sizeof(float));
    }
    float s = reduce_row(R_SUM, o, n);
    const float inv = 1.0f / s;
    for (i = 0; i < n; i++) o[i] *= inv;
  }
}

int nk_softmax(int rows, int cols, const float *x, float *out) {
  if (cols < 1) return 0;
  softmax_ctx c = {cols, x, out};
  parallel_for(rows, (1 << 14) / cols + 1, 1, softmax_task, &c);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Strided copies of 4-byte elements: transpose, slice, concat, pad, tile all reduce to this.  */

typedef struct {
  int rank;
  int shape[MAX_RANK];
  long ss[MAX_RANK], ds[MAX_RANK];
  const uint32_t *src;
  uint32_t *dst;
  int tq; /* dim with source stride 1 for the tiled path, or -1 */
} copy_ctx;

/* Copies with the last dim as the inner loop, over rows [rb, re) of the other dims. */
static void copy_rows(copy_ctx *c, long rb, long re) {
  const int r = c->rank;
  const long n = c->shape[r - 1];
  const long s = c->ss[r - 1], d = c->ds[r - 1];
  int idx[MAX_RANK] = {0};
  long rem = rb, so = 0, dof = 0;
  for (int k = r - 2; k >= 0; k--) {
    idx[k] = (int)(rem % c->shape[k]);
    rem /= c->shape[k];
    so += idx[k] * c->ss[k];
    dof += idx[k] * c->ds[k];
  }
  for (long row = rb; row < re; row++) {
    const uint32_t *sp = c->src + so;
    uint32_t *dp = c->dst + dof;
    if (s == 1 && d == 1) memcpy(dp, sp, (size_t)n * 4);
    else if (d == 1) for (long i = 0; i < n; i++) dp[i] = sp[i * s];
    else for (long i = 0; i < n; i++) dp[i * d] = sp[i * s];
    for (int k = r - 2; k >= 0; k--) {
      idx[k]++;
      so += c->ss[k];
      dof += c->ds[k];
      if (idx[k] < c->shape[k]) break;
      so -= c->ss[k] * c->shape[k];
      dof -= c->ds[k] * c->shape[k];
      idx[k] = 0;
    }
  }
}

static void copy_task(void *p, long b, long e) { copy_rows((copy_ctx *)p, b, e); }

/* Tiled path: dims q (source-contiguous) and r-1 (destination-contiguous) form 2-D tiles. */
static void copy_tiled_task(void *p, long b, long e) {
  copy_ctx *c = p;
  const int r = c->rank, q = c->tq;
  const long nq = c->shape[q], nl = c->shape[r - 1];
  const long sl = c->ss[r - 1], dq = c->ds[q];
  const long tiles_q = (nq + 31) / 32;
  for (long t = b; t < e; t++) {
    long rest = t / tiles_q;
    long tq = t % tiles_q;
    /* Decode `rest` over dims other than q and r-1. */
    long so = 0, dof = 0;
    for (int k = r - 2; k >= 0; k--) {
      if (k == q) continue;
      long i = rest % c->shape[k];
      rest /= c->shape[k];
      so += i * c->ss[k];
      dof += i * c->ds[k];
    }
    const long q0 = tq * 32, q1 = q0 + 32 < nq ? q0 + 32 : nq;
    for (long l0 = 0; l0 < nl; l0 += 32) {
      const long l1 = l0 + 32 < nl ? l0 + 32 : nl;
      for (long iq = q0; iq < q1; iq++) {
        const uint32_t *sp = c->src + so + iq;
        uint32_t *dp = c->dst + dof + iq * dq;
        for (long il = l0; il < l1; il++) dp[il] = sp[il * sl];
      }
    }
  }
}

/* dst[i * ds] = src[i * ss] over `shape` (element size 4 bytes, strides in elements). The
 * caller merges dims; when the innermost source stride is not 1, pass the dims so that
 * the last dim is destination-contiguous: the copy is then tiled for the cache. */
int nk_copy(int rank, const int32_t *shape, const void *src, const int32_t *ss, void *dst,
            const int32_t *ds) {
  if (rank < 1 || rank > MAX_RANK) return -1;
  copy_ctx c;
  c.rank = rank;
  c.src = src;
  c.dst = dst;
  c.tq = -1;
  long total = 1;
  for (int k = 0; k < rank; k++) {
    c.shape[k] = shape[k];
    c.ss[k] = ss[k];
    c.ds[k] = ds[k];
    total *= shape[k];
  }
  if (total == 0) return 0;
  const long inner = shape[rank - 1];
  if (ss[rank - 1] != 1 && ds[rank - 1] == 1 && inner >= 8) {
    for (int k = rank - 2; k >= 0; k--) {
      if (ss[k] == 1 && shape[k] >= 8) {
        c.tq = k;
        break;
      }
    }
  }
  if (c.tq >= 0) {
    long tiles = total / inner / shape[c.tq] * ((shape[c.tq] + 31) / 32);
    parallel_for(tiles, (1 << 15) / (inner * 32) + 1, 1, copy_tiled_task, &c);
  } else {
    long rows = total / inner;
    parallel_for(rows, (1 << 15) / inner + 1, 1, copy_task, &c);
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Gather and its gradient.                                                                    */

typedef struct {
  long outer, dim, slice, nidx;
  const uint32_t *x;
  const int32_t *idx;
  uint32_t *out;
} gather_ctx;

static void gather_task(void *p, long b, long e) {
  gather_ctx *c = p;
  for (long q = b; q < e; q++) {
    long o = q / c->nidx, j = q % c->nidx;
    memcpy(c->out + q * c->slice, c->x + (o * c->dim + c->idx[j]) * c->slice,
           (size_t)c->slice * 4);
  }
}

/* out[o, j, :] = x[o, idx[j], :] for x [outer, dim, slice] (4-byte elements). Returns the first
 * out-of-range position + 1 negated, or 0. */
int nk_gather(int outer, int dim, int slice, const void *x, int nidx, const int32_t *idx,
               void *out) {
  for (long j = 0; j < nidx; j++) {
    if (idx[j] < 0 || idx[j] >= dim) return -(j + 1);
  }
  gather_ctx c = {outer, dim, slice, nidx, x, idx, out};
  parallel_for((long)outer * nidx, (1 << 14) / (slice + 1) + 1, 1, gather_task, &c);
  return 0;
}

typedef struct {
  long n, inner, segments;
  const float *x;
  const int32_t *ids;
  float *out;
} segsum_ctx;

static void segsum_task(void *p, long b, long e) {
  segsum_ctx *c = p;
  /* Each part owns output columns [b, e): every thread scans all rows in order. */
  for (long j = 0; j < c->n; j++) {
    int32_t s = c->ids[j];
    if (s < 0 || s >= c->segments) continue;
    const float *row = c->x + j * c->inner;
    float *dst = c->out + s * c->inner;
    for (long i = b; i < e; i++) dst[i] += row[i];
  }
}

/* out[s, :] = sum of x[j, :] with ids[j] == s; out must be zeroed; ids out of range dropped. */
int nk_unsorted_segment_sum(int n, int inner, const float *x, const int32_t *ids,
                            int segments, float *out) {
  segsum_ctx c = {n, inner, segments, x, ids, out};
  parallel_for(inner, (1 << 15) / (n + 1) + 64, 16, segsum_task, &c);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Large matrix products: OpenBLAS' sgemm (single-threaded) on blocks of C, claimed by the pool. */

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);
typedef void (*set_threads_fn)(int);
static sgemm_fn g_sgemm;

/* Finds <prefix>cblas_sgemm in `lib` (already loaded; the prefix is "" for a plain OpenBLAS,
 * "scipy_" for the PyPI wheel's) and makes OpenBLAS single-threaded: the pool splits products
 * itself, so one set of threads serves every kernel. Returns 0 on success. */
int nk_use_blas(const char *lib, const char *prefix) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_NODELETE);
  if (!h) return -1;
  char name[96];
  snprintf(name, sizeof name, "%scblas_sgemm", prefix);
  g_sgemm = (sgemm_fn)dlsym(h, name);
  snprintf(name, sizeof name, "%sopenblas_set_num_threads", prefix);
  set_threads_fn set = (set_threads_fn)dlsym(h, name);
  if (set) set(1);
  return g_sgemm ? 0 : -2;
}

typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc, by_rows;
  long block;
  const float *a, *b;
  float beta;
  float *c;
  const float *bias; /* NULL, or n values added to every row of C */
} sgemm_ctx;

/* C[r0:r1, c0:c1] = beta * C + bias[c0:c1] (bias as a row, broadcast down): the start of a
 * product that then accumulates into C (sgemm with beta 1, which skips OpenBLAS' own pass
 * over C that scales it, zeroing it for beta 0). */
static void start_with_bias(float *c, int ldc, long r0, long r1, long c0, long c1,
                            const float *bias, float beta) {
  for (long r = r0; r < r1; r++) {
    float *row = c + r * ldc;
    if (beta == 0.0f) memcpy(row + c0, bias + c0, (size_t)(c1 - c0) * sizeof(float));
    else for (long j = c0; j < c1; j++) row[j] = beta * row[j] + bias[j];
  }
}

static void sgemm_task(void *p, long b0, long b1) {
  sgemm_ctx *c = p;
  const int ta = c->ta ? 112 : 111, tb = c->tb ? 112 : 111;
  const float beta = c->bias ? 1.0f : c->beta;
  for (long blk = b0; blk < b1; blk++) {
    long lo = blk * c->block;
    long hi = lo + c->block;
    if (c->by_rows) {
      if (hi > c->m) hi = c->m;
      if (c->bias) start_with_bias(c->c, c->ldc, lo, hi, 0, c->n, c->bias, c->beta);
      /* Rows lo..hi of op(A): A[lo] (row-major) or column lo of the stored A^T. */
      const float *a = c->a + (c->ta ? lo : lo * c->lda);
      g_sgemm(101, ta, tb, (int)(hi - lo), c->n, c->k, 1.0f, a, c->lda, c->b, c->ldb, beta,
              c->c + lo * c->ldc, c->ldc);
    } else {
      if (hi > c->n) hi = c->n;
      if (c->bias) start_with_bias(c->c, c->ldc, 0, c->m, lo, hi, c->bias, c->beta);
      const float *b = c->b + (c->tb ? lo * c->ldb : lo);
      g_sgemm(101, ta, tb, c->m, (int)(hi - lo), c->k, 1.0f, c->a, c->lda, b, c->ldb, beta,
              c->c + lo, c->ldc);
    }
  }
}

/* A product split along K: each block of K computes a full partial C; the partials are then
 * added in block order. */
typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc;
  long kblock, kblocks;
  const float *a, *b;
  float beta;
  float *c, *partial; /* partial: [kblocks, m, n] */
  const float *bias;
} ksplit_ctx;

static void ksplit_task(void *p, long b0, long b1) {
  ksplit_ctx *c = p;
  for (long blk = b0; blk < b1; blk++) {
    const long k0 = blk * c->kblock, k1 = k0 + c->kblock < c->k ? k0 + c->kblock : c->k;
    /* op(A)[:, k0:k1] and op(B)[k0:k1, :] in their stored layouts. */
    const float *a = c->a + (c->ta ? k0 * c->lda : k0);
    const float *b = c->b + (c->tb ? k0 : k0 * c->ldb);
    g_sgemm(101, c->ta ? 112 : 111, c->tb ? 112 : 111, c->m, c->n, (int)(k1 - k0), 1.0f, a,
            c->lda, b, c->ldb, 0.0f, c->partial + blk * c->m * c->n, c->n);
  }
}

static void ksplit_sum_task(void *p, long r0, long r1) {
  ksplit_ctx *c = p;
  const long mn = (long)c->m * c->n;
  for (long i = r0; i < r1; i++) {
    float *dst = c->c + i * c->ldc;
    const float *src = c->partial + i * c->n;
    for (long j = 0; j < c->n; j++) {
      float s = src[j];
      for (long blk = 1; blk < c->kblocks; blk++) s += src[blk * mn + j];
      if (c->bias) s += c->bias[j];
      dst[j] = c->beta == 0.0f ? s : c->beta * dst[j] + s;
    }
  }
}

/* C[m, n] (row stride ldc) = op(A) @ op(B) + beta * C (+ bias, n values added to every row,
 * when not NULL), row-major, on the pool: C is cut into blocks of rows (or of columns when it is
 * wide) of a size that depends only on the shape; a product whose blocks would be thin against
 * a long K (a weight gradient, x^T @ dy over many rows) is cut along K instead. */
int nk_sgemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
             float beta, float *c, int ldc, const float *bias) {
  if (!g_sgemm) return -1;
  if (m == 0 || n == 0) return 0;
  sgemm_ctx ctx = {ta, tb, m, n, k, lda, ldb, ldc, m >= n, 0, a, b, beta, c, bias};
  const long dim = ctx.by_rows ? m : n;
  const double macs = (double)m * n * (k > 0 ? k : 1);
  /* Blocks of at least 2^21 multiply-adds and 32 rows, at most 8, an even number when more
   * than one (two cores share them evenly). A function of the shape alone: results do not
   * depend on the machine's thread count. */
  long blocks = (long)(macs / (1 << 21));
  if (blocks > 8) blocks = 8;
  if (blocks > dim / 32) blocks = dim / 32;
  if (blocks > 1 && blocks % 2) blocks = blocks + 1 <= dim / 32 ? blocks + 1 : blocks - 1;
  if (blocks < 1) blocks = 1;
  /* Each block packs the whole other operand ([K, N] or [M, K]) again: against a long K, blocks
   * under 128 rows spend more on packing than a split along K spends on adding its partials
   * (measured on x^T @ dy with 96-768 columns over 1,600-7,424 rows: 10-25% faster). */
  if (k >= 1024 && macs >= (double)(1 << 23) && (dim + blocks - 1) / blocks < 128) {
    long kblocks = k / 256;
    if (kblocks > 8) kblocks = 8;
    if (kblocks % 2) kblocks--;
    float *partial = kblocks >= 2 ? malloc((size_t)kblocks * m * n * sizeof(float)) : NULL;
    if (partial) {
      ksplit_ctx kc = {ta, tb, m, n, k, lda, ldb, ldc, (k + kblocks - 1) / kblocks, kblocks,
                       a, b, beta, c, partial, bias};
      parallel_for(kblocks, 1, 1, ksplit_task, &kc);
      parallel_for(m, (1 << 14) / (n * kblocks) + 1, 1, ksplit_sum_task, &kc);
      free(partial);
      return 0;
    }
  }
  long block = (dim + blocks - 1) / blocks;
  block = (block + 15) / 16 * 16;
  ctx.block = block;
  parallel_for((dim + block - 1) / block, 1, 1, sgemm_task, &ctx);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Batched small matrix products (attention): C[b] = op(A[b]) @ op(B[b]), each in one thread.  */

typedef struct {
  long batch, m, n, k;
  const float *a, *b;
  long a_bs, a_rs, a_cs; /* batch, row, column strides of op(A) [m, k] */
  long b_bs, b_rs, b_cs; /* of op(B) [k, n] */
  float *c;
} bmm_ctx;

#define NR 16
#define MR 6

/* pc [mpad, npad] = pa [mpad, k] @ pb [k, npad] (row-major, packed) in register tiles of MR
 * rows and NR columns; mpad and npad multiples of MR and NR, pb and pc 32-byte aligned. */
static void micro_gemm(const float *pa, const float *pb, float *pc, long mpad, long npad, long k) {
  for (long i = 0; i < mpad; i += MR) {
    for (long j = 0; j < npad; j += NR) {
      v8fa acc[MR][2];
      for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = (v8fa){0};
      for (long kk = 0; kk < k; kk++) {
        const v8fa b0v = *(const v8fa *)(pb + kk * npad + j);
        const v8fa b1v = *(const v8fa *)(pb + kk * npad + j + 8);
        for (int r = 0; r < MR; r++) {
          const float av = pa[(i + r) * k + kk];
          const v8fa avv = {av, av, av, av, av, av, av, av};
          acc[r][0] += avv * b0v;
          acc[r][1] += avv * b1v;
        }
      }
      for (int r = 0; r < MR; r++) {
        *(v8fa *)(pc + (i + r) * npad + j) = acc[r][0];
        *(v8fa *)(pc + (i + r) * npad + j + 8) = acc[r][1];
      }
    }
  }
}

/* dst [rows_pad, cols_pad] (row-major) = src[r * rs + c * cs] for r < rows and c < cols, zeros
 * elsewhere. A source contiguous along r (rs == 1: a transposed operand) is read in its own
 * order, each column of dst written with a stride: dst is small and in cache, src may not be. */
static void pack(float *dst, long rows_pad, long cols_pad, const float *src, long rows, long cols,
                 long rs, long cs) {
  if (rs == 1 && cs != 1 && rows > 1) {
    for (long r = 0; r < rows; r++) {
      for (long c = cols; c < cols_pad; c++) dst[r * cols_pad + c] = 0;
    }
    for (long c = 0; c < cols; c++) {
      const float *scol = src + c * cs;
      for (long r = 0; r < rows; r++) dst[r * cols_pad + c] = scol[r];
    }
    if (rows_pad > rows) memset(dst + rows * cols_pad, 0, (size_t)((rows_pad - rows) * cols_pad) * sizeof(float));
    return;
  }
  for (long r = 0; r < rows_pad; r++) {
    float *d = dst + r * cols_pad;
    if (r >= rows) {
      memset(d, 0, (size_t)cols_pad * sizeof(float));
      continue;
    }
    const float *srow = src + r * rs;
    if (cs == 1) memcpy(d, srow, (size_t)cols * sizeof(float));
    else for (long c = 0; c < cols; c++) d[c] = srow[c * cs];
    for (long c = cols; c < cols_pad; c++) d[c] = 0;
  }
}

/* pc [mpad, npad] = A [m, k] @ B [k, n], A[i][l] read at a[i * a_rs + l * a_cs] and B[l][j] at
 * b[l * b_rs + j * b_cs], packed into pa and pb (zero-padded) first; returns npad, the row
 * stride of pc (m and n rounded up to the micro-kernel's MR and NR). */
static long packed_gemm(float *pa, float *pb, float *pc, long m, long n, long k, const float *a,
                        long a_rs, long a_cs, const float *b, long b_rs, long b_cs) {
  const long mpad = (m + MR - 1) / MR * MR, npad = (n + NR - 1) / NR * NR;
  pack(pa, mpad, k, a, m, k, a_rs, a_cs);
  pack(pb, k, npad, b, k, n, b_rs, b_cs);
  micro_gemm(pa, pb, pc, mpad, npad, k);
  return npad;
}

static void bmm_task(void *p, long b0, long b1) {
  bmm_ctx *c = p;
  const long m = c->m, n = c->n, k = c->k;
  const long npad = (n + NR - 1) / NR * NR;
  const long mpad = (m + MR - 1) / MR * MR;
  float *pa = aligned_alloc(32, (size_t)(mpad * k + 8) * sizeof(float));
  float *pb = aligned_alloc(32, (size_t)(k * npad + 8) * sizeof(float));
  float *pc = aligned_alloc(32, (size_t)(mpad * npad + 8) * sizeof(float));
  if (!pa || !pb || !pc) {
    free(pa);
    free(pb);
    free(pc);
    return;
  }
  for (long bi = b0; bi < b1; bi++) {
    packed_gemm(pa, pb, pc, m, n, k, c->a + bi * c->a_bs, c->a_rs, c->a_cs, c->b + bi * c->b_bs,
                c->b_rs, c->b_cs);
    float *C = c->c + bi * m * n;
    for (long i = 0; i < m; i++) memcpy(C + i * n, pc + i * npad, (size_t)n * sizeof(float));
  }
  free(pa);
  free(pb);
  free(pc);
}

static void bmm_blas_task(void *p, long b0, long b1) {
  bmm_ctx *c = p;
  /* op(A) = A (row stride lda) when its columns are contiguous, else A^T stored transposed;
   * a single row or column is contiguous either way, and BLAS wants lda >= its width. */
  const long m = c->m, n = c->n, k = c->k;
  int ta, tb, lda, ldb;
  if (c->a_cs == 1 && (c->a_rs >= k || m == 1)) {
    ta = 0;
    lda = (int)(m == 1 ? k : c->a_rs);
  } else {
    ta = 1;
    lda = (int)(k == 1 ? m : c->a_cs);
  }
  if (c->b_cs == 1 && (c->b_rs >= n || k == 1)) {
    tb = 0;
    ldb = (int)(k == 1 ? n : c->b_rs);
  } else {
    tb = 1;
    ldb = (int)(n == 1 ? k : c->b_cs);
  }
  for (long bi = b0; bi < b1; bi++) {
    g_sgemm(101, ta ? 112 : 111, tb ? 112 : 111, (int)c->m, (int)c->n, (int)c->k, 1.0f,
            c->a + bi * c->a_bs, lda, c->b + bi * c->b_bs, ldb, 0.0f, c->c + bi * c->m * c->n,
            (int)c->n);
  }
}

/* C[b] ([m, n], contiguous) = op(A)[b] @ op(B)[b], with op(A)[b][i, kk] at
 * a[b * a_bs + i * a_rs + kk * a_cs] and op(B)[b][kk, j] at b[b * b_bs + kk * b_rs + j * b_cs]
 * (one of each pair of strides is 1). Batch entries are spread over the pool; `mode` 0 uses
 * the register-blocked kernel above, 1 OpenBLAS per entry. */
int nk_batch_matmul(int batch, int m, int n, int k, const float *a, int a_bs, int a_rs, int a_cs,
                    const float *b, int b_bs, int b_rs, int b_cs, float *c, int mode) {
  if (m == 0 || n == 0) return 0;
  if (k == 0) {
    memset(c, 0, (size_t)batch * m * n * sizeof(float));
    return 0;
  }
  if (mode == 1 && !g_sgemm) return -1;
  bmm_ctx ctx = {batch, m, n, k, a, b, a_bs, a_rs, a_cs, b_bs, b_rs, b_cs, c};
  parallel_for(batch, (1L << 16) / ((long)m * n * k) + 1, 1, mode == 1 ? bmm_blas_task : bmm_task,
               &ctx);
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Convolutions (NHWC) as blocked im2col + sgemm. The batch is cut into blocks of whole images  */
/* whose patch matrix stays in cache (CONV_BLOCK_FLOATS); each pool task cuts a block's patches */
/* into its own buffer and multiplies them at once, so the columns never go out to memory. The  */
/* blocks depend on the shapes alone, and the filter gradient sums fixed groups of blocks in a  */
/* fixed order: the same numbers for any thread count.                                         */

#define CONV_BLOCK_FLOATS (128L * 1024) /* 512 KiB of patches per block */
#define CONV_GROUPS 16                  /* partial filter gradients, summed in order */

typedef struct {
  long h, w, cin, oh, ow, fh, fw, sh, sw, dh, dw, pt, pl, cout;
  long batch, per_block, blocks, groups;
  const float *a, *b; /* forward: x, W; filter gradient: x, dy; input gradient: dy, W */
  float *out;         /* y, the groups' partial gradients, dx */
} conv_ctx;

static long conv_k(const conv_ctx *c) { return c->fh * c->fw * c->cin; }
static long conv_rows(const conv_ctx *c) { return c->oh * c->ow; }

/* Patches of images [img0, img0 + n) of x, rows (image, oy, ox) x columns (ky, kx, ci). */
static void conv_cut(const conv_ctx *c, long img0, long n, float *cols) {
  const long K = conv_k(c);
  const long run = c->fw * c->cin; /* a kernel row, contiguous in x when dw == 1 and in range */
  float *dst = cols;
  for (long img = img0; img < img0 + n; img++) {
    const float *xi = c->a + img * c->h * c->w * c->cin;
    for (long oy = 0; oy < c->oh; oy++) {
      for (long ox = 0; ox < c->ow; ox++, dst += K) {
        const long x0 = ox * c->sw - c->pl;
        const int inside_x = c->dw == 1 && x0 >= 0 && x0 + c->fw <= c->w;
        for (long ky = 0; ky < c->fh; ky++) {
          const long iy = oy * c->sh + ky * c->dh - c->pt;
          float *d = dst + ky * run;
          if (iy < 0 || iy >= c->h) {
            memset(d, 0, (size_t)run * sizeof(float));
          } else if (inside_x) {
            memcpy(d, xi + (iy * c->w + x0) * c->cin, (size_t)run * sizeof(float));
          } else {
            for (long kx = 0; kx < c->fw; kx++) {
              const long ix = x0 + kx * c->dw;
              if (ix < 0 || ix >= c->w) memset(d + kx * c->cin, 0, (size_t)c->cin * sizeof(float));
              else memcpy(d + kx * c->cin, xi + (iy * c->w + ix) * c->cin, (size_t)c->cin * sizeof(float));
            }
          }
        }
      }
    }
  }
}

/* Adds patch gradients `cols` of images [img0, img0 + n) into dx (the adjoint of conv_cut). */
static void conv_uncut(const conv_ctx *c, long img0, long n, const float *cols) {
  const long K = conv_k(c);
  const float *src = cols;
  for (long img = img0; img < img0 + n; img++) {
    float *xi = c->out + img * c->h * c->w * c->cin;
    for (long oy = 0; oy < c->oh; oy++) {
      for (long ox = 0; ox < c->ow; ox++, src += K) {
        for (long ky = 0; ky < c->fh; ky++) {
          const long iy = oy * c->sh + ky * c->dh - c->pt;
          if (iy < 0 || iy >= c->h) continue;
          for (long kx = 0; kx < c->fw; kx++) {
            const long ix = ox * c->sw + kx * c->dw - c->pl;
            if (ix < 0 || ix >= c->w) continue;
            const float *s = src + (ky * c->fw + kx) * c->cin;
            float *d = xi + (iy * c->w + ix) * c->cin;
            for (long ci = 0; ci < c->cin; ci++) d[ci] += s[ci];
          }
        }
      }
    }
  }
}

static float *conv_buffer(const conv_ctx *c) {
  return malloc((size_t)(c->per_block * conv_rows(c) * conv_k(c)) * sizeof(float));
}

/* y[block rows, cout] = cols @ W */
static void conv_forward_task(void *p, long b, long e) {
  conv_ctx *c = p;
  const long K = conv_k(c), R = conv_rows(c);
  float *cols = conv_buffer(c);
  for (long blk = b; blk < e; blk++) {
    const long img0 = blk * c->per_block;
    const long n = img0 + c->per_block > c->batch ? c->batch - img0 : c->per_block;
    conv_cut(c, img0, n, cols);
    g_sgemm(101, 111, 111, (int)(n * R), (int)c->cout, (int)K, 1.0f, cols, (int)K, c->b,
            (int)c->cout, 0.0f, c->out + img0 * R * c->cout, (int)c->cout);
  }
  free(cols);
}

/* partial[g][K, cout] = sum over the group's blocks, in order, of cols^T @ dy */
static void conv_filter_task(void *p, long b, long e) {
  conv_ctx *c = p;
  const long K = conv_k(c), R = conv_rows(c);
  float *cols = conv_buffer(c);
  for (long g = b; g < e; g++) {
    const long first = g * c->blocks / c->groups, last = (g + 1) * c->blocks / c->groups;
    float *partial = c->out + g * K * c->cout;
    if (first == last) memset(partial, 0, (size_t)(K * c->cout) * sizeof(float));
    for (long blk = first; blk < last; blk++) {
      const long img0 = blk * c->per_block;
      const long n = img0 + c->per_block > c->batch ? c->batch - img0 : c->per_block;
      conv_cut(c, img0, n, cols);
      g_sgemm(101, 112, 111, (int)K, (int)c->cout, (int)(n * R), 1.0f, cols, (int)K,
              c->b + img0 * R * c->cout, (int)c->cout, blk == first ? 0.0f : 1.0f, partial,
              (int)c->cout);
    }
  }
  free(cols);
}

/* cols = dy[block rows, cout] @ W^T, then added into dx */
static void conv_input_task(void *p, long b, long e) {
  conv_ctx *c = p;
  const long K = conv_k(c), R = conv_rows(c);
  float *cols = conv_buffer(c);
  for (long blk = b; blk < e; blk++) {
    const long img0 = blk * c->per_block;
    const long n = img0 + c->per_block > c->batch ? c->batch - img0 : c->per_block;
    memset(c->out + img0 * c->h * c->w * c->cin, 0,
           (size_t)(n * c->h * c->w * c->cin) * sizeof(float));
    g_sgemm(101, 111, 112, (int)(n * R), (int)K, (int)c->cout, 1.0f, c->a + img0 * R * c->cout,
            (int)c->cout, c->b, (int)c->cout, 0.0f, cols, (int)K);
    conv_uncut(c, img0, n, cols);
  }
  free(cols);
}

typedef struct {
  const float *partials;
  float *dw;
  long groups, size;
} conv_sum_ctx;

static void conv_sum_task(void *p, long b, long e) {
  conv_sum_ctx *c = p;
  for (long i = b; i < e; i++) {
    float s = 0.0f;
    for (long g = 0; g < c->groups; g++) s += c->partials[g * c->size + i];
    c->dw[i] = s;
  }
}

/* mode 0: y = conv(x, W) (a = x, b = W, out = y [batch, oh, ow, cout]);
 * mode 1: dW = sum of patches^T @ dy (a = x, b = dy, out = dW [fh, fw, cin, cout]);
 * mode 2: dx = col2im(dy @ W^T) (a = dy, b = W, out = dx [batch, h, w, cin]).
 * Returns 0, -1 without a BLAS, -2 when out of memory. */
int nk_conv(int mode, int batch, int h, int w, int cin, int oh, int ow, int fh, int fw, int sh,
            int sw, int dh, int dw, int pt, int pl, int cout, const float *a, const float *b,
            float *out) {
  if (!g_sgemm) return -1;
  conv_ctx c = {h, w, cin, oh, ow, fh, fw, sh, sw, dh, dw, pt, pl, cout, batch, 1, 0, 0, a, b, out};
  const long per_image = (long)oh * ow * fh * fw * cin;
  c.per_block = per_image > 0 ? CONV_BLOCK_FLOATS / per_image : batch;
  if (c.per_block < 1) c.per_block = 1;
  if (c.per_block > batch) c.per_block = batch;
  c.blocks = (batch + c.per_block - 1) / c.per_block;
  if (mode == 0) {
    parallel_for(c.blocks, 1, 1, conv_forward_task, &c);
  } else if (mode == 1) {
    c.groups = c.blocks < CONV_GROUPS ? c.blocks : CONV_GROUPS;
    const long size = (long)fh * fw * cin * cout;
    float *partials = malloc((size_t)(c.groups * size) * sizeof(float));
    if (!partials) return -2;
    c.out = partials;
    parallel_for(c.groups, 1, 1, conv_filter_task, &c);
    conv_sum_ctx s = {partials, out, c.groups, size};
    parallel_for(size, 1 << 14, 16, conv_sum_task, &s);
    free(partials);
  } else {
    parallel_for(c.blocks, 1, 1, conv_input_task, &c);
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Fused transformer ops: GELU (tanh form) and layer norm over the last axis, forward and      */
/* backward. Each replaces a chain of element-wise tfjs kernels (and the full-size temporaries  */
/* tfjs' tape keeps of each) with one pass over the data.                                      */

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

/* lib/nn/layers.ts' `gelu`, 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), in the
 * equal form x * s with s = sigmoid(2u) = 0.5 (1 + tanh(u)): one exp and one division, where
 * tanh needs a polynomial, an exp and a division. */
static inline v8f v_gelu_sigmoid(v8f x) {
  v8f u = vset1(GELU_C) * (x + vset1(GELU_A) * (x * x * x));
  return vset1(1.0f) / (vset1(1.0f) + v_exp_normal(vset1(-2.0f) * u));
}

static inline v8f v_gelu(v8f x) { return x * v_gelu_sigmoid(x); }

/* dy * d gelu / dx = dy * (s + 2 x s (1 - s) du/dx), du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2):
 * the derivative of 0.5 x (1 + tanh(u)), 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx, with t = 2s - 1. */
static inline v8f v_gelu_grad(v8f x, v8f dy) {
  v8f s = v_gelu_sigmoid(x);
  v8f du = vset1(GELU_C) * (vset1(1.0f) + vset1(3.0f * GELU_A) * (x * x));
  return dy * (s + vset1(2.0f) * x * s * (vset1(1.0f) - s) * du);
}

typedef struct {
  const float *x, *dy;
  float *out;
} gelu_ctx;

static void gelu_task(void *p, long b, long e) {
  gelu_ctx *c = p;
  const float *x = c->x;
  float *out = c->out;
  VEC_MAP(v_gelu);
}

static void gelu_grad_task(void *p, long b, long e) {
  gelu_ctx *c = p;
  long i = b;
  for (; i + 8 <= e; i += 8) vstore(c->out + i, v_gelu_grad(vload(c->x + i), vload(c->dy + i)));
  if (i < e) {
    float tx[8] = {0}, tdy[8] = {0}, tout[8];
    memcpy(tx, c->x + i, (size_t)(e - i) * sizeof(float));
    memcpy(tdy, c->dy + i, (size_t)(e - i) * sizeof(float));
    vstore(tout, v_gelu_grad(vload(tx), vload(tdy)));
    memcpy(c->out + i, tout, (size_t)(e - i) * sizeof(float));
  }
}

/* AdamW on one parameter, in the composite's order of operations (lib/train/optim.ts), with the
 * gradient first scaled by gs (the clipping factor):
 *   g = gs g_in,  m' = b1 m + b1c g,  v' = b2 v + b2c g^2,  p' = decay p - lr (m' / c1) / (sqrt(v' / c2) + eps)
 * with b1c = 1 - b1, b2c = 1 - b2 and decay = 1 - lr wd worked out by the caller in double. */
typedef struct {
  const float *p, *g, *m, *v;
  float *po, *mo, *vo;
  float gs, lr, b1, b1c, b2, b2c, eps, c1, c2, decay;
} adamw_ctx;

static void adamw_task(void *q, long b, long e) {
  const adamw_ctx *c = q;
  for (long i = b; i < e; i++) {
    const float g = c->g[i] * c->gs;
    const float m = c->m[i] * c->b1 + g * c->b1c;
    const float v = c->v[i] * c->b2 + (g * g) * c->b2c;
    c->mo[i] = m;
    c->vo[i] = v;
    c->po[i] = c->p[i] * c->decay - ((m / c->c1) / (sqrtf(v / c->c2) + c->eps)) * c->lr;
  }
}

int nk_adamw(int n, const float *p, const float *g, const float *m, const float *v, float gs,
             float lr, float b1, float b1c, float b2, float b2c, float eps, float c1, float c2,
             float decay, float *po, float *mo, float *vo) {
  adamw_ctx c = {p, g, m, v, po, mo, vo, gs, lr, b1, b1c, b2, b2c, eps, c1, c2, decay};
  parallel_for(n, 1 << 14, 16, adamw_task, &c);
  return 0;
}

/* out[i] = a x[i] + b y[i] for i < n: an EMA step, target' = m target + (1 - m) online. */
typedef struct {
  const float *x, *y;
  float *out;
  float a, b;
} axpby_ctx;

static void axpby_task(void *q, long lo, long hi) {
  const axpby_ctx *c = q;
  for (long i = lo; i < hi; i++) c->out[i] = c->x[i] * c->a + c->y[i] * c->b;
}

int nk_axpby(int n, const float *x, const float *y, float a, float b, float *out) {
  axpby_ctx c = {x, y, out, a, b};
  parallel_for(n, 1 << 14, 16, axpby_task, &c);
  return 0;
}

/* out[i] = gelu(x[i]) for i < n. */
int nk_gelu(int n, const float *x, float *out) {
  gelu_ctx c = {x, NULL, out};
  parallel_for(n, 1 << 14, 16, gelu_task, &c);
  return 0;
}

/* dx[i] = dy[i] * gelu'(x[i]) for i < n. */
int nk_gelu_grad(int n, const float *x, const float *dy, float *dx) {
  gelu_ctx c = {x, dy, dx};
  parallel_for(n, 1 << 14, 16, gelu_grad_task, &c);
  return 0;
}

/* Sum of (a[i] - m)^2 over i < n, in the same fixed order. */
static inline float sum_sq_dev(const float *a, float m, long n) {
  v8f s0 = vset1(0), s1 = vset1(0);
  const v8f mv = vset1(m);
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    v8f d0 = vload(a + i) - mv, d1 = vload(a + i + 8) - mv;
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  s0 += s1;
  float s = 0;
  for (int k = 0; k < 8; k++) s += s0[k];
  for (; i < n; i++) s += (a[i] - m) * (a[i] - m);
  return s;
}

typedef struct {
  long cols;
  const float *x, *g, *b, *mean, *rstd, *dy;
  float eps;
  float *out, *mean_out, *rstd_out;
  float *partial; /* [blocks, 2, cols]: per block of rows, sums of dy * xhat and of dy */
  float *dg, *db;
  long rows;
} ln_ctx;

static void ln_task(void *p, long rb, long re) {
  ln_ctx *c = p;
  const long n = c->cols;
  const float inv_n = 1.0f / (float)n;
  for (long r = rb; r < re; r++) {
    const float *x = c->x + r * n;
    float *o = c->out + r * n;
    /* Two passes, as tf.moments: the mean, then the mean squared deviation from it. */
    const float mu = dot_or_sum(x, NULL, n) * inv_n;
    const float var = sum_sq_dev(x, mu, n) * inv_n;
    const float rs = 1.0f / sqrtf(var + c->eps);
    c->mean_out[r] = mu;
    c->rstd_out[r] = rs;
    const v8f muv = vset1(mu), rsv = vset1(rs);
    long i = 0;
    if (c->g) {
      for (; i + 8 <= n; i += 8) {
        vstore(o + i, (vload(x + i) - muv) * rsv * vload(c->g + i) + vload(c->b + i));
      }
      for (; i < n; i++) o[i] = (x[i] - mu) * rs * c->g[i] + c->b[i];
    } else {
      for (; i + 8 <= n; i += 8) vstore(o + i, (vload(x + i) - muv) * rsv);
      for (; i < n; i++) o[i] = (x[i] - mu) * rs;
    }
  }
}

/* Layer norm of x [rows, cols] over its rows: out = (x - mean) * rstd (* g + b when g is not
 * NULL; b must then be given too), rstd = 1 / sqrt(var + eps) with the biased variance. Writes
 * each row's mean and rstd (for the backward pass). */
int nk_layer_norm(int rows, int cols, const float *x, const float *g, const float *b, float eps,
                  float *out, float *mean, float *rstd) {
  if (rows <= 0 || cols <= 0) return 0;
  ln_ctx c = {.cols = cols, .x = x, .g = g, .b = b, .eps = eps, .out = out,
              .mean_out = mean, .rstd_out = rstd};
  parallel_for(rows, (1 << 14) / cols + 1, 1, ln_task, &c);
  return 0;
}

/* Rows per block of the parameter gradients' partial sums: a constant, so the order of every
 * sum depends on the shape alone. */
#define LN_BLOCK 32

/* Makes the compiler round `v` to float here: the layer norm gradient subtracts nearly equal
 * terms (dyg - mean(dyg) - xhat * mean(dyg * xhat)) and scales the difference by rstd (1000 for a
 * constant row at eps 1e-6), so dy * g must be the same rounded product in both of its passes;
 * a fused multiply-add would keep it exact in one and leave a residue where the answer is 0. */
#if defined(__x86_64__) || defined(__i386__)
#define ROUNDED(v) __asm__("" : "+x"(v))
#elif defined(__aarch64__)
#define ROUNDED(v) __asm__("" : "+w"(v))
#else
#define ROUNDED(v) __asm__("" : "+m"(v))
#endif

static void ln_grad_task(void *p, long blk0, long blk1) {
  ln_ctx *c = p;
  const long n = c->cols;
  const float inv_n = 1.0f / (float)n;
  const float *g = c->g;
  for (long blk = blk0; blk < blk1; blk++) {
    long r0 = blk * LN_BLOCK, r1 = r0 + LN_BLOCK < c->rows ? r0 + LN_BLOCK : c->rows;
    float *pg = c->partial ? c->partial + blk * 2 * n : NULL, *pb = pg ? pg + n : NULL;
    if (pg) memset(pg, 0, (size_t)(2 * n) * sizeof(float));
    for (long r = r0; r < r1; r++) {
      const float *x = c->x + r * n, *dy = c->dy + r * n;
      float *dx = c->out + r * n;
      const float mu = c->mean[r], rs = c->rstd[r];
      const v8f muv = vset1(mu), rsv = vset1(rs);
      /* First pass: s1 = sum(dyg), s2 = sum(dyg * xhat), and the parameter sums. */
      v8f a1 = vset1(0), a2 = vset1(0);
      long i = 0;
      for (; i + 8 <= n; i += 8) {
        v8f xh = (vload(x + i) - muv) * rsv, d = vload(dy + i);
        if (pg) {
          vstore(pg + i, vload(pg + i) + d * xh);
          vstore(pb + i, vload(pb + i) + d);
        }
        v8f dyg = g ? d * vload(g + i) : d;
        ROUNDED(dyg);
        a1 += dyg;
        a2 += dyg * xh;
      }
      float s1 = 0, s2 = 0;
      for (int k = 0; k < 8; k++) {
        s1 += a1[k];
        s2 += a2[k];
      }
      for (; i < n; i++) {
        float xh = (x[i] - mu) * rs, d = dy[i];
        if (pg) {
          pg[i] += d * xh;
          pb[i] += d;
        }
        float dyg = g ? d * g[i] : d;
        ROUNDED(dyg);
        s1 += dyg;
        s2 += dyg * xh;
      }
      /* Second pass: dx (xhat and dyg recomputed: cheaper than a row of scratch). */
      const float m1 = s1 * inv_n, m2 = s2 * inv_n;
      const v8f m1v = vset1(m1), m2v = vset1(m2);
      for (i = 0; i + 8 <= n; i += 8) {
        v8f xh = (vload(x + i) - muv) * rsv, d = vload(dy + i);
        v8f dyg = g ? d * vload(g + i) : d;
        ROUNDED(dyg);
        vstore(dx + i, rsv * (dyg - m1v - xh * m2v));
      }
      for (; i < n; i++) {
        float xh = (x[i] - mu) * rs, dyg = g ? dy[i] * g[i] : dy[i];
        ROUNDED(dyg);
        dx[i] = rs * (dyg - m1 - xh * m2);
      }
    }
  }
}

/* Sums the blocks' partial parameter gradients in block order, over columns [b, e). */
static void ln_param_task(void *p, long b, long e) {
  ln_ctx *c = p;
  const long n = c->cols, blocks = (c->rows + LN_BLOCK - 1) / LN_BLOCK;
  for (long i = b; i < e; i++) {
    float sg = 0, sb = 0;
    for (long blk = 0; blk < blocks; blk++) {
      sg += c->partial[blk * 2 * n + i];
      sb += c->partial[blk * 2 * n + n + i];
    }
    c->dg[i] = sg;
    c->db[i] = sb;
  }
}

/* The gradients of nk_layer_norm given dy [rows, cols] and the forward pass' mean and rstd:
 * with xhat = (x - mean) * rstd and dyg = dy * g (dy when g is NULL),
 *   dx = rstd * (dyg - mean(dyg) - xhat * mean(dyg * xhat))   (row means),
 *   dg = sum over rows of dy * xhat, db = sum over rows of dy   (when dg is not NULL).
 * Returns -1 when out of memory. */
int nk_layer_norm_grad(int rows, int cols, const float *x, const float *mean, const float *rstd,
                       const float *g, const float *dy, float *dx, float *dg, float *db) {
  if (cols <= 0) return 0;
  if (rows <= 0) {
    if (dg) memset(dg, 0, (size_t)cols * sizeof(float));
    if (db) memset(db, 0, (size_t)cols * sizeof(float));
    return 0;
  }
  ln_ctx c = {.cols = cols, .rows = rows, .x = x, .mean = mean, .rstd = rstd, .g = g, .dy = dy,
              .out = dx, .dg = dg, .db = db};
  const long blocks = (rows + LN_BLOCK - 1) / LN_BLOCK;
  if (dg) {
    c.partial = malloc((size_t)blocks * 2 * cols * sizeof(float));
    if (!c.partial) return -1;
  }
  parallel_for(blocks, (1 << 14) / ((long)LN_BLOCK * cols) + 1, 1, ln_grad_task, &c);
  if (dg) {
    parallel_for(cols, (1 << 14) / blocks + 16, 16, ln_param_task, &c);
    free(c.partial);
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Multi-head self-attention core: softmax(q k^T * scale + mask) v for every (sample, head),   */
/* and its gradient. q, k and v are read where a fused projection leaves them, [B, N, 3, H, dh] */
/* (the rows of x @ [Wq Wk Wv]); the output is written merged, [B, N, H, dh]: no transposes.   */
/* Each (sample, head) is one item of the pool, its products done by micro_gemm on packed      */
/* copies; an item's result does not depend on the thread that computes it. Queries may be the  */
/* last NQ <= N tokens alone (keys and values: all N): the outputs of those tokens, as when all  */
/* N are queried, for a layer whose other outputs nobody reads (a predictor's last block).      */

typedef struct {
  long n, nq, heads, dh, d; /* queries: tokens n - nq .. n - 1 */
  const float *qkv; /* [B, N, 3, H, dh] */
  const float *mask; /* NULL, or read at b * m_bs + h * m_hs + i * m_rs + j * m_cs (i < N) */
  long m_bs, m_hs, m_rs, m_cs;
  float scale;
  float *out;         /* forward: [B, NQ, H, dh] */
  float *probs;       /* forward: written, backward: read; [B, H, NQ, N] */
  const float *dout;  /* backward: [B, NQ, H, dh] */
  float *dqkv;        /* backward: [B, N, 3, H, dh] (q rows of non-queries: 0) */
  void *item;         /* the attn_item_fn run on each (sample, head) */
} attn_ctx;

/* Scratch of one part of the pool: packed operands and a product, each big enough for every
 * product of an item ([N or dh rows] x [N or dh columns], padded). */
typedef struct {
  float *pa, *pb, *pc, *ds;
} attn_scratch;

static int attn_scratch_alloc(attn_scratch *s, const attn_ctx *c) {
  const long n = c->n, dh = c->dh;
  const long mpad = (n + MR - 1) / MR * MR;
  const long npad = (n + NR - 1) / NR * NR, dhpad = (dh + NR - 1) / NR * NR;
  const long kmax = n > dh ? n : dh, cmax = npad > dhpad ? npad : dhpad;
  const long bsize = (dh * npad > n * dhpad ? dh * npad : n * dhpad);
  s->pa = aligned_alloc(32, (size_t)((mpad * kmax + 8 + 7) / 8 * 8) * sizeof(float));
  s->pb = aligned_alloc(32, (size_t)((bsize + 8 + 7) / 8 * 8) * sizeof(float));
  s->pc = aligned_alloc(32, (size_t)((mpad * cmax + 8 + 7) / 8 * 8) * sizeof(float));
  s->ds = malloc((size_t)(n * n + 8) * sizeof(float));
  if (!s->pa || !s->pb || !s->pc || !s->ds) {
    free(s->pa);
    free(s->pb);
    free(s->pc);
    free(s->ds);
    return -1;
  }
  return 0;
}

static void attn_scratch_free(attn_scratch *s) {
  free(s->pa);
  free(s->pb);
  free(s->pc);
  free(s->ds);
}

/* One row of attention weights: p[j] = softmax_j(row[j] * scale + mask[j * m_cs]) for j < n
 * (mask NULL: none), as the composite computes it: max, exp of the difference, times 1 / sum.
 * `row` has room for n rounded up to 8 (its tail lanes are scratch). */
static void attn_softmax_row(float *row, long n, const float *mask, long m_cs, float scale,
                             float *p) {
  const long n8 = (n + 7) / 8 * 8;
  const v8f sv = vset1(scale);
  long j = 0;
  if (mask && m_cs == 1) {
    for (; j + 8 <= n; j += 8) vstore(row + j, vload(row + j) * sv + vload(mask + j));
    for (; j < n; j++) row[j] = row[j] * scale + mask[j];
  } else if (mask) {
    for (; j < n; j++) row[j] = row[j] * scale + mask[j * m_cs];
  } else {
    for (; j + 8 <= n; j += 8) vstore(row + j, vload(row + j) * sv);
    for (; j < n; j++) row[j] = row[j] * scale;
  }
  /* Max over the row (NaN if any is NaN), with the tail lanes at -inf. */
  for (j = n; j < n8; j++) row[j] = -INFINITY;
  v8f mx = vload(row);
  v8i nan = (v8i)(mx != mx);
  for (j = 8; j < n8; j += 8) {
    v8f v = vload(row + j);
    nan |= (v8i)(v != v);
    mx = vsel(v > mx, v, mx);
  }
  float m = mx[0];
  int any_nan = nan[0];
  for (int k = 1; k < 8; k++) {
    m = mx[k] > m ? mx[k] : m;
    any_nan |= nan[k];
  }
  if (any_nan) m = NAN;
  /* exp(x - max) and its sum (tail lanes zeroed, so they add nothing). */
  const v8f mv = vset1(m);
  v8f sum = vset1(0);
  for (j = 0; j < n8; j += 8) {
    v8f e = v_exp_normal(vload(row + j) - mv);
    if (j + 8 > n) {
      for (long k = n - j; k < 8; k++) e[k] = 0;
    }
    vstore(row + j, e);
    sum += e;
  }
  float s = 0;
  for (int k = 0; k < 8; k++) s += sum[k];
  const v8f inv = vset1(1.0f / s);
  for (j = 0; j + 8 <= n; j += 8) vstore(p + j, vload(row + j) * inv);
  for (; j < n; j++) p[j] = row[j] * inv[0];
}

/* One (sample, head) item of the forward or backward pass, given its q, k, v (rows 3 * d apart,
 * from token 0) and its attention weights P [NQ, N]. */
typedef void (*attn_item_fn)(const attn_ctx *c, attn_scratch *s, long bi, long h, const float *q,
                             float *P);

/* Items [b0, b1) of a parallel region, each by `item` (ctx->item), with one scratch a part. */
static void attn_task(void *p, long b0, long b1) {
  attn_ctx *c = p;
  attn_scratch s;
  if (attn_scratch_alloc(&s, c) != 0) return;
  for (long it = b0; it < b1; it++) {
    const long bi = it / c->heads, h = it % c->heads;
    ((attn_item_fn)c->item)(c, &s, bi, h, c->qkv + bi * c->n * 3 * c->d + h * c->dh,
                                      c->probs + it * c->nq * c->n);
  }
  attn_scratch_free(&s);
}

static void attn_forward_item(const attn_ctx *c, attn_scratch *s, long bi, long h,
                              const float *q, float *P) {
  const long n = c->n, nq = c->nq, first = n - nq, dh = c->dh, d = c->d, rs = 3 * d;
  const float *k = q + d, *v = q + 2 * d, *qq = q + first * rs;
  /* Logits: q [NQ, dh] @ k^T [dh, N], scaled, masked; softmax by rows into P. */
  const long npad = packed_gemm(s->pa, s->pb, s->pc, nq, n, dh, qq, rs, 1, k, 1, rs);
  for (long i = 0; i < nq; i++) {
    const float *mrow =
        c->mask ? c->mask + bi * c->m_bs + h * c->m_hs + (first + i) * c->m_rs : NULL;
    attn_softmax_row(s->pc + i * npad, n, mrow, c->m_cs, c->scale, P + i * n);
  }
  /* Output: P [NQ, N] @ v [N, dh], rows written into the merged layout. */
  const long dhpad = packed_gemm(s->pa, s->pb, s->pc, nq, dh, n, P, n, 1, v, rs, 1);
  for (long i = 0; i < nq; i++) {
    memcpy(c->out + (bi * nq + i) * d + h * dh, s->pc + i * dhpad, (size_t)dh * sizeof(float));
  }
}

/* Copies `rows` rows of a product [rows, dhpad] into the dh columns of slot `slot` of dqkv, from
 * token `first` on. */
static void attn_put(const attn_ctx *c, long bi, long h, int slot, long first, long rows,
                     const float *pc, long dhpad) {
  const long n = c->n, d = c->d, dh = c->dh;
  for (long i = 0; i < rows; i++) {
    memcpy(c->dqkv + (bi * n + first + i) * 3 * d + slot * d + h * dh, pc + i * dhpad,
           (size_t)dh * sizeof(float));
  }
}

static void attn_backward_item(const attn_ctx *c, attn_scratch *s, long bi, long h,
                               const float *q, float *P) {
  const long n = c->n, nq = c->nq, first = n - nq, dh = c->dh, d = c->d, rs = 3 * d;
  const float *k = q + d, *v = q + 2 * d, *qq = q + first * rs;
  const float *dO = c->dout + bi * nq * d + h * dh;
  /* dv = P^T @ dO. */
  attn_put(c, bi, h, 2, 0, n, s->pc,
           packed_gemm(s->pa, s->pb, s->pc, n, dh, nq, P, 1, n, dO, d, 1));
  /* dP = dO @ v^T; dS = P * (dP - rowsum(dP * P)) * scale (softmax, then the scale). */
  const long npad = packed_gemm(s->pa, s->pb, s->pc, nq, n, dh, dO, d, 1, v, 1, rs);
  for (long i = 0; i < nq; i++) {
    const float *dp = s->pc + i * npad, *pr = P + i * n;
    float *ds = s->ds + i * n;
    for (long j = 0; j < n; j++) ds[j] = dp[j] * pr[j];
    const float dot = reduce_row(R_SUM, ds, n);
    for (long j = 0; j < n; j++) ds[j] = pr[j] * (dp[j] - dot) * c->scale;
  }
  /* dq = dS @ k (queries; 0 for the other tokens); dk = dS^T @ q. */
  for (long i = 0; i < first; i++) {
    memset(c->dqkv + (bi * n + i) * 3 * d + h * dh, 0, (size_t)dh * sizeof(float));
  }
  attn_put(c, bi, h, 0, first, nq, s->pc,
           packed_gemm(s->pa, s->pb, s->pc, nq, dh, n, s->ds, n, 1, k, rs, 1));
  attn_put(c, bi, h, 1, 0, n, s->pc,
           packed_gemm(s->pa, s->pb, s->pc, n, dh, nq, s->ds, 1, n, qq, rs, 1));
}

/* Runs `item` over the batch * heads items of `c`, about `grain` multiply-adds a part. Returns
 * -1 when out of memory (checked up front: a part of the pool cannot report it). */
static int attn_run(attn_ctx *c, int batch, long grain, attn_item_fn item) {
  c->item = item;
  if (batch <= 0 || c->n <= 0 || c->nq <= 0 || c->heads <= 0 || c->dh <= 0) return 0;
  attn_scratch probe;
  if (attn_scratch_alloc(&probe, c) != 0) return -1;
  attn_scratch_free(&probe);
  const long work = (long)c->nq * c->n * c->dh + 1;
  parallel_for((long)batch * c->heads, grain / work + 1, 1, attn_task, c);
  return 0;
}

/* Forward: out [B, NQ, H, dh] and probs [B, H, NQ, N] from qkv [B, N, 3, H, dh], the queries
 * being the last nq tokens (nq = n: all); mask (NULL for none) read through the strides m_* (0
 * along broadcast dims), its rows those of all N tokens. Returns -1 when out of memory (checked
 * up front: a part of the pool cannot report it). */
int nk_attention(int batch, int n, int nq, int heads, int dh, const float *qkv, const float *mask,
                 int m_bs, int m_hs, int m_rs, int m_cs, float scale, float *out, float *probs) {
  attn_ctx c = {n, nq, heads, dh, (long)heads * dh, qkv, mask, m_bs, m_hs, m_rs, m_cs, scale,
                out, probs, NULL, NULL, NULL};
  return attn_run(&c, batch, 1L << 16, attn_forward_item);
}

/* Backward: dqkv [B, N, 3, H, dh] from qkv, the forward's probs and dout [B, NQ, H, dh]. */
int nk_attention_grad(int batch, int n, int nq, int heads, int dh, const float *qkv,
                      const float *probs, const float *dout, float scale, float *dqkv) {
  attn_ctx c = {n, nq, heads, dh, (long)heads * dh, qkv, NULL, 0, 0, 0, 0, scale,
                NULL, (float *)probs, dout, dqkv, NULL};
  return attn_run(&c, batch, 1L << 15, attn_backward_item);
}
