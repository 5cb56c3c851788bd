/* Small dense products for the numba engine: C[M, N] += A[M, K] @ B[K, N], row-major, with
 * leading dimensions. M is a handful of streams, K and N a layer's channels (tens to hundreds),
 * so A is read as it is; B, the weights, is read as it is (wd_gemm) or packed once in panels
 * of 16 columns (wd_gemm_packed).
 *
 * The accumulators of a block of C stay in vector registers for the whole K loop: a 6 x 16
 * block holds 12 vectors of 8 floats and costs, per k, two loads of B, six broadcasts of A and
 * twelve fused multiply-adds. A single row reads B in memory order, with independent
 * accumulators enough to hide the latency of the multiply-adds.
 *
 * Built by wavedil/engines/native.py with the system C compiler (-O3 -march=native); written
 * with GCC vector extensions, so it compiles for any target GCC or clang supports. */

#include <stdint.h>

#include "../vec8.h"

/* Weights in bfloat16 (the upper 16 bits of a float32, as ``native.to_bf16`` rounds them), for
 * the compact-weight mode: half the bytes to read, widened to floats in registers before the
 * same float32 multiply-adds. The layout is wd_gemm_packed's in 16-bit elements, with each panel
 * row of 16 interleaved by ``native.pack_bf16``: 32-bit word j holds column j in its low half and
 * column j + 8 in its high half, so one 32-byte load gives the row with a shift and a mask. */
typedef uint32_t u8 __attribute__((vector_size(32)));
typedef uint32_t u8u __attribute__((vector_size(32), aligned(2), may_alias));

/* Row k of a 16-column block of B into two vectors: float32 with leading dimension ldb, or
 * (bf16, a constant at every call, so the branch compiles away) a bf16 panel row. */
static inline __attribute__((always_inline)) void
row16(const int bf16, const void *B, int64_t k, int64_t ldb, v8 *b0, v8 *b1)
{
    if (bf16) {
        u8 w = *(const u8u *)((const uint16_t *)B + k * 16);
        *b0 = (v8)(w << 16);  /* columns 0..7 */
        *b1 = (v8)(w & (u8){0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u,
                            0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u});  /* 8..15 */
    } else {
        const float *b = (const float *)B + k * ldb;
        *b0 = LD(b);
        *b1 = LD(b + 8);
    }
}

/* A block of R rows (R <= 6) x 16 columns of C: 2R accumulators in vector registers for the
 * whole K loop. R is a constant at every call, so the compiler unrolls the row loops and keeps
 * the arrays in registers. */
static inline __attribute__((always_inline)) void
block_rx16(const int R, const int bf16, int64_t K, const float *A, int64_t lda, const void *B,
           int64_t ldb, float *C, int64_t ldc)
{
    v8 c0[6], c1[6];
    for (int r = 0; r < R; r++) {
        c0[r] = LD(C + r * ldc);
        c1[r] = LD(C + r * ldc + 8);
    }
    for (int64_t k = 0; k < K; k++) {
        v8 b0, b1;
        row16(bf16, B, k, ldb, &b0, &b1);
        for (int r = 0; r < R; r++) {
            v8 a = splat(A[r * lda + k]);
            c0[r] += a * b0;
            c1[r] += a * b1;
        }
    }
    for (int r = 0; r < R; r++) {
        ST(C + r * ldc, c0[r]);
        ST(C + r * ldc + 8, c1[r]);
    }
}

static void block6x16(int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc)
{
    block_rx16(6, 0, K, A, lda, B, ldb, C, ldc);
}

static void block4x16(int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float *C, int64_t ldc)
{
    block_rx16(4, 0, K, A, lda, B, ldb, C, ldc);
}

/* One row of C, N a multiple of 8: B is read in memory order, four rows at a time, which
 * suits a product bound by reading B (a single stream reads every weight once per step). */
static void rows(int64_t K, int64_t N, const float *A, const float *B, int64_t ldb, float *C)
{
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        v8 a0 = splat(A[k]), a1 = splat(A[k + 1]), a2 = splat(A[k + 2]), a3 = splat(A[k + 3]);
        const float *b = B + k * ldb;
        for (int64_t n = 0; n < N; n += 8)
            ST(C + n, LD(C + n) + ((a0 * LD(b + n) + a1 * LD(b + ldb + n))
                                   + (a2 * LD(b + 2 * ldb + n) + a3 * LD(b + 3 * ldb + n))));
    }
    for (; k < K; k++) {
        v8 a = splat(A[k]);
        const float *b = B + k * ldb;
        for (int64_t n = 0; n < N; n += 8)
            ST(C + n, LD(C + n) + a * LD(b + n));
    }
}

static void block1x8(int64_t K, const float *A, const float *B, int64_t ldb, float *C)
{
    v8 c0 = LD(C), c1 = splat(0.0f);  /* two chains: even and odd k */
    int64_t k = 0;
    for (; k + 2 <= K; k += 2) {
        c0 += splat(A[k]) * LD(B + k * ldb);
        c1 += splat(A[k + 1]) * LD(B + (k + 1) * ldb);
    }
    if (k < K)
        c0 += splat(A[k]) * LD(B + k * ldb);
    ST(C, c0 + c1);
}

static void gemm_panel(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float *C, int64_t ldc)
{
    int64_t n = 0;
    if (M >= 4) {
        for (; n + 16 <= N; n += 16) {
            int64_t m = 0;
            for (; m + 6 <= M && M - m != 8; m += 6)
                block6x16(K, A + m * lda, lda, B + n, ldb, C + m * ldc + n, ldc);
            for (; m + 4 <= M; m += 4)
                block4x16(K, A + m * lda, lda, B + n, ldb, C + m * ldc + n, ldc);
            for (; m < M; m++) {
                block1x8(K, A + m * lda, B + n, ldb, C + m * ldc + n);
                block1x8(K, A + m * lda, B + n + 8, ldb, C + m * ldc + n + 8);
            }
        }
    } else {
        for (int64_t m = 0; m < M; m++)
            rows(K, N - N % 8, A + m * lda, B, ldb, C + m * ldc);
        n = N - N % 8;
    }
    for (; n + 8 <= N; n += 8)
        for (int64_t m = 0; m < M; m++)
            block1x8(K, A + m * lda, B + n, ldb, C + m * ldc + n);
    for (; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            float acc = C[m * ldc + n];
            for (int64_t k = 0; k < K; k++)
                acc += A[m * lda + k] * B[k * ldb + n];
            C[m * ldc + n] = acc;
        }
}

/* Blocks of KB rows of B: a 16-column panel of them (KB * 64 bytes) stays in the L1 cache
 * while every row block of A passes over it. */
#define KB 256

void wd_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
             int64_t ldb, float *C, int64_t ldc)
{
    for (int64_t k = 0; k < K; k += KB)
        gemm_panel(M, N, K - k < KB ? K - k : KB, A + k, lda, B + k * ldb, ldb, C, ldc);
}

/* The same product with B packed in panels of 16 columns: panel p, a contiguous (K, 16)
 * block at B + p * K * 16, holds columns 16p .. 16p + 15, so every block reads B in memory
 * order. N must be a multiple of 16; ldb is ignored. */
static inline __attribute__((always_inline)) void
panel1x16(const int bf16, int64_t K, const float *A, const void *B, float *C)
{
    v8 c0 = LD(C), c1 = LD(C + 8);
    v8 d0 = splat(0.0f), d1 = d0, e0 = d0, e1 = d0, f0 = d0, f1 = d0;
    v8 l0, h0, l1, h1, l2, h2, l3, h3;
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {  /* four chains of multiply-adds: their latency overlaps */
        v8 a0 = splat(A[k]), a1 = splat(A[k + 1]), a2 = splat(A[k + 2]), a3 = splat(A[k + 3]);
        row16(bf16, B, k, 16, &l0, &h0);
        row16(bf16, B, k + 1, 16, &l1, &h1);
        row16(bf16, B, k + 2, 16, &l2, &h2);
        row16(bf16, B, k + 3, 16, &l3, &h3);
        c0 += a0 * l0; c1 += a0 * h0;
        d0 += a1 * l1; d1 += a1 * h1;
        e0 += a2 * l2; e1 += a2 * h2;
        f0 += a3 * l3; f1 += a3 * h3;
    }
    for (; k < K; k++) {
        v8 a = splat(A[k]);
        row16(bf16, B, k, 16, &l0, &h0);
        c0 += a * l0; c1 += a * h0;
    }
    ST(C, (c0 + d0) + (e0 + f0));
    ST(C + 8, (c1 + d1) + (e1 + f1));
}

/* The packed products, B in float32 or bf16 (a constant at both calls below). */
static inline __attribute__((always_inline)) void
gemm_packed(const int bf16, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
            const void *B, float *C, int64_t ldc)
{
    const int64_t size = bf16 ? 2 : 4;  /* bytes per element of B */
    for (int64_t k0 = 0; k0 < K; k0 += KB) {
        int64_t kb = K - k0 < KB ? K - k0 : KB;
        for (int64_t n = 0; n < N; n += 16) {
            const void *panel = (const char *)B + (n * K + k0 * 16) * size;
            int64_t m = 0;
            if (M >= 4) {
                for (; m + 6 <= M && M - m != 8; m += 6)
                    block_rx16(6, bf16, kb, A + m * lda + k0, lda, panel, 16, C + m * ldc + n, ldc);
                for (; m + 4 <= M; m += 4)
                    block_rx16(4, bf16, kb, A + m * lda + k0, lda, panel, 16, C + m * ldc + n, ldc);
            }
            for (; m < M; m++)
                panel1x16(bf16, kb, A + m * lda + k0, panel, C + m * ldc + n);
        }
    }
}

void wd_gemm_packed(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc)
{
    (void)ldb;
    gemm_packed(0, M, N, K, A, lda, B, C, ldc);
}

/* The same with B in bfloat16, laid out by native.pack_bf16 (see row16). */
void wd_gemm_packed_bf16(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const void *B, int64_t ldb, float *C, int64_t ldc)
{
    (void)ldb;
    gemm_packed(1, M, N, K, A, lda, B, C, ldc);
}
