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

/* The last m (< 8) columns of a row through gate8, on zero-padded copies: a and b the
 * pre-activations with their bias added (m each) -> z, da and db (m each). */
static void gate_tail(int64_t m, const float *a, const float *b, float *z, float *da, float *db)
{
    float pa[8] = {0}, pb[8] = {0}, oz[8], oa[8], ob[8];
    v8 vz, va, vb;
    memcpy(pa, a, m * sizeof(float));
    memcpy(pb, b, m * sizeof(float));
    gate8(LD(pa), LD(pb), &vz, &va, &vb);
    ST(oz, vz);
    ST(oa, va);
    ST(ob, vb);
    memcpy(z, oz, m * sizeof(float));
    memcpy(da, oa, m * sizeof(float));
    memcpy(db, ob, m * sizeof(float));
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
            float a[8], b[8];
            for (int64_t i = 0; i < H - full; i++) {
                a[i] = p[full + i] + bias[full + i];
                b[i] = p[H + full + i] + bias[H + full + i];
            }
            gate_tail(H - full, a, b, zr + full, dr + full, dr + H + full);
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

/* ---- The same with the products' operands in bfloat16 (the bf16 training pass) ----
 * pre and dz arrive as the bfloat16 results of the products, z and dp leave as bfloat16 for
 * the next products; bias, ds and colsum stay float32. A bfloat16 value is the upper half of
 * a float32; rounding to it is to nearest, ties to even (torch's), a NaN kept a NaN. */

static inline float widen_bf16(uint16_t x)
{
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline v8 widen8(const uint16_t *p)
{
    i8 w;
    for (int i = 0; i < 8; i++)
        w[i] = (int32_t)((uint32_t)p[i] << 16);
    return (v8)w;
}

/* float32 -> bfloat16 bits, to nearest, ties to even; a NaN stays a NaN */
static inline uint16_t round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return 0x7FC0u;
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static inline void narrow8(uint16_t *p, v8 x)
{
    for (int i = 0; i < 8; i++)
        p[i] = round_bf16(x[i]);
}

void wd_gate_forward_bf16(int64_t rows, int64_t H, const uint16_t *restrict pre, int64_t ldpre,
                          const float *restrict bias, uint16_t *restrict z, int64_t ldz,
                          float *restrict ds, int64_t ldds)
{
    const int64_t full = H - H % 8;
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *p = pre + r * ldpre;
        uint16_t *zr = z + r * ldz;
        float *dr = ds + r * ldds;
        v8 vz, va, vb;
        for (int64_t j = 0; j < full; j += 8) {
            gate8(widen8(p + j) + LD(bias + j), widen8(p + H + j) + LD(bias + H + j),
                  &vz, &va, &vb);
            narrow8(zr + j, vz);
            ST(dr + j, va);
            ST(dr + H + j, vb);
        }
        if (full < H) {  /* the float32 forward's tail, z rounded after */
            float a[8], b[8], oz[8];
            for (int64_t i = 0; i < H - full; i++) {
                a[i] = widen_bf16(p[full + i]) + bias[full + i];
                b[i] = widen_bf16(p[H + full + i]) + bias[H + full + i];
            }
            gate_tail(H - full, a, b, oz, dr + full, dr + H + full);
            for (int64_t i = 0; i < H - full; i++)
                zr[full + i] = round_bf16(oz[i]);
        }
    }
}

void wd_gate_backward_bf16(int64_t rows, int64_t H, const float *restrict ds,
                           const uint16_t *restrict dz, int64_t lddz, uint16_t *restrict dp,
                           int64_t lddp, float *restrict colsum)
{
    const int64_t G = 2 * H;
    for (int64_t r = 0; r < rows; r++) {
        const float *d = ds + r * G;
        const uint16_t *g = dz + r * lddz;
        uint16_t *o = dp + r * lddp;
        for (int64_t j = 0; j < H; j++) {
            float gz = widen_bf16(g[j]);
            float a = d[j] * gz, b = d[H + j] * gz;
            colsum[j] += a;
            colsum[H + j] += b;
            o[j] = round_bf16(a);
            o[H + j] = round_bf16(b);
        }
    }
}
