/* The effect engine's element-wise work on channel-major rows (wavedil/effect/kernels.py): a
 * layer's pre-activation start, the head sum and the residual's start. In numba these loops
 * cost about 40% of a block of 64 samples for NAM's standard model (each row a new array
 * view, and loops LLVM left scalar); here each is one pass over plain pointers.
 *
 * Every value is computed by one exactly rounded operation (fmaf, or one addition) whichever
 * column it stands in, vector body or scalar tail alike, so no output depends on where a sample
 * falls in a block (the engine's promise: the output does not depend on the block size).
 *
 * Built with gemm.c into one library by wavedil/native/kernel.py. */

#include <math.h>
#include <stdint.h>

/* z[m, t] = bias[m] + scale[m * ss] * x[t] for t < n, bias[m] for n <= t < N; rows ldz apart */
void wd_rows_affine(int64_t M, int64_t n, int64_t N, const float *restrict bias,
                    const float *restrict scale, int64_t ss, const float *restrict x,
                    float *restrict z, int64_t ldz)
{
    for (int64_t m = 0; m < M; m++) {
        float *restrict row = z + m * ldz;
        const float b = bias[m], s = scale[m * ss];
        for (int64_t t = 0; t < n; t++)
            row[t] = fmaf(s, x[t], b);
        for (int64_t t = n; t < N; t++)
            row[t] = b;
    }
}

/* out[m, t] = h[m, t] + b[m] for t < N; rows ldh and ldo apart */
void wd_rows_bias(int64_t M, int64_t N, const float *restrict h, int64_t ldh,
                  const float *restrict b, float *restrict out, int64_t ldo)
{
    for (int64_t m = 0; m < M; m++) {
        const float *restrict in = h + m * ldh;
        float *restrict row = out + m * ldo;
        const float bm = b[m];
        for (int64_t t = 0; t < N; t++)
            row[t] = in[t] + bm;
    }
}

/* s[i] += a[i] for i < count */
void wd_rows_add(int64_t count, const float *restrict a, float *restrict s)
{
    for (int64_t i = 0; i < count; i++)
        s[i] += a[i];
}
