/* The hand-written C ceiling for classic HH populations (issue 4).
 *
 * N uncoupled textbook HH cells (gNa 120, gK 36, gL 0.3 mS/cm2, 6.3 degC so q10 = 1), the same
 * numerics as hhc: gates by exact exponential Euler at V_n, then V by exponential Euler with the
 * new conductances. Structure of arrays, exp terms shared where the slopes allow it
 * (exp(-(v+65)/20) = exp(-(v+65)/80)^4), compiled with gcc -O3 -march=native -ffast-math so the
 * loop vectorises with libmvec's exp.
 *
 * Usage: ceiling N STEPS [I_uA_per_cm2]    prints spikes and compartment-steps/s
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static inline double vtrap(double x, double y) {
    return fabs(x / y) < 1e-6 ? y * (1 - x / y / 2) : x / (exp(x / y) - 1);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    long steps = argc > 2 ? atol(argv[2]) : 10000;
    double stim = argc > 3 ? atof(argv[3]) : 10.0;
    const double dt = 0.01, gna = 120, gk = 36, gl = 0.3, ena = 50, ek = -77, el = -54.387, vth = 20;
    double *v = aligned_alloc(64, n * sizeof(double)), *m = aligned_alloc(64, n * sizeof(double));
    double *h = aligned_alloc(64, n * sizeof(double)), *nn = aligned_alloc(64, n * sizeof(double));
    int *spikes = calloc(n, sizeof(int));
    for (long i = 0; i < n; i++) {
        double v0 = -65, am = 0.1 * vtrap(-(v0 + 40), 10), bm = 4 * exp(-(v0 + 65) / 18);
        double ah = 0.07 * exp(-(v0 + 65) / 20), bh = 1 / (exp(-(v0 + 35) / 10) + 1);
        double an = 0.01 * vtrap(-(v0 + 55), 10), bn = 0.125 * exp(-(v0 + 65) / 80);
        v[i] = v0; m[i] = am / (am + bm); h[i] = ah / (ah + bh); nn[i] = an / (an + bn);
    }
    double t0 = now();
    for (long s = 0; s < steps; s++) {
#pragma GCC ivdep
        for (long i = 0; i < n; i++) {
            double vi = v[i];
            double e80 = exp(-(vi + 65) / 80), e20 = (e80 * e80) * (e80 * e80);
            double xm = -(vi + 40) / 10, xn = -(vi + 55) / 10;
            double am = 0.1 * 10 * xm / expm1(xm), bm = 4 * exp(-(vi + 65) / 18);
            double ah = 0.07 * e20, bh = 1 / (exp(-(vi + 35) / 10) + 1);
            double an = 0.01 * 10 * xn / expm1(xn), bn = 0.125 * e80;
            double sm = am + bm, sh = ah + bh, sn = an + bn;
            double mi = am / sm + (m[i] - am / sm) * exp(-sm * dt);
            double hi = ah / sh + (h[i] - ah / sh) * exp(-sh * dt);
            double ni = an / sn + (nn[i] - an / sn) * exp(-sn * dt);
            double n2 = ni * ni;
            double gNa = gna * mi * mi * mi * hi, gK = gk * n2 * n2;
            double g = gNa + gK + gl;
            double I = gNa * (vi - ena) + gK * (vi - ek) + gl * (vi - el);
            double z = -g * dt;
            double vn = vi + (stim - I) * dt * (expm1(z) / z);
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
