#ifndef SNAREFUSE_CPUCOOKEPAIRLOOP_H_
#define SNAREFUSE_CPUCOOKEPAIRLOOP_H_

#include "CookePairPotential.h"
#include <algorithm>

namespace Snarefuse {

/** What the pair loop of one block of the neighbour list reads and writes (CpuCookePairKernel.h). */
struct CookePairBlock {
    const float* posq;        // the CPU platform's float positions, 4 per particle
    const float* params;      // per particle: b, sqrt(a), 0, 0
    float* force;             // this thread's force buffer, 4 per particle
    const int* sortedIndex;   // particle at each place of the sorted order
    const int* offsets;       // CSR offsets of the block's particles (stop - start + 1 entries)
    const int* neighbours;    // their neighbours (particle indices)
    int start, stop;          // the block's places in the sorted order
    float eps, sigma, rc, invWc, rc2, rmax2, tailForce;
    float boxSize[3];
};

/** 2^(1/3): the squared WCA range in units of b_ij^2. */
constexpr float COOKE_TWO_THIRD = 1.2599210498948732f;
/** Squared distance given to the unused lanes of the last group of neighbours: beyond every range. */
constexpr float COOKE_FAR2 = 1e30f;

/**
 * The pair loop over one block, W = Lanes::WIDTH neighbours at a time in the vector type V, branch-free: WCA with
 * b_ij = sigma min(b_i, b_j) inside 2^(1/6) b_ij, attraction sqrt(a_i) sqrt(a_j) with its plateau below r_c and the
 * cos^2 tail to r_c + w_c as the odd polynomial of CookePairPotential.h. Lanes<V> loads W particles' 4-float records
 * as four vectors (x, y, z, w) and subtracts a force from W particles' records. Returns the block's energy (0
 * unless ENERGY).
 */
template <class V, class Lanes, bool PERIODIC, bool ENERGY>
double cookePairLoop(const CookePairBlock& in) {
    constexpr int W = Lanes::WIDTH;
    float c[6], d[6];  // SIN_PI_COEFFICIENTS in float, and those of its derivative
    for (int k = 0; k < 6; k++) {
        c[k] = (float) SIN_PI_COEFFICIENTS[k];
        d[k] = (float) ((2 * k + 1) * SIN_PI_COEFFICIENTS[k]);
    }
    const float eps = in.eps, sigma = in.sigma, rc = in.rc, invWc = in.invWc, rc2 = in.rc2, rmax2 = in.rmax2;
    const float tailForce = in.tailForce;
    const V L[3] = {V(in.boxSize[0]), V(in.boxSize[1]), V(in.boxSize[2])};
    const V invL[3] = {V(1 / in.boxSize[0]), V(1 / in.boxSize[1]), V(1 / in.boxSize[2])};
    const V lane = Lanes::index();
    double energy = 0;
    for (int qi = in.start; qi < in.stop; qi++) {
        const int i = in.sortedIndex[qi];
        const int* nb = in.neighbours + in.offsets[qi - in.start];
        const int count = in.offsets[qi - in.start + 1] - in.offsets[qi - in.start];
        if (count == 0)
            continue;
        const V xi(in.posq[4 * i]), yi(in.posq[4 * i + 1]), zi(in.posq[4 * i + 2]);
        const V bi(in.params[4 * i]), sai(in.params[4 * i + 1]);
        V fxi(0.0f), fyi(0.0f), fzi(0.0f), ei(0.0f);
        for (int k = 0; k < count; k += W) {
            const int valid = std::min(W, count - k);
            int idx[W];
            for (int l = 0; l < W; l++)
                idx[l] = l < valid ? nb[k + l] : i;
            V px, py, pz, pw, bj, saj, q2, q3;
            Lanes::load(in.posq, idx, px, py, pz, pw);
            Lanes::load(in.params, idx, bj, saj, q2, q3);
            V dx = xi - px, dy = yi - py, dz = zi - pz;
            if (PERIODIC) {
                dx -= L[0] * round(dx * invL[0]);
                dy -= L[1] * round(dy * invL[1]);
                dz -= L[2] * round(dz * invL[2]);
            }
            V r2 = dx * dx + dy * dy + dz * dz;
            if (valid < W)
                r2 = blend(V(COOKE_FAR2), r2, lane < V((float) valid));
            const V bij = sigma * min(bi, bj);
            const V b2 = bij * bij;
            const V r = sqrt(r2);
            const V invR = 1.0f / r;
            const V invR2 = invR * invR;
            const V wca = r2 < COOKE_TWO_THIRD * b2;
            const V s2 = b2 * invR2;
            const V x6 = s2 * s2 * s2;
            V fOverR = blendZero((24.0f * eps) * x6 * (2.0f * x6 - 1.0f) * invR2, wca);
            const V aij = sai * saj;
            const V u = min(max((r - rc) * invWc, V(0.0f)), V(1.0f));
            const V t = u - 0.5f;
            const V s = t * t;
            const V dS = d[0] + s * (d[1] + s * (d[2] + s * (d[3] + s * (d[4] + s * d[5]))));
            const V inRange = r2 < rmax2;
            fOverR += blendZero(tailForce * aij * dS * invR, (r2 > rc2) & inRange);
            if (ENERGY) {
                const V S = t * (c[0] + s * (c[1] + s * (c[2] + s * (c[3] + s * (c[4] + s * c[5])))));
                ei += blendZero((4.0f * eps) * (x6 * (x6 - 1.0f) + 0.25f), wca);
                ei -= blendZero(eps * aij * (0.5f - 0.5f * S), inRange);
            }
            const V fx = dx * fOverR, fy = dy * fOverR, fz = dz * fOverR;
            fxi += fx;
            fyi += fy;
            fzi += fz;
            Lanes::subtract(in.force, idx, valid, fx, fy, fz);
        }
        in.force[4 * i] += reduceAdd(fxi);
        in.force[4 * i + 1] += reduceAdd(fyi);
        in.force[4 * i + 2] += reduceAdd(fzi);
        if (ENERGY)
            energy += reduceAdd(ei);
    }
    return energy;
}

/** The particles sorted by cell and the list ranges that a neighbour-list scan reads (CpuCookePairKernel.cpp). */
struct CookeListScan {
    const float *x, *y, *z, *b, *sa;  // sorted by cell, padded by LIST_PADDING beyond the last particle
    float boxSize[3];                 // the periodic box (unused without periodicity)
    bool periodic;
    float wcaScale;                   // 2^(1/6) sigma: the WCA range is wcaScale min(b_i, b_j)
    float skin;                       // the Verlet skin added to every range
    float attCut2;                    // (r_c + w_c + skin)^2, the range of an attracting pair
};

/** Entries after the last sorted particle that a scan may read (a group of eight starting at the last one). */
constexpr int LIST_PADDING = 7;

/**
 * The places q of the sorted order, in the ranges [ranges[2r], ranges[2r + 1]) for r < numRanges and after qi (a
 * half list), whose particle lies within the list range of the particle at place qi (that pair's own range:
 * r_c + w_c for an attracting pair, the WCA range otherwise, plus the skin), W = Lanes::WIDTH candidates a step;
 * written to ``hits`` range by range, in increasing order within each, their number returned. ``hits`` must have
 * room for W entries beyond the last hit (Lanes::storeHits may write a whole vector).
 */
template <class V, class Lanes>
int cookeListScan(const CookeListScan& s, int qi, const int* ranges, int numRanges, int* hits) {
    constexpr int W = Lanes::WIDTH;
    const V xi(s.x[qi]), yi(s.y[qi]), zi(s.z[qi]), bi(s.b[qi]), sai(s.sa[qi]);
    const V L[3] = {V(s.boxSize[0]), V(s.boxSize[1]), V(s.boxSize[2])};
    const V invL[3] = {V(1 / s.boxSize[0]), V(1 / s.boxSize[1]), V(1 / s.boxSize[2])};
    const V attCut2(s.attCut2), lane = Lanes::index();
    int n = 0;
    for (int r = 0; r < numRanges; r++) {
        const int last = ranges[2 * r + 1];
        for (int q = std::max(ranges[2 * r], qi + 1); q < last; q += W) {
            V dx = xi - V(s.x + q), dy = yi - V(s.y + q), dz = zi - V(s.z + q);
            if (s.periodic) {
                dx -= L[0] * round(dx * invL[0]);
                dy -= L[1] * round(dy * invL[1]);
                dz -= L[2] * round(dz * invL[2]);
            }
            const V r2 = dx * dx + dy * dy + dz * dz;
            const V wcaCut = s.wcaScale * min(bi, V(s.b + q)) + s.skin;
            const V wcaCut2 = wcaCut * wcaCut;
            const V attracts = (sai * V(s.sa + q)) > V(0.0f);
            const V cut2 = blend(wcaCut2, max(wcaCut2, attCut2), attracts);
            n += Lanes::storeHits(hits + n, q, Lanes::bits((r2 < cut2) & (lane < V((float) (last - q)))));
        }
    }
    return n;
}

/** Writes q + l for every bit l set in ``bits``, in increasing order, and returns their number (portable). */
inline int storeHitBits(int* hits, int q, int bits) {
    int n = 0;
    while (bits) {
        hits[n++] = q + __builtin_ctz(bits);
        bits &= bits - 1;
    }
    return n;
}

/** cookeListScan eight candidates a step (CpuCookePairLoop8.cpp); only where cookePairLoop8Available(). */
int cookeListScan8(const CookeListScan& scan, int qi, const int* ranges, int numRanges, int* hits);

/**
 * The loop over one block eight neighbours a step (fvec8 in AVX2/FMA/AVX-512VL code; CpuCookePairLoop8.cpp).
 * Call it only where cookePairLoop8Available() (CpuCookePairKernel.cpp) is true.
 */
double cookePairBlock8(const CookePairBlock& block, bool periodic, bool energy);

} // namespace Snarefuse

#endif
