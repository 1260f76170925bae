/* The stronger hand-written C ceiling for classic HH populations (issue 22).
 *
 * The model and numerics of bench/ceiling.c (N uncoupled textbook HH cells at 6.3 degC, gates by
 * exact exponential Euler at V_n, then V by exponential Euler with the new conductances), written
 * as a performance engineer would write it:
 *  - an inlined, branch-free exp: Cody-Waite reduction x = n ln2 + r (ln2 in two parts), a
 *    degree-12 Taylor polynomial of exp(r) for |r| <= ln2/2 (under 1 ulp there), and 2^n put
 *    into the exponent bits; no call, no table, so gcc vectorises the whole step;
 *  - seven exponentials per cell and step, shared wherever the slopes allow: exp(-(v+40)/10)
 *    gives the m and n alpha rates and beta_h (their exponents differ by constants),
 *    exp(-(v+65)/80) gives beta_n and alpha_h (its fourth power), exp(-(v+65)/18) beta_m, then
 *    one per gate and one for V;
 *  - the removable singularities of alpha_m and alpha_n (v = -40, -55 mV) by a select, not a
 *    branch;
 *  - three divisions per cell and step instead of seven: the rates' three denominators share
 *    one reciprocal (1/a = bc/(abc)), so do the gates' three steady states;
 *  - structure of arrays, 64-byte aligned; compiled with gcc -O3 -march=native -ffast-math
 *    -mprefer-vector-width=512 (AVX-512 here), or -mavx2 -mfma -mno-avx512f for the AVX2 path.
 *
 * Usage: ceiling_strong N STEPS [I_uA_per_cm2]    prints spikes and compartment-steps/s
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* exp(x) for x in [-708, 709] (clamped outside), within about 1 ulp. */
static inline double fast_exp(double x) {
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    const double log2e = 1.4426950408889634, ln2_hi = 0.6931471803691238,
                 ln2_lo = 1.9082149292705877e-10;
    double n = __builtin_round(x * log2e);
    double r = (x - n * ln2_hi) - n * ln2_lo;
    /* Taylor to r^12/12!, by Horner. */
    double p = 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^n: n + 1.5*2^52 holds n in its low mantissa bits (exact for integer |n| < 2^51), so
     * adding the bias and shifting by 52 leaves n + 1023 in the exponent field. Integer add
     * and shift only, which AVX2 has (it has no double-to-int64 conversion). */
    double shifted = n + 6755399441055744.0;
    int64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* (e^z - 1)/z for the V update, from e^z; 1 at z = 0 (a select). */
static inline double phi(double z) {
    double e = fast_exp(z);
    double small = fabs(z) < 1e-5;
    double series = 1.0 + z * (0.5 + z / 6.0);
    double quotient = (e - 1.0) / (small ? 1.0 : z);
    return small ? series : quotient;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    long steps = argc > 2 ? atol(argv[2]) : 10000;
    double stim = argc > 3 ? atof(argv[3]) : 10.0;
    const double dt = 0.01, gna = 120, gk = 36, gl = 0.3, ena = 50, ek = -77, el = -54.387, vth = 20;
    /* exp(-(v+35)/10) = e40 * exp(0.5), exp(-(v+55)/10) = e40 * exp(-1.5). */
    const double e_half = 1.6487212707001282, e_m1p5 = 0.22313016014842982;
    double *v = aligned_alloc(64, n * sizeof(double)), *m = aligned_alloc(64, n * sizeof(double));
    double *h = aligned_alloc(64, n * sizeof(double)), *nn = aligned_alloc(64, n * sizeof(double));
    int *spikes = aligned_alloc(64, ((n * sizeof(int) + 63) / 64) * 64);
    for (long i = 0; i < n; i++) {
        double v0 = -65, x = v0 + 40, y = v0 + 55;
        double am = 0.1 * x / (1 - exp(-x / 10)), bm = 4 * exp(-(v0 + 65) / 18);
        double ah = 0.07 * exp(-(v0 + 65) / 20), bh = 1 / (exp(-(v0 + 35) / 10) + 1);
        double an = 0.01 * y / (1 - exp(-y / 10)), bn = 0.125 * exp(-(v0 + 65) / 80);
        v[i] = v0; m[i] = am / (am + bm); h[i] = ah / (ah + bh); nn[i] = an / (an + bn);
        spikes[i] = 0;
    }
    double t0 = now();
    for (long s = 0; s < steps; s++) {
#pragma GCC ivdep
        for (long i = 0; i < n; i++) {
            double vi = v[i];
            double x = vi + 40, y = vi + 55;
            double e40 = fast_exp(-x * 0.1);
            double e80 = fast_exp(-(vi + 65) * 0.0125);
            double e18 = fast_exp(-(vi + 65) * (1.0 / 18));
            double e20 = (e80 * e80) * (e80 * e80);
            double e35 = e40 * e_half, e55 = e40 * e_m1p5;
            /* Three quotients from one division: 1/a = (b c)/(a b c). */
            double d1 = 1 - e40, d2 = 1 - e55, d3 = e35 + 1;
            double r123 = 1 / (d1 * d2 * d3);
            /* alpha_m = 0.1 x / (1 - e^(-x/10)) -> 1 at x = 0; alpha_n likewise -> 0.1. */
            double am = fabs(x) < 1e-6 ? 1.0 - x * 0.05 : 0.1 * x * (r123 * d2 * d3);
            double an = fabs(y) < 1e-6 ? 0.1 - y * 0.005 : 0.01 * y * (r123 * d1 * d3);
            double bh = r123 * d1 * d2;
            double bm = 4 * e18, ah = 0.07 * e20, bn = 0.125 * e80;
            double sm = am + bm, sh = ah + bh, sn = an + bn;
            double rs = 1 / (sm * sh * sn);
            double minf = am * (rs * sh * sn), hinf = ah * (rs * sm * sn), ninf = an * (rs * sm * sh);
            double mi = minf + (m[i] - minf) * fast_exp(-sm * dt);
            double hi = hinf + (h[i] - hinf) * fast_exp(-sh * dt);
            double ni = ninf + (nn[i] - ninf) * fast_exp(-sn * dt);
            double n2 = ni * ni;
            double gNa = gna * mi * mi * mi * hi, gK = gk * n2 * n2;
            double g = gNa + gK + gl;
            double I = gNa * (vi - ena) + gK * (vi - ek) + gl * (vi - el);
            double vn = vi + (stim - I) * dt * phi(-g * dt);
            spikes[i] += (vi < vth) & (vn >= vth);
            v[i] = vn; m[i] = mi; h[i] = hi; nn[i] = ni;
        }
    }
    double elapsed = now() - t0;
    long total = 0;
    for (long i = 0; i < n; i++) total += spikes[i];
    printf("spikes: %ld\nrun: %.3f s, %.3e compartment-steps/s\n", total, elapsed, (double)n * steps / elapsed);
    return 0;
}
