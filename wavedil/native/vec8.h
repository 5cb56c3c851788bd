/* Eight float32 lanes in GCC vector extensions, shared by the package's C sources (gemm.c,
 * stack.c, gate.c): they compile for any target GCC or clang supports, in AVX2 registers here
 * (-march=native). wavedil/native/build.py keys its builds on this file too. */

#ifndef WAVEDIL_VEC8_H
#define WAVEDIL_VEC8_H

#include <stdint.h>

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

#define LD(p) (*(const v8u *)(p))
#define ST(p, v) (*(v8u *)(p) = (v))

static inline v8 splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }

/* where m (a comparison's all-ones or zero lanes): a, else b (C has no vector ?:) */
static inline v8 vselect(i8 m, v8 a, v8 b) { return (v8)(((i8)a & m) | ((i8)b & ~m)); }

/* a < b ? a : b and a > b ? a : b in each lane (b where either is NaN): AVX's vminps and vmaxps
 * compute exactly that in one instruction, where GCC makes a compare and a blend of vselect */
#if defined(__AVX__)
#include <immintrin.h>
static inline v8 vmin(v8 a, v8 b) { return (v8)_mm256_min_ps((__m256)a, (__m256)b); }
static inline v8 vmax(v8 a, v8 b) { return (v8)_mm256_max_ps((__m256)a, (__m256)b); }
#else
static inline v8 vmin(v8 a, v8 b) { return vselect(a < b, a, b); }
static inline v8 vmax(v8 a, v8 b) { return vselect(a > b, a, b); }
#endif

#endif
