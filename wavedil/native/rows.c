/* The effect engine's element-wise work on channel-major rows (wavedil/effect/kernels.py): a
 * layer's pre-activation start, its commonest activations, the head sum and the residual's
 * start. In numba these loops
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

/* tanh by numba's jit.tanh_f32's rational function (Eigen's, |error| < 3e-7): the argument
 * clamped to +-7.9053111, then x * p(x^2) / q(x^2) with an exact division; the same floats as
 * numba's loops inside the clamp (at it they may differ in the last bits) */
static inline float tanh_rational(float x)
{
    const float c = 7.90531110763549805f;
    x = x < c ? x : c;
    x = x > -c ? x : -c;
    const float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return x * p / q;
}

/* a[c, t] = act(z[c, t]) for c < C, t < n, rows ld apart, for the activations of the effect
 * engine's table that are most used (effect/kernels.py's codes): 0 tanh, 1 relu, 6 leaky relu
 * (slope 0.01); any other code leaves a as it is (numba's loops run those). */
void wd_rows_act(int64_t code, int64_t C, int64_t n, const float *restrict z, float *restrict a,
                 int64_t ld)
{
    if (code != 0 && code != 1 && code != 6)
        return;
    for (int64_t c = 0; c < C; c++) {
        const float *restrict zr = z + c * ld;
        float *restrict ar = a + c * ld;
        if (code == 0)
            for (int64_t t = 0; t < n; t++)
                ar[t] = tanh_rational(zr[t]);
        else if (code == 1)
            for (int64_t t = 0; t < n; t++)
                ar[t] = zr[t] > 0.0f ? zr[t] : 0.0f;
        else
            for (int64_t t = 0; t < n; t++)
                ar[t] = zr[t] > 0.0f ? zr[t] : 0.01f * zr[t];
    }
}
