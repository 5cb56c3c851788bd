/* The bfloat16 dot product's throughput, for benchmarks/machine.py: ten independent chains of
 * VDPBF16PS on 512-bit registers (16 lanes, two multiply-adds each), ``n`` times. Built with
 * wavedil.native.build (-march=native); on a CPU without AVX512-BF16, wd_dot_probe returns 0 and
 * does nothing. */

#include <stdint.h>

#if defined(__AVX512BF16__) && defined(__AVX512F__)
#include <immintrin.h>

/* Runs n rounds of ten dot products; returns the multiply-adds made (n * 10 * 32). */
int64_t wd_dot_probe(int64_t n)
{
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
    /* distinct starts, or the compiler merges identical chains into one */
    __m512 a0 = _mm512_set1_ps(0.0f), a1 = _mm512_set1_ps(1.0f), a2 = _mm512_set1_ps(2.0f),
           a3 = _mm512_set1_ps(3.0f), a4 = _mm512_set1_ps(4.0f), a5 = _mm512_set1_ps(5.0f),
           a6 = _mm512_set1_ps(6.0f), a7 = _mm512_set1_ps(7.0f), a8 = _mm512_set1_ps(8.0f),
           a9 = _mm512_set1_ps(9.0f);
    for (int64_t i = 0; i < n; i++) {
        a0 = _mm512_dpbf16_ps(a0, x, y); a1 = _mm512_dpbf16_ps(a1, x, y);
        a2 = _mm512_dpbf16_ps(a2, x, y); a3 = _mm512_dpbf16_ps(a3, x, y);
        a4 = _mm512_dpbf16_ps(a4, x, y); a5 = _mm512_dpbf16_ps(a5, x, y);
        a6 = _mm512_dpbf16_ps(a6, x, y); a7 = _mm512_dpbf16_ps(a7, x, y);
        a8 = _mm512_dpbf16_ps(a8, x, y); a9 = _mm512_dpbf16_ps(a9, x, y);
    }
    __m512 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
    volatile float sink = s[0];  /* keeps the chains */
    (void)sink;
    return n * 10 * 32;
}
#else
int64_t wd_dot_probe(int64_t n)
{
    (void)n;
    return 0;
}
#endif
