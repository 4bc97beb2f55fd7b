#include "CpuCookePairKernel.h"
#include "CpuCallerWorks.h"
#include "CookePairGeometry.h"
#include "CpuCookePairLoop.h"
#include "CpuPlatform.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/ThreadPool.h"
#include "openmm/internal/vectorize.h"
#include "openmm/reference/ReferencePlatform.h"
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>

using namespace OpenMM;
using namespace Snarefuse;

namespace {
/** Whether the eight-wide pair loop was compiled in and this CPU has the instructions it was compiled with. */
bool cookePairLoop8Available() {
#if defined(SNAREFUSE_PAIR_LOOP8) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

/** Bit l set where lane l of a comparison result is true. */
inline int laneBits(fvec4 mask) {
#if defined(__SSE__)
    return _mm_movemask_ps(mask);
#else
    float v[4];
    mask.store(v);
    int bits = 0;
    for (int l = 0; l < 4; l++)
        bits |= std::signbit(v[l]) ? 1 << l : 0;
    return bits;
#endif
}

/** Four neighbours a step in OpenMM's fvec4 (SSE4.1, or NEON/portable elsewhere). */
struct Lanes4 {
    static constexpr int WIDTH = 4;
    static fvec4 index() {
        return fvec4(0.0f, 1.0f, 2.0f, 3.0f);
    }
    /** The 4-float records of particles idx[0..3] as four vectors (x, y, z, w). */
    static void load(const float* base, const int* idx, fvec4& x, fvec4& y, fvec4& z, fvec4& w) {
        x = fvec4(base + 4 * idx[0]);
        y = fvec4(base + 4 * idx[1]);
        z = fvec4(base + 4 * idx[2]);
        w = fvec4(base + 4 * idx[3]);
        transpose(x, y, z, w);
    }
    /** Bit l set where lane l of a comparison result is true. */
    static int bits(fvec4 mask) {
        return laneBits(mask);
    }
    static int storeHits(int* hits, int q, int bits) {
        return storeHitBits(hits, q, bits);
    }
    /** Subtract (fx, fy, fz) lane by lane from the first ``valid`` particles' records. */
    static void subtract(float* force, const int* idx, int valid, fvec4 fx, fvec4 fy, fvec4 fz) {
        fvec4 out[4];
        transpose(fx, fy, fz, fvec4(0.0f), out);
        for (int l = 0; l < valid; l++)
            (fvec4(force + 4 * idx[l]) - out[l]).store(force + 4 * idx[l]);
    }
};

}

void CpuCalcCookePairForceKernel::initialize(const System& system, const CookePairForce& force) {
    numParticles = force.getNumParticles();
    nearExcluded.assign(numParticles, 0);
    farExcluded.assign(numParticles, std::vector<int>());
    for (int k = 0; k < force.getNumExclusions(); k++) {
        int i, j;
        force.getExclusionParticles(k, i, j);
        const int lo = std::min(i, j), hi = std::max(i, j);
        if (hi == lo)
            continue;
        if (hi - lo < NEAR_EXCLUSION_RANGE)
            nearExcluded[lo] |= uint64_t(1) << (hi - lo - 1);
        else {
            farExcluded[lo].push_back(hi);
            nearExcluded[lo] |= HAS_FAR_EXCLUSIONS;
        }
    }
    for (auto& e : farExcluded)
        std::sort(e.begin(), e.end());
    periodic = force.getNonbondedMethod() == CookePairForce::CutoffPeriodic;
    vectorWidth = cookePairLoop8Available() ? 8 : 4;
    if (const char* width = std::getenv(VECTOR_WIDTH_ENV)) {
        if (std::string(width) == "4")
            vectorWidth = 4;
        else if (std::string(width) != "8")
            throw OpenMMException(std::string(VECTOR_WIDTH_ENV) + " must be 4 or 8, not '" + width + "'");
        else if (!cookePairLoop8Available())
            throw OpenMMException(std::string(VECTOR_WIDTH_ENV) + "=8 needs a CPU with AVX-512VL and FMA");
    }
    callerWorks = callerWorksFromEnvironment();
    leaveCallerCpu = leaveCallerCpuFromEnvironment();
    setParameters(force);
}

void CpuCalcCookePairForceKernel::copyParametersToContext(ContextImpl&, const CookePairForce& force) {
    if (force.getNumParticles() != numParticles)
        throw OpenMMException("CookePairForce.updateParametersInContext: the number of particles has changed");
    setParameters(force);
}

void CpuCalcCookePairForceKernel::setParameters(const CookePairForce& force) {
    b.resize(numParticles);
    sa.resize(numParticles);
    params.assign(4 * numParticles, 0.0f);
    for (int i = 0; i < numParticles; i++) {
        double bi, ai;
        force.getParticleParameters(i, bi, ai);
        b[i] = bi;
        sa[i] = std::sqrt(ai);
        params[4 * i] = (float) b[i];
        params[4 * i + 1] = (float) sa[i];
    }
    built = false;  // the pair ranges depend on b and a
}

bool CpuCalcCookePairForceKernel::needsRebuild(const std::vector<Vec3>& pos, const Vec3* box, const CookeGlobals& g) const {
    if (!built || g.sigma != buildSigma || g.wc != buildWc)
        return true;
    if (periodic && (box[0][0] != buildBox[0] || box[1][1] != buildBox[1] || box[2][2] != buildBox[2]))
        return true;
    // The Context's positions are not wrapped into the box, so a plain difference is the displacement (a
    // position set wrapped by the caller only costs one extra build). This runs on the calling thread every step
    // while the pool waits: in chunks without an exit inside, which the compiler vectorises.
    const double limit2 = 0.25 * skin * skin;
    constexpr int CHUNK = 2048;
    for (int start = 0; start < numParticles; start += CHUNK) {
        const int stop = std::min(numParticles, start + CHUNK);
        int moved = 0;
        for (int i = start; i < stop; i++) {
            const double dx = pos[i][0] - buildPos[i][0], dy = pos[i][1] - buildPos[i][1];
            const double dz = pos[i][2] - buildPos[i][2];
            moved += dx * dx + dy * dy + dz * dz > limit2;
        }
        if (moved > 0)
            return true;
    }
    return false;
}

void CpuCalcCookePairForceKernel::build(ThreadPool& threads, const std::vector<Vec3>& pos, const Vec3* box,
                                        const CookeGlobals& g) {
    skin = SKIN_SIGMA * g.sigma;
    double bmax = 0, samax = 0;
    for (int i = 0; i < numParticles; i++) {
        bmax = std::max(bmax, b[i]);
        samax = std::max(samax, sa[i]);
    }
    double maxCut = g.pairCutoff(g.sigma * bmax, samax * samax);
    double listCut = maxCut + skin;
    // The box must hold the interaction range (maxCut), not the list range: the list is built and evaluated with
    // minimum-image displacements, and a pair within maxCut now was within maxCut + skin at the build in its
    // minimum image then, so it is listed even where the list range exceeds half the box (the grid then has fewer
    // than five cells along that axis and each cell is visited once). Checking listCut refused boxes between
    // 2 maxCut and 2 (maxCut + skin) that the expression runs (a 64-lipid bilayer, 5.45 nm against 2.84 nm).
    if (periodic)
        checkBox(box, maxCut);

    // Cells at least half the list range wide: every neighbour of a particle lies within two cells of its own.
    Vec3 lo, extent;
    if (periodic) {
        lo = Vec3();
        extent = Vec3(box[0][0], box[1][1], box[2][2]);
    }
    else {
        lo = pos[0];
        Vec3 hi = pos[0];
        for (const Vec3& p : pos)
            for (int k = 0; k < 3; k++) {
                lo[k] = std::min(lo[k], p[k]);
                hi[k] = std::max(hi[k], p[k]);
            }
        extent = hi - lo;
    }
    int nc[3];
    for (int k = 0; k < 3; k++)
        nc[k] = std::max(1, std::min(1000, (int) std::floor(extent[k] / (0.5 * listCut))));
    // Cell offsets to visit per dimension: -2..2, or every cell once where the grid is narrower than five cells
    // (a periodic grid would otherwise reach one cell twice).
    std::vector<int> offsetsOf[3];
    for (int k = 0; k < 3; k++) {
        if (nc[k] >= 5 || !periodic)
            offsetsOf[k] = {-2, -1, 0, 1, 2};
        else
            for (int d = 0; d < nc[k]; d++)
                offsetsOf[k].push_back(d);
    }
    int numCells = nc[0] * nc[1] * nc[2];
    const int numThreads = threads.getNumThreads();
    // Each particle's cell and wrapped position, and after the counting sort by cell (integers only, on this thread)
    // the sorted float arrays: for particles [first, last), resp. sorted places [first, last).
    std::vector<int> cellOf(numParticles), cellStart(numCells + 1, 0);
    std::vector<int> cellCoords(3 * numParticles);
    std::vector<float> wrapped(3 * numParticles);
    auto locate = [&](int first, int last) {
        for (int i = first; i < last; i++) {
            int cc[3];
            for (int k = 0; k < 3; k++) {
                double f = extent[k] > 0 ? (pos[i][k] - lo[k]) / extent[k] : 0.0;
                double x = pos[i][k];
                if (periodic) {
                    f -= std::floor(f);
                    x -= std::floor(x / extent[k]) * extent[k];
                }
                cc[k] = std::min(std::max((int) (f * nc[k]), 0), nc[k] - 1);
                cellCoords[3 * i + k] = cc[k];
                wrapped[3 * i + k] = (float) x;
            }
            cellOf[i] = cc[0] + nc[0] * (cc[1] + nc[1] * cc[2]);
        }
    };
    auto gather = [&](int first, int last) {
        for (int q = first; q < last; q++) {
            const int i = sortedIndex[q];
            sortedX[q] = wrapped[3 * i];
            sortedY[q] = wrapped[3 * i + 1];
            sortedZ[q] = wrapped[3 * i + 2];
            sortedB[q] = (float) b[i];
            sortedSa[q] = (float) sa[i];
        }
    };
    // On the pool in contiguous ranges where that saves more than the two dispatches cost, else on this thread.
    auto run = [&](const std::function<void(int, int)>& part) {
        if (numParticles < MIN_PARTICLES_PARALLEL_SORT || numThreads == 1) {
            part(0, numParticles);
            return;
        }
        threads.execute([&](ThreadPool&, int t) {
            part((int) ((long long) numParticles * t / numThreads), (int) ((long long) numParticles * (t + 1) / numThreads));
        });
        threads.waitForThreads();
    };
    run(locate);
    for (int i = 0; i < numParticles; i++)
        cellStart[cellOf[i] + 1]++;
    for (int c = 0; c < numCells; c++)
        cellStart[c + 1] += cellStart[c];
    // Particles sorted by cell, as float arrays (positions wrapped into the box), padded for 8-wide loads.
    sortedX.assign(numParticles + LIST_PADDING, 0.0f);
    sortedY.assign(numParticles + LIST_PADDING, 0.0f);
    sortedZ.assign(numParticles + LIST_PADDING, 0.0f);
    sortedB.assign(numParticles + LIST_PADDING, 1.0f);
    sortedSa.assign(numParticles + LIST_PADDING, 0.0f);
    sortedIndex.assign(numParticles + LIST_PADDING, 0);
    rank.resize(numParticles);
    {
        std::vector<int> fill(cellStart.begin(), cellStart.end() - 1);
        for (int i = 0; i < numParticles; i++) {
            int q = fill[cellOf[i]]++;
            sortedIndex[q] = i;
            rank[i] = q;
        }
    }
    run(gather);

    blockSize = (numParticles + BLOCKS_PER_THREAD * numThreads - 1) / (BLOCKS_PER_THREAD * numThreads);
    blockSize = std::min(MAX_BLOCK_SIZE, std::max(MIN_BLOCK_SIZE, blockSize));
    int numBlocks = (numParticles + blockSize - 1) / blockSize;
    blocks.resize(numBlocks);
    nextBlock = 0;
    CookeListScan scanIn;
    scanIn.x = sortedX.data();
    scanIn.y = sortedY.data();
    scanIn.z = sortedZ.data();
    scanIn.b = sortedB.data();
    scanIn.sa = sortedSa.data();
    for (int k = 0; k < 3; k++)
        scanIn.boxSize[k] = (float) extent[k];
    scanIn.periodic = periodic;
    scanIn.wcaScale = (float) (TWO_SIXTH * g.sigma);
    scanIn.skin = (float) skin;
    const float attCut = (float) (g.rc() + g.wc + skin);
    scanIn.attCut2 = attCut * attCut;
    // Along x, the cells x-2..x+2 of one (y, z) row are consecutive in the sorted order: one range of particles,
    // or two where the row wraps around the periodic box, or the whole row where it is narrower than five cells.
    const bool wholeRow = periodic && nc[0] < 5;
    // The particle ranges the particles of the cell at coordinates cc scan, the same for every particle of that cell
    // (the particles of a block are mostly of a few consecutive cells).
    auto rangesOfCell = [&](const int* cc, std::vector<int>& out) {
        out.clear();
        auto add = [&](int first, int last) {
            if (first < last) {
                out.push_back(first);
                out.push_back(last);
            }
        };
        for (int oz : offsetsOf[2])
            for (int oy : offsetsOf[1]) {
                int y = cc[1] + oy, z = cc[2] + oz;
                if (periodic) {  // |offset| < nc, so one wrap suffices (no division in this loop)
                    y += y < 0 ? nc[1] : y >= nc[1] ? -nc[1] : 0;
                    z += z < 0 ? nc[2] : z >= nc[2] ? -nc[2] : 0;
                }
                else if (y < 0 || z < 0 || y >= nc[1] || z >= nc[2])
                    continue;
                const int row = nc[0] * (y + nc[1] * z);
                if (wholeRow) {
                    add(cellStart[row], cellStart[row + nc[0]]);
                    continue;
                }
                int x0 = cc[0] - 2, x1 = cc[0] + 2;
                if (!periodic) {
                    x0 = std::max(x0, 0);
                    x1 = std::min(x1, nc[0] - 1);
                }
                else if (x0 < 0) {
                    add(cellStart[row + x0 + nc[0]], cellStart[row + nc[0]]);
                    x0 = 0;
                }
                else if (x1 >= nc[0]) {
                    add(cellStart[row], cellStart[row + x1 - nc[0] + 1]);
                    x1 = nc[0] - 1;
                }
                add(cellStart[row + x0], cellStart[row + x1 + 1]);
            }
    };
    runWithCaller(threads, nextSlot, callerWorks, leaveCallerCpu, [&](int) {
        std::vector<int> hits(numParticles + 8);  // the places one scan finds in range (+8: whole-vector stores)
        std::vector<int> ranges;  // the sorted places [first, last) that the particles of rangesCell scan, as pairs
        int rangesCell = -1;
        for (int blk = nextBlock++; blk < numBlocks; blk = nextBlock++) {
            std::vector<int>& off = blocks[blk].offsets;
            std::vector<int>& nbr = blocks[blk].neighbours;
            off.clear();
            nbr.clear();
            off.push_back(0);
            int stop = std::min(numParticles, (blk + 1) * blockSize);
            for (int qi = blk * blockSize; qi < stop; qi++) {
                const int i = sortedIndex[qi];
                if (cellOf[i] != rangesCell) {
                    rangesCell = cellOf[i];
                    rangesOfCell(&cellCoords[3 * i], ranges);
                }
                const int numRanges = (int) ranges.size() / 2;
                const int n = vectorWidth == 8
                                  ? cookeListScan8(scanIn, qi, ranges.data(), numRanges, hits.data())
                                  : cookeListScan<fvec4, Lanes4>(scanIn, qi, ranges.data(), numRanges, hits.data());
                // kept in place: the original indices of the hits that are not excluded pairs
                int kept = 0;
                for (int h = 0; h < n; h++) {
                    const int j = sortedIndex[hits[h]];
                    hits[kept] = j;
                    kept += !isExcluded(i, j);
                }
                nbr.insert(nbr.end(), hits.begin(), hits.begin() + kept);
                off.push_back((int) nbr.size());
            }
        }
    });
    blockOrder.resize(numBlocks);
    for (int blk = 0; blk < numBlocks; blk++)
        blockOrder[blk] = blk;
    std::stable_sort(blockOrder.begin(), blockOrder.end(), [this](int x, int y) {
        return blocks[x].neighbours.size() > blocks[y].neighbours.size();
    });
    buildPos = pos;
    buildBox = periodic ? Vec3(box[0][0], box[1][1], box[2][2]) : Vec3();
    buildSigma = g.sigma;
    buildWc = g.wc;
    built = true;
}

double CpuCalcCookePairForceKernel::computeBlock(int block, const float* posq, float* force, const CookeGlobals& g,
                                                 const float* boxSize, bool energy) const {
    const Block& blk = blocks[block];
    CookePairBlock in;
    in.posq = posq;
    in.params = params.data();
    in.force = force;
    in.sortedIndex = sortedIndex.data();
    in.offsets = blk.offsets.data();
    in.neighbours = blk.neighbours.data();
    in.start = block * blockSize;
    in.stop = std::min(numParticles, in.start + blockSize);
    in.eps = (float) g.eps;
    in.sigma = (float) g.sigma;
    in.rc = (float) g.rc();
    in.invWc = (float) (1 / g.wc);
    in.rc2 = in.rc * in.rc;
    in.rmax2 = (float) ((g.rc() + g.wc) * (g.rc() + g.wc));
    in.tailForce = (float) (-0.5 * g.eps / g.wc);
    for (int k = 0; k < 3; k++)
        in.boxSize[k] = boxSize[k];
    if (vectorWidth == 8)
        return cookePairBlock8(in, periodic, energy);
    if (periodic)
        return energy ? cookePairLoop<fvec4, Lanes4, true, true>(in) : cookePairLoop<fvec4, Lanes4, true, false>(in);
    return energy ? cookePairLoop<fvec4, Lanes4, false, true>(in) : cookePairLoop<fvec4, Lanes4, false, false>(in);
}

double CpuCalcCookePairForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    auto* ref = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    CpuPlatform::PlatformData& data = CpuPlatform::getPlatformData(context);
    ThreadPool& threads = data.threads;
    const std::vector<Vec3>& pos = *ref->positions;
    const Vec3* box = ref->periodicBoxVectors;
    if (periodic && (box[1][0] != 0 || box[2][0] != 0 || box[2][1] != 0))
        throw OpenMMException("CookePairForce: the CPU kernel needs a rectangular periodic box");
    CookeGlobals g{context.getParameter(CookePairForce::EpsilonName()), context.getParameter(CookePairForce::SigmaName()),
                   context.getParameter(CookePairForce::WcName())};
    if (needsRebuild(pos, box, g))
        build(threads, pos, box, g);

    // The platform has converted the positions to float (wrapped into the box when periodic) and clears its
    // per-thread float force buffers before the forces are computed; it sums them into the Context's forces after.
    const float* posq = &data.posq[0];
    const float boxSize[3] = {(float) box[0][0], (float) box[1][1], (float) box[2][2]};
    int numBlocks = (int) blocks.size();
    threadEnergy.assign(threads.getNumThreads(), 0.0);
    nextBlock = 0;
    // Each slot adds into its own of the platform's per-thread force buffers (the platform sums them all).
    runWithCaller(threads, nextSlot, callerWorks, leaveCallerCpu, [&](int slot) {
        float* force = &data.threadForce[slot][0];
        double energy = 0;
        for (int k = nextBlock++; k < numBlocks; k = nextBlock++)
            energy += computeBlock(blockOrder[k], posq, force, g, boxSize, includeEnergy);
        threadEnergy[slot] = energy;
    });
    double energy = 0;
    for (double e : threadEnergy)
        energy += e;
    return includeEnergy ? energy : 0.0;
}
