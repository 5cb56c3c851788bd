/* The categorical head's draw for the numba engine, in C: the index i with
 * cdf[i - 1] <= u * cdf[n - 1] < cdf[i], cdf the cumulative sum of softmax(logits / T), in
 * float64 as wavedil.nn.heads draws it (and numba_kernels._inverse_cdf without the C kernel).
 *
 * In numba the draw cost about 2.4 us for 256 classes (a libm exp and two float64 divisions per
 * class, in order; a one-off probe), an eighth of a batch-32 step. Here exp is four lanes at a
 * time (a range reduction and a degree-13 Taylor polynomial: within 2 ulp of libm's on the
 * arguments the softmax gives it, x <= 0), the sum is unnormalised (u is scaled by the total
 * instead of every term divided by it), and the scan stops at the index. The results are those
 * of heads.py to float64 rounding, as numba's are, so both give the same samples.
 *
 * Built with gemm.c into one library by wavedil/native/kernel.py. */

#include <math.h>
#include <stdint.h>

#include "vec8.h"

typedef double v4 __attribute__((vector_size(32)));
typedef int64_t i4 __attribute__((vector_size(32)));
typedef float f4u __attribute__((vector_size(16), aligned(4), may_alias));

static inline v4 splat4(double x) { return (v4){x, x, x, x}; }

/* exp(x) for x <= 0; 0 below -708 (where the terms no longer move a sum that holds exp(0)). */
static inline v4 exp4(v4 x)
{
    i4 keep = x > splat4(-708.0);
    /* n = round(x / ln 2): adding 1.5 * 2^52 rounds to an integer in the low mantissa bits */
    v4 magic = splat4(6755399441055744.0);
    v4 t = x * splat4(1.4426950408889634) + magic;
    v4 n = t - magic;
    v4 r = (x - n * splat4(6.93145751953125e-1)) - n * splat4(1.42860682030941723212e-6);
    v4 p = splat4(1.0 / 6227020800.0);  /* 1 / 13! */
    static const double inv[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
                                 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    for (int i = 0; i < 13; i++)
        p = p * r + splat4(inv[i]);
    i4 bits = ((i4)t - (i4)magic + 1023) << 52;  /* 2^n */
    return (v4)((i4)(p * (v4)bits) & keep);
}

/* work[i] = exp(logits[i] / T - m) for i < n, and their sum. ``unit`` (T == 1: the division
 * left out) is a constant at both calls: a vector ?: on a run-time flag here was compiled by
 * GCC 12 with AVX-512 into a blend that divided lane 0 only (seen on a Zen 4). */
static inline __attribute__((always_inline)) double
exps(const int unit, const float *logits, int64_t n, double T, double m, double *work)
{
    v4 sum = splat4(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4 v = __builtin_convertvector(*(const f4u *)(logits + i), v4);
        if (!unit)
            v = v / splat4(T);
        v4 e = exp4(v - splat4(m));
        for (int j = 0; j < 4; j++)
            work[i + j] = e[j];
        sum += e;
    }
    double total = (sum[0] + sum[1]) + (sum[2] + sum[3]);
    for (; i < n; i++) {
        work[i] = exp((double)logits[i] / T - m);
        total += work[i];
    }
    return total;
}

/* The drawn index for logits (n,), temperature T > 0 and uniform u, written to out[0]; work
 * is float64 scratch of at least n values. */
void wd_categorical(const float *logits, int64_t n, double T, double u, double *work,
                    int64_t *out)
{
    float top = logits[0];
    int64_t i = 1;
    if (n >= 8) {  /* eight lanes of running maxima, then the largest of them: the same value */
        v8 lanes = LD(logits);
        for (i = 8; i + 8 <= n; i += 8)
            lanes = vmax(LD(logits + i), lanes);
        for (int j = 0; j < 8; j++)
            top = lanes[j] > top ? lanes[j] : top;
    }
    for (; i < n; i++)
        top = logits[i] > top ? logits[i] : top;
    const double m = (double)top / T;  /* max(l) / T = max(l / T): division by T > 0 keeps order */
    /* l / 1 is l: the division (several cycles a vector) skipped, in a loop of its own */
    const double total = T == 1.0 ? exps(1, logits, n, T, m, work) : exps(0, logits, n, T, m, work);
    const double target = u * total;
    double acc = 0.0;
    int64_t idx = 0;
    for (; idx < n - 1; idx++) {  /* the first index whose cumulative sum reaches the target */
        acc += work[idx];
        if (acc >= target)
            break;
    }
    out[0] = idx;
}
