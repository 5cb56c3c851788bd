/* exp, sigmoid and tanh on eight float32 lanes (vec8.h), shared by the training passes' C
 * kernels (gate.c, effect_layer.c): within a few ulp of torch's, so that a pass that uses them
 * gives the model's own results to float rounding. wavedil/native/build.py keys its builds on
 * this file too (each source includes it by name). */

#ifndef WAVEDIL_VMATH8_H
#define WAVEDIL_VMATH8_H

#include "vec8.h"

/* exp(x), x clamped to [-87.3, 88.3] (beyond: 0-ish and inf-ish, which the callers absorb):
 * a range reduction and Cephes' degree-6 polynomial for expf (about 1 ulp). */
static inline v8 exp8(v8 x)
{
    x = vmax(vmin(x, splat(88.3762626647949f)), splat(-87.3365447505531f));
    /* n = round(x / ln 2): adding 1.5 * 2^23 rounds to an integer in the low mantissa bits */
    v8 magic = splat(12582912.0f);
    v8 n = (x * splat(1.44269504088896341f) + magic) - magic;
    v8 r = x - n * splat(0.693359375f) - n * splat(-2.12194440e-4f);
    v8 p = splat(1.9875691500E-4f);
    p = p * r + splat(1.3981999507E-3f);
    p = p * r + splat(8.3334519073E-3f);
    p = p * r + splat(4.1665795894E-2f);
    p = p * r + splat(1.6666665459E-1f);
    p = p * r + splat(5.0000001201E-1f);
    p = p * (r * r) + r + splat(1.0f);
    i8 e = (__builtin_convertvector(n, i8) + 127) << 23;  /* 2^n */
    return p * (v8)e;
}

static inline v8 sigmoid8(v8 x) { return splat(1.0f) / (splat(1.0f) + exp8(-x)); }

/* tanh(x) as Cephes' tanhf computes it: an odd polynomial below |x| = 0.625 (where
 * 1 - 2 / (exp(2|x|) + 1) would lose the small values' digits), that formula above, the sign
 * put back (about 2 ulp). */
static inline v8 tanh8(v8 x)
{
    const i8 sign = (i8)splat(-0.0f);
    v8 ax = (v8)((i8)x & ~sign);
    v8 x2 = x * x;
    v8 p = splat(-5.70498872745E-3f);
    p = p * x2 + splat(2.06390887954E-2f);
    p = p * x2 + splat(-5.37397155531E-2f);
    p = p * x2 + splat(1.33314422036E-1f);
    p = p * x2 + splat(-3.33332819422E-1f);
    v8 small = p * x2 * x + x;
    v8 big = splat(1.0f) - splat(2.0f) / (exp8(ax + ax) + splat(1.0f));
    big = (v8)((i8)big | ((i8)x & sign));
    return vselect(ax < splat(0.625f), small, big);
}

#endif
