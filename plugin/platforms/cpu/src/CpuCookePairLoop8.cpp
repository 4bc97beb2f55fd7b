// The pair loop and the neighbour-list scan eight neighbours a step (fvec8). This file alone is compiled with AVX2, FMA and AVX-512VL
// (CMakeLists.txt, which then defines SNAREFUSE_PAIR_LOOP8), and the kernel calls it only where the CPU has them
// (CpuCookePairKernel.cpp), as OpenMM's own CPU platform builds its AVX kernels. AVX-512VL gives the 256-bit code
// 32 vector registers: with plain AVX's 16 the loop spilled its constants and ran ~25 % slower than four neighbours
// a step in SSE; with AVX-512VL and FMA it runs ~15 % faster (30k-bead bilayer, one thread, BENCHMARKS.md).
// Everything here has internal linkage except cookePairBlock8 and cookeListScan8, so no inline function compiled with these
// instructions can stand in for the SSE build's copy.
#include "CpuCookePairLoop.h"
#include <stdexcept>

#if defined(SNAREFUSE_PAIR_LOOP8)
#include "openmm/internal/vectorizeAvx.h"
#include <immintrin.h>

namespace {
struct Lanes8 {
    static constexpr int WIDTH = 8;
    static fvec8 index() {
        return fvec8(0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f);
    }
    /** The 4-float records of particles idx[0..7] as four vectors (x, y, z, w). */
    static void load(const float* base, const int* idx, fvec8& x, fvec8& y, fvec8& z, fvec8& w) {
        fvec4 rec[8];
        for (int l = 0; l < 8; l++)
            rec[l] = fvec4(base + 4 * idx[l]);
        transpose(rec, x, y, z, w);
    }
    /** Bit l set where lane l of a comparison result is true. */
    static int bits(fvec8 mask) {
        return _mm256_movemask_ps(mask);
    }
    /**
     * Writes q + l for every bit l set in ``bits`` (AVX-512VL's compress: no branch per hit, whose mispredictions
     * cost the list build more than its distance tests) and returns their number; writes eight entries.
     */
    static int storeHits(int* hits, int q, int bits) {
        const __m256i places = _mm256_add_epi32(_mm256_set1_epi32(q), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_storeu_si256((__m256i*) hits, _mm256_maskz_compress_epi32((__mmask8) bits, places));
        return __builtin_popcount(bits);
    }
    /** Subtract (fx, fy, fz) lane by lane from the first ``valid`` particles' records. */
    static void subtract(float* force, const int* idx, int valid, fvec8 fx, fvec8 fy, fvec8 fz) {
        fvec4 out[8];
        transpose(fx, fy, fz, fvec8(0.0f), out);
        for (int l = 0; l < valid; l++)
            (fvec4(force + 4 * idx[l]) - out[l]).store(force + 4 * idx[l]);
    }
};
}

double Snarefuse::cookePairBlock8(const CookePairBlock& block, bool periodic, bool energy) {
    if (periodic)
        return energy ? cookePairLoop<fvec8, Lanes8, true, true>(block) : cookePairLoop<fvec8, Lanes8, true, false>(block);
    return energy ? cookePairLoop<fvec8, Lanes8, false, true>(block) : cookePairLoop<fvec8, Lanes8, false, false>(block);
}

int Snarefuse::cookeListScan8(const CookeListScan& scan, int qi, const int* ranges, int numRanges, int* hits) {
    return cookeListScan<fvec8, Lanes8>(scan, qi, ranges, numRanges, hits);
}

#else  // not x86: the kernel never calls these (cookePairLoop8Available() is false)

double Snarefuse::cookePairBlock8(const CookePairBlock&, bool, bool) {
    throw std::logic_error("CookePairForce: the eight-wide pair loop is not compiled in on this architecture");
}

int Snarefuse::cookeListScan8(const CookeListScan&, int, const int*, int, int*) {
    throw std::logic_error("CookePairForce: the eight-wide list scan is not compiled in on this architecture");
}

#endif
