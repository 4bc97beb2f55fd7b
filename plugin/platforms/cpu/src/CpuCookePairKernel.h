#ifndef SNAREFUSE_CPUCOOKEPAIRKERNEL_H_
#define SNAREFUSE_CPUCOOKEPAIRKERNEL_H_

#include "CookePairKernels.h"
#include "CookePairPotential.h"
#include "openmm/Vec3.h"
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

namespace OpenMM { class ThreadPool; }

namespace Snarefuse {

/**
 * CPU kernel, single precision like OpenMM's own CPU platform (it reads the platform's float positions and adds
 * into its per-thread float force buffers, which the platform sums).
 *
 * Neighbour list: half list in which every pair has its own range (r_c + w_c if it attracts, the WCA range
 * 2^(1/6) b_ij otherwise: a head-head pair never enters at the attraction range) plus a Verlet skin; rebuilt only
 * when a particle has moved more than half the skin since the last build, or the box, the globals or the
 * parameters changed. Built on a grid of cells half the list range wide, the particles sorted by cell into float
 * arrays (each bead scans 25 rows of five consecutive cells as contiguous ranges, found once per cell, in one call
 * that takes as many candidates per SIMD step as the pair loop takes neighbours: cookeListScan in
 * CpuCookePairLoop.h; the exclusions looked up in a bit mask per particle),
 * in blocks of the sorted order that the threads of OpenMM's pool take in turn (dynamic balance); the forces are
 * evaluated over the same blocks.
 *
 * Pair loop (CpuCookePairLoop.h): eight neighbours at a time in OpenMM's fvec8 where the CPU has AVX-512VL and FMA
 * (a separate translation unit built with them, chosen at run time), else four in fvec4; branch-free; the cos^2
 * tail as the odd polynomial of CookePairPotential.h (error below float round-off), so no trig call per pair.
 * SNAREFUSE_CPU_VECTOR_WIDTH=4 in the environment, when a Context is created, keeps it at four.
 */
class CpuCalcCookePairForceKernel : public CalcCookePairForceKernel {
public:
    CpuCalcCookePairForceKernel(std::string name, const OpenMM::Platform& platform)
        : CalcCookePairForceKernel(name, platform) {}
    void initialize(const OpenMM::System& system, const CookePairForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const CookePairForce& force);
    /**
     * Verlet skin in units of sigma. At kT = 1.1 eps and dt = 0.01 tau the fastest of 3e4 beads moves half of a
     * 0.3 sigma skin in ~3.5 steps, so the list was rebuilt every 3-4 steps; 0.5 sigma was the fastest of 0.3, 0.4,
     * 0.5 and 0.6 at 30k beads (CPU time per step, interleaved, BENCHMARKS.md): ~35% more pairs, ~40% fewer builds.
     */
    static constexpr double SKIN_SIGMA = 0.5;
    /**
     * Blocks of the neighbour list (the unit of work a thread takes): at most MAX_BLOCK_SIZE consecutive particles
     * of the sorted order, and at least BLOCKS_PER_THREAD blocks per thread down to MIN_BLOCK_SIZE particles. The
     * threads take blocks dynamically, so they finish within about one block of each other: at 3,000 beads on two
     * threads, 24 blocks of 128 left ~1/24 of the pair work on one thread at the end of every step.
     */
    /** The environment variable that, set to 4, keeps the pair loop at four neighbours a step where eight run. */
    static constexpr const char* VECTOR_WIDTH_ENV = "SNAREFUSE_CPU_VECTOR_WIDTH";
    static constexpr int MAX_BLOCK_SIZE = 128;
    /**
     * From this many particles on, the list build finds the cells and fills the sorted arrays on the pool (two
     * more dispatches, ~25 us each on an idle 2-vCPU VM, against ~10 ns a particle of serial work).
     */
    static constexpr int MIN_PARTICLES_PARALLEL_SORT = 16384;
    static constexpr int MIN_BLOCK_SIZE = 16;
    static constexpr int BLOCKS_PER_THREAD = 32;

private:
    void setParameters(const CookePairForce& force);
    bool needsRebuild(const std::vector<OpenMM::Vec3>& pos, const OpenMM::Vec3* box, const CookeGlobals& g) const;
    void build(OpenMM::ThreadPool& threads, const std::vector<OpenMM::Vec3>& pos, const OpenMM::Vec3* box,
               const CookeGlobals& g);
    double computeBlock(int block, const float* posq, float* force, const CookeGlobals& g, const float* boxSize,
                        bool energy) const;

    int numParticles = 0;
    bool periodic = false;
    int vectorWidth = 4;                        // pairs per SIMD step of the list scan and pair loop: 8 or 4
    std::vector<double> b, sa;                  // size factor, sqrt(attraction)
    std::vector<float> params;                  // per particle: b, sqrt(a), 0, 0 (for 4-wide loads)
    /**
     * Exclusions by their lower index i: bit d-1 of nearExcluded[i] set where (i, i + d) is excluded, for
     * d < NEAR_EXCLUSION_RANGE (a lipid's or a protein chain's bonded neighbours: one word per particle, read in the
     * list build without a second memory access); the others in farExcluded[i] (sorted), flagged by the top bit.
     */
    static constexpr int NEAR_EXCLUSION_RANGE = 64;
    static constexpr uint64_t HAS_FAR_EXCLUSIONS = uint64_t(1) << 63;
    std::vector<uint64_t> nearExcluded;
    std::vector<std::vector<int> > farExcluded;
    /** Whether the pair (i, j), i != j, is excluded; without a branch on d, which would follow no pattern. */
    bool isExcluded(int i, int j) const {
        const int lo = std::min(i, j), d = std::max(i, j) - lo;
        const uint64_t bits = nearExcluded[lo];
        const bool near = d < NEAR_EXCLUSION_RANGE;
        const bool nearExclusion = near & (bool) ((bits >> ((d - 1) & 63)) & 1);
        return nearExclusion || (!near && (bits & HAS_FAR_EXCLUSIONS) &&
                                 std::binary_search(farExcluded[lo].begin(), farExcluded[lo].end(), lo + d));
    }
    // at the last build: particles sorted by cell (float, wrapped into the box), and each particle's place there
    std::vector<float> sortedX, sortedY, sortedZ, sortedB, sortedSa;
    std::vector<int> sortedIndex, rank;
    // neighbour list: one CSR block per blockSize particles, evaluated in blockOrder (most pairs first, so that
    // the blocks left for the end of a step are the smallest)
    struct Block { std::vector<int> offsets, neighbours; };
    std::vector<Block> blocks;
    std::vector<int> blockOrder;
    int blockSize = MAX_BLOCK_SIZE;
    std::atomic<int> nextBlock{0};
    std::atomic<int> nextSlot{0};               // the next free force-buffer slot of a dispatch (runWithCaller)
    bool callerWorks = true;
    bool leaveCallerCpu = true;                  // SNAREFUSE_CPU_LEAVE_CALLER_CPU (runWithCaller)
    std::vector<double> threadEnergy;
    // state at the last build
    bool built = false;
    std::vector<OpenMM::Vec3> buildPos;
    OpenMM::Vec3 buildBox;
    double buildSigma = 0, buildWc = 0, skin = 0;

};

} // namespace Snarefuse

#endif
