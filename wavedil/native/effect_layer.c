/* One layer of an effect model's training pass (effect_stack.py), forward and backward, over
 * the rows of one stream: torch does a layer in a dozen operations (a product per tap, the
 * mixer's, the activation, the head sum, the 1x1, the bias), each reading and writing the
 * whole (T, C) activations again, at widths (NAM's 16 and 8 channels) where its products run
 * far below the machine's peak. Here each row's layer is one pass through registers.
 *
 * Rows have Cp = 8 nv columns (the pass pads a layer's C channels with zeros: padded weights,
 * biases and activations stay zero); tap k of K reads lag (K - 1 - k) d back, and rows before
 * the stream's start read silence. Matrices are for rows @ W: W[i, j] at w[i Cp + j].
 *
 * Forward:
 *     pre[t] = b + c[t] @ Wm + sum_k h[t - lag_k] @ W_k;  a[t] = act(pre[t]);  s[t] += a[t]
 *     out[t] = h[t] + b1 + a[t] @ W1
 * Backward, given gs (the gradient of the head sum, every layer's) and gh (of out), in place:
 *     gpre[t] = (gs[t] + gh[t] @ W1^T) act'(a[t]);  gb += gpre[t];  gb1 += gh[t]   (pre)
 *     gW_k += h[t - lag_k]^T gpre[t];  gWm += c[t]^T gpre[t];  gW1 += a[t]^T gh[t]  (weights)
 *     gh[t] += sum_k gpre[t + lag_k] @ W_k^T   (the input's gradient, once gpre is whole)
 *
 * act: tanh (vmath8.h's, within a few ulp of torch's), relu or leaky relu; act' from the
 * output: 1 - a^2, or 1 and 0 (slope) by its sign.
 *
 * A call takes R rows (8, 4 or 2 as the width allows; single rows at the end) and up to GROUP
 * output vectors at a time, their R x GROUP sums held in registers across the inputs (at most
 * eight of them and the weights' vectors fit AVX2's sixteen registers), so that each weight
 * vector loaded serves R rows and the sums' chains of fused multiply-adds run side by side
 * (one chain waits about four cycles for its last step). A row's sum runs over the inputs in
 * one order whatever R is. The weights' gradients hold the R rows' gradient vectors in
 * registers and add each row block's outer products into a weight row at once, the rows in
 * order. Rows a tap reads before the stream's start (or past its end, in the
 * backward) read a row of zeros.
 *
 * Built by wavedil/native/build.py with the system C compiler (-O3 -march=native). */

#include <stdint.h>

#include "vec8.h"
#include "vmath8.h"

enum { ACT_TANH = 0, ACT_RELU = 1, ACT_LEAKY_RELU = 2 };

#define GROUP 4  /* output vectors (of 8 channels) one call sums at most */
#define ROWS 8   /* rows one call takes at most */
#define INLINE static inline __attribute__((always_inline))

/* acc[r][v] += sum_i x[r][i] w[i ldw + 8 v], r < R, v < nb: R row vectors times nb columns of
 * vectors, the inputs i in order */
INLINE void rows_times(v8 acc[ROWS][GROUP], const int R, const int nb, const float *const *x,
                       int64_t n, const float *restrict w, int64_t ldw)
{
    for (int64_t i = 0; i < n; i++) {
        v8 wv[GROUP];
        for (int v = 0; v < nb; v++)
            wv[v] = LD(w + i * ldw + 8 * v);
        for (int r = 0; r < R; r++) {
            v8 xi = splat(x[r][i]);
            for (int v = 0; v < nb; v++)
                acc[r][v] += xi * wv[v];
        }
    }
}

INLINE v8 activate(v8 x, int act, float slope)
{
    if (act == ACT_TANH)
        return tanh8(x);
    v8 zero = splat(0.0f);
    return vselect(x > zero, x, act == ACT_RELU ? zero : x * splat(slope));
}

/* act'(pre) from a = act(pre) */
INLINE v8 derivative(v8 a, int act, float slope)
{
    if (act == ACT_TANH)
        return splat(1.0f) - a * a;
    return vselect(a > splat(0.0f), splat(1.0f), splat(act == ACT_RELU ? 0.0f : slope));
}

/* one call's arguments and the row of zeros its taps read beyond the stream */
typedef struct {
    int64_t T, Cp, P1, K, d, ldc;
    const float *h, *c, *taps, *b, *wm, *w1, *b1, *zeros;
    int act;
    float slope;
    float *a, *s, *out;
} Forward;

/* Rows t .. t + R, output vectors v0 .. v0 + nb: the pre-activations -> a, and into s */
INLINE void forward_pre(const Forward *f, int64_t t, int64_t v0, const int R, const int nb)
{
    const int64_t Cp = f->Cp;
    v8 acc[ROWS][GROUP];
    const float *x[ROWS];
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < nb; v++)
            acc[r][v] = LD(f->b + 8 * (v0 + v));
        x[r] = f->c + (t + r) * f->ldc;
    }
    rows_times(acc, R, nb, x, f->P1, f->wm + 8 * v0, Cp);
    for (int64_t k = 0; k < f->K; k++) {
        int64_t lag = (f->K - 1 - k) * f->d;
        for (int r = 0; r < R; r++)
            x[r] = t + r >= lag ? f->h + (t + r - lag) * Cp : f->zeros;
        rows_times(acc, R, nb, x, Cp, f->taps + k * Cp * Cp + 8 * v0, Cp);
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < nb; v++) {
            int64_t at = (t + r) * Cp + 8 * (v0 + v);
            v8 y = activate(acc[r][v], f->act, f->slope);
            ST(f->a + at, y);
            ST(f->s + at, LD(f->s + at) + y);
        }
}

/* Rows t .. t + R, output vectors v0 .. v0 + nb: h + b1 + a @ W1 (a's whole rows are made) */
INLINE void forward_out(const Forward *f, int64_t t, int64_t v0, const int R, const int nb)
{
    const int64_t Cp = f->Cp;
    v8 acc[ROWS][GROUP];
    const float *x[ROWS];
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < nb; v++)
            acc[r][v] = LD(f->h + (t + r) * Cp + 8 * (v0 + v)) + LD(f->b1 + 8 * (v0 + v));
        x[r] = f->a + (t + r) * Cp;
    }
    rows_times(acc, R, nb, x, Cp, f->w1 + 8 * v0, Cp);
    for (int r = 0; r < R; r++)
        for (int v = 0; v < nb; v++)
            ST(f->out + (t + r) * Cp + 8 * (v0 + v), acc[r][v]);
}

/* fn(arg, t, v0, R, nb) with R and nb as constants, so that its sums stay in registers */
#define BY_NB(fn, arg, t, v0, R, nb)                           \
    switch (nb) {                                              \
    case 1: fn(arg, t, v0, R, 1); break;                       \
    case 2: fn(arg, t, v0, R, 2); break;                       \
    case 3: fn(arg, t, v0, R, 3); break;                       \
    default: fn(arg, t, v0, R, GROUP); break;                  \
    }
#define BY_SHAPE(fn, arg, t, v0, R, nb)                        \
    switch (R) {                                               \
    case 8: BY_NB(fn, arg, t, v0, 8, nb) break;                \
    case 4: BY_NB(fn, arg, t, v0, 4, nb) break;                \
    case 2: BY_NB(fn, arg, t, v0, 2, nb) break;                \
    default: BY_NB(fn, arg, t, v0, 1, nb) break;               \
    }
/* every group of output vectors of rows t .. t + R */
#define BY_GROUPS(fn, arg, t, R, nv)                                            \
    for (int64_t v0 = 0; v0 < (nv); v0 += GROUP) {                              \
        int64_t nb_ = (nv) - v0 < GROUP ? (nv) - v0 : GROUP;                    \
        BY_SHAPE(fn, arg, t, v0, R, nb_)                                        \
    }

/* rows a call takes: R x (vectors of a group) <= 8 sums in registers */
static int64_t row_block(int64_t nv) { return nv >= 3 ? 2 : nv == 2 ? 4 : 8; }

void wd_effect_layer_forward(int64_t T, int64_t Cp, int64_t P1, int64_t K, int64_t d,
                             const float *h, const float *c, int64_t ldc, const float *taps,
                             const float *b, const float *wm, const float *w1, const float *b1,
                             int64_t act, float slope, float *a, float *s, float *out)
{
    float zeros[Cp];
    for (int64_t i = 0; i < Cp; i++)
        zeros[i] = 0.0f;
    const Forward f = {T, Cp, P1, K, d, ldc, h, c, taps, b, wm, w1, b1, zeros, (int)act, slope,
                       a, s, out};
    const int64_t nv = Cp / 8, RB = row_block(nv);
    for (int64_t t = 0, R; t < T; t += R) {
        R = T - t >= RB ? RB : 1;
        BY_GROUPS(forward_pre, &f, t, R, nv)
        BY_GROUPS(forward_out, &f, t, R, nv)
    }
}

typedef struct {
    int64_t Cp;
    const float *gs, *gh, *a, *w1t;
    int act;
    float slope;
    float *gpre, *gb;
} PreGrad;

/* Rows t .. t + R, vectors v0 .. v0 + nb: gpre = (gs + gh @ W1^T) act'(a); their sum into gb */
INLINE void backward_pre(const PreGrad *g, int64_t t, int64_t v0, const int R, const int nb)
{
    const int64_t Cp = g->Cp;
    v8 acc[ROWS][GROUP];
    const float *x[ROWS];
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < nb; v++)
            acc[r][v] = LD(g->gs + (t + r) * Cp + 8 * (v0 + v));
        x[r] = g->gh + (t + r) * Cp;
    }
    rows_times(acc, R, nb, x, Cp, g->w1t + 8 * v0, Cp);
    for (int v = 0; v < nb; v++) {
        v8 sum = splat(0.0f);
        for (int r = 0; r < R; r++) {
            int64_t at = (t + r) * Cp + 8 * (v0 + v);
            v8 gp = acc[r][v] * derivative(LD(g->a + at), g->act, g->slope);
            ST(g->gpre + at, gp);
            sum += gp;
        }
        ST(g->gb + 8 * (v0 + v), LD(g->gb + 8 * (v0 + v)) + sum);
    }
}

void wd_effect_layer_backward_pre(int64_t T, int64_t Cp, const float *gs, const float *gh,
                                  const float *a, const float *w1t, int64_t act, float slope,
                                  float *gpre, float *gb, float *gb1)
{
    const PreGrad g = {Cp, gs, gh, a, w1t, (int)act, slope, gpre, gb};
    const int64_t nv = Cp / 8, RB = row_block(nv);
    for (int64_t t = 0, R; t < T; t += R) {
        R = T - t >= RB ? RB : 1;
        for (int64_t r = 0; r < R; r++)
            for (int64_t v = 0; v < nv; v++)
                ST(gb1 + 8 * v, LD(gb1 + 8 * v) + LD(gh + (t + r) * Cp + 8 * v));
        BY_GROUPS(backward_pre, &g, t, R, nv)
    }
}

typedef struct {
    int64_t T, Cp, K, d;
    const float *tapst, *gpre, *zeros;
    float *gh;
} InputGrad;

/* Rows t .. t + R, vectors v0 .. v0 + nb: gh += sum_k gpre[t + lag_k] @ W_k^T */
INLINE void backward_input(const InputGrad *g, int64_t t, int64_t v0, const int R, const int nb)
{
    const int64_t Cp = g->Cp;
    v8 acc[ROWS][GROUP];
    const float *x[ROWS];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < nb; v++)
            acc[r][v] = LD(g->gh + (t + r) * Cp + 8 * (v0 + v));
    for (int64_t k = 0; k < g->K; k++) {
        int64_t lag = (g->K - 1 - k) * g->d;
        for (int r = 0; r < R; r++)
            x[r] = t + r + lag < g->T ? g->gpre + (t + r + lag) * Cp : g->zeros;
        rows_times(acc, R, nb, x, Cp, g->tapst + k * Cp * Cp + 8 * v0, Cp);
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < nb; v++)
            ST(g->gh + (t + r) * Cp + 8 * (v0 + v), acc[r][v]);
}

/* G[i, 8 (v0 + v) ...] += sum_r x[r][i] y[r][v], i < n, v < nb, r < R in order: the outer
 * products of R rows (x[r], n long; y[r] the vectors v0 .. v0 + nb of a gradient row) */
INLINE void add_outer(float *restrict G, int64_t ldg, const float *const *x, int64_t n,
                      v8 y[ROWS][GROUP], int64_t v0, const int R, const int nb)
{
    for (int64_t i = 0; i < n; i++)
        for (int v = 0; v < nb; v++) {
            float *row = G + i * ldg + 8 * (v0 + v);
            v8 acc = LD(row);
            for (int r = 0; r < R; r++)
                acc += splat(x[r][i]) * y[r][v];
            ST(row, acc);
        }
}

typedef struct {
    int64_t Cp, P1, K, d, ldc;
    const float *h, *c, *a, *gh, *gpre, *zeros;
    float *gtaps, *gwm, *gw1;
} Weights;

/* Rows t .. t + R, columns of vectors v0 .. v0 + nb of every weight gradient */
INLINE void backward_weights(const Weights *g, int64_t t, int64_t v0, const int R, const int nb)
{
    const int64_t Cp = g->Cp;
    v8 y[ROWS][GROUP];
    const float *x[ROWS];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < nb; v++)
            y[r][v] = LD(g->gpre + (t + r) * Cp + 8 * (v0 + v));
    for (int64_t k = 0; k < g->K; k++) {
        int64_t lag = (g->K - 1 - k) * g->d;
        for (int r = 0; r < R; r++)
            x[r] = t + r >= lag ? g->h + (t + r - lag) * Cp : g->zeros;
        add_outer(g->gtaps + k * Cp * Cp, Cp, x, Cp, y, v0, R, nb);
    }
    for (int r = 0; r < R; r++)
        x[r] = g->c + (t + r) * g->ldc;
    add_outer(g->gwm, Cp, x, g->P1, y, v0, R, nb);
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < nb; v++)
            y[r][v] = LD(g->gh + (t + r) * Cp + 8 * (v0 + v));
        x[r] = g->a + (t + r) * Cp;
    }
    add_outer(g->gw1, Cp, x, Cp, y, v0, R, nb);
}

void wd_effect_layer_backward_weights(int64_t T, int64_t Cp, int64_t P1, int64_t K, int64_t d,
                                      const float *h, const float *c, int64_t ldc,
                                      const float *a, const float *gh, const float *gpre,
                                      float *gtaps, float *gwm, float *gw1)
{
    float zeros[Cp];
    for (int64_t i = 0; i < Cp; i++)
        zeros[i] = 0.0f;
    const Weights g = {Cp, P1, K, d, ldc, h, c, a, gh, gpre, zeros, gtaps, gwm, gw1};
    const int64_t nv = Cp / 8, RB = row_block(nv);
    for (int64_t t = 0, R; t < T; t += R) {
        R = T - t >= RB ? RB : 1;
        BY_GROUPS(backward_weights, &g, t, R, nv)
    }
}

void wd_effect_layer_backward_input(int64_t T, int64_t Cp, int64_t K, int64_t d,
                                    const float *gpre, const float *tapst, float *gh)
{
    float zeros[Cp];
    for (int64_t i = 0; i < Cp; i++)
        zeros[i] = 0.0f;
    const InputGrad g = {T, Cp, K, d, tapst, gpre, zeros, gh};
    const int64_t nv = Cp / 8, RB = row_block(nv);
    for (int64_t t = 0, R; t < T; t += R) {
        R = T - t >= RB ? RB : 1;
        BY_GROUPS(backward_input, &g, t, R, nv)
    }
}
