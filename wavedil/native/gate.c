/* The gated activation of the chunked training pass (chunked_stack.py), forward and backward,
 * each in one pass over a piece's rows: torch does the same work in seven element-wise
 * operations, each reading and writing the whole piece again (about half the forward's time
 * in the small recipes' pieces, a one-off profile).
 *
 * Forward, for each row r and gate column j < H (pre has 2H columns: the tanh half, then the
 * sigmoid half):
 *     t = tanh(pre[r, j] + bias[j]),  s = sigmoid(pre[r, H + j] + bias[H + j])
 *     z[r, j] = t s,  ds[r, j] = s (1 - t^2),  ds[r, H + j] = z (1 - s)
 * Backward, given dz (the gradient of z):
 *     dp[r, j] = ds[r, j] dz[r, j],  dp[r, H + j] = ds[r, H + j] dz[r, j];  colsum += sum_r dp[r]
 *
 * tanh(a) = 2 sigmoid(2a) - 1 and sigmoid(x) = 1 / (1 + exp(-x)), with vmath8.h's exp (about
 * 1 ulp), so the results are torch's to float32 rounding. Eight columns at a time in GCC
 * vector extensions; a row's last H mod 8 columns go through the same code on a padded copy.
 *
 * Built by wavedil/native/build.py with the system C compiler (-O3 -march=native). */

#include <stdint.h>
#include <string.h>

#include "vec8.h"
#include "vmath8.h"

/* Eight columns of the forward: a and b the pre-activations (bias added). */
static inline void gate8(v8 a, v8 b, v8 *z, v8 *da, v8 *db)
{
    v8 one = splat(1.0f);
    v8 t = splat(2.0f) * sigmoid8(a + a) - one;
    v8 s = sigmoid8(b);
    *z = t * s;
    *da = s - *z * t;   /* s (1 - t^2) */
    *db = *z - *z * s;  /* z (1 - s) */
}

void wd_gate_forward(int64_t rows, int64_t H, const float *restrict pre,
                     const float *restrict bias, float *restrict z, int64_t ldz,
                     float *restrict ds, int64_t ldds)
{
    const int64_t G = 2 * H, full = H - H % 8;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = pre + r * G;
        float *zr = z + r * ldz, *dr = ds + r * ldds;
        v8 vz, va, vb;
        for (int64_t j = 0; j < full; j += 8) {
            gate8(LD(p + j) + LD(bias + j), LD(p + H + j) + LD(bias + H + j), &vz, &va, &vb);
            ST(zr + j, vz);
            ST(dr + j, va);
            ST(dr + H + j, vb);
        }
        if (full < H) {  /* the last columns through the same code, on padded copies */
            float a[8] = {0}, b[8] = {0}, oz[8], oa[8], ob[8];
            int64_t m = H - full;
            for (int64_t i = 0; i < m; i++) {
                a[i] = p[full + i] + bias[full + i];
                b[i] = p[H + full + i] + bias[H + full + i];
            }
            gate8(LD(a), LD(b), &vz, &va, &vb);
            ST(oz, vz);
            ST(oa, va);
            ST(ob, vb);
            memcpy(zr + full, oz, m * sizeof(float));
            memcpy(dr + full, oa, m * sizeof(float));
            memcpy(dr + H + full, ob, m * sizeof(float));
        }
    }
}

void wd_gate_backward(int64_t rows, int64_t H, const float *restrict ds,
                      const float *restrict dz, int64_t lddz, float *restrict dp,
                      float *restrict colsum)
{
    const int64_t G = 2 * H;
    for (int64_t r = 0; r < rows; r++) {
        const float *d = ds + r * G, *g = dz + r * lddz;
        float *o = dp + r * G;
        for (int64_t j = 0; j < H; j++) {  /* plain loops: the compiler vectorises them */
            float a = d[j] * g[j], b = d[H + j] * g[j];
            o[j] = a;
            o[H + j] = b;
            colsum[j] += a;
            colsum[H + j] += b;
        }
    }
}
