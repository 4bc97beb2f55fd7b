#ifndef SNAREFUSE_COOKEPAIRPOTENTIAL_H_
#define SNAREFUSE_COOKEPAIRPOTENTIAL_H_

#include <cmath>

namespace Snarefuse {

/** 2^(1/6): the WCA cutoff in units of the size, and r_c in units of sigma. */
constexpr double TWO_SIXTH = 1.122462048309373;
constexpr double PI = 3.141592653589793;

/**
 * c_k of t^(2k+1), k = 0..5: an odd polynomial ~ sin(pi t) on [-1/2, 1/2] (max. error 1.3e-11 in value, 4.5e-9
 * in slope), the same as snarefuse.formulations.SIN_PI_COEFFICIENTS. The CPU kernel writes the cos^2 tail as
 * (1 + cos(pi u))/2 = 1/2 - sin(pi (u - 1/2))/2 with it, so that no pair needs a trig call.
 */
constexpr double SIN_PI_COEFFICIENTS[6] = {3.141592653242811, -5.16771274114509, 2.5501627929836825,
                                           -0.599247388799448, 0.08203116484506252, -0.007000404110874433};

/**
 * Global parameters of one evaluation, and what follows from them.
 */
struct CookeGlobals {
    double eps, sigma, wc;
    double rc() const { return TWO_SIXTH * sigma; }
    /** Range of a pair: r_c + w_c when it attracts, else the WCA range 2^(1/6) b_ij. */
    double pairCutoff(double bij, double aij) const {
        double wca = TWO_SIXTH * bij;
        double att = aij > 0 ? rc() + wc : 0.0;
        return wca > att ? wca : att;
    }
};

/**
 * One pair at squared distance r2 (b_ij in nm, a_ij dimensionless). Adds the pair energy to energy
 * and returns -dE/dr / r, so that the force on particle i is (r_i - r_j) times the return value.
 */
template <class Real>
inline Real cookePair(Real r2, Real bij, Real aij, Real eps, Real rc, Real wc, Real& energy) {
    Real fOverR = 0;
    Real rw = (Real) TWO_SIXTH * bij;
    if (r2 < rw * rw) {
        Real s2 = bij * bij / r2;
        Real x6 = s2 * s2 * s2;
        energy += 4 * eps * (x6 * (x6 - 1) + (Real) 0.25);
        fOverR += 24 * eps * x6 * (2 * x6 - 1) / r2;
    }
    if (aij > 0) {
        if (r2 < rc * rc)
            energy -= eps * aij;
        else {
            Real rmax = rc + wc;
            if (r2 < rmax * rmax) {
                Real r = std::sqrt(r2);
                Real x = (Real) PI * (r - rc) / wc;
                Real c = std::cos(x);
                // -eps a cos^2(x/2) = -eps a (1 + cos x)/2
                energy -= eps * aij * (1 + c) / 2;
                // -dE/dr = -eps a sin(x) pi / (2 w_c)
                fOverR -= eps * aij * std::sin(x) * (Real) PI / (2 * wc) / r;
            }
        }
    }
    return fOverR;
}

} // namespace Snarefuse

#endif
