#include "CpuCookePairKernel.h"
#include "CookePairGeometry.h"
#include "CpuPlatform.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/ThreadPool.h"
#include "openmm/internal/vectorize.h"
#include "openmm/reference/ReferencePlatform.h"
#include <algorithm>
#include <array>
#include <cmath>

using namespace OpenMM;
using namespace Snarefuse;

namespace {
/** 2^(1/3): the squared WCA range in units of b_ij^2. */
constexpr float TWO_THIRD = 1.2599210498948732f;
/** Squared distance given to the unused lanes of the last group of neighbours: beyond every range. */
constexpr float FAR2 = 1e30f;

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
}

void CpuCalcCookePairForceKernel::initialize(const System& system, const CookePairForce& force) {
    numParticles = force.getNumParticles();
    excluded.assign(numParticles, std::vector<int>());
    for (int k = 0; k < force.getNumExclusions(); k++) {
        int i, j;
        force.getExclusionParticles(k, i, j);
        excluded[std::min(i, j)].push_back(std::max(i, j));
    }
    for (auto& e : excluded)
        std::sort(e.begin(), e.end());
    periodic = force.getNonbondedMethod() == CookePairForce::CutoffPeriodic;
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
    // position set wrapped by the caller only costs one extra build).
    double limit2 = 0.25 * skin * skin;
    for (int i = 0; i < numParticles; i++) {
        Vec3 d = pos[i] - buildPos[i];
        if (d.dot(d) > limit2)
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
    std::vector<int> cellOf(numParticles), cellStart(numCells + 1, 0);
    std::vector<int> cellCoords(3 * numParticles);
    for (int i = 0; i < numParticles; i++) {
        int cc[3];
        for (int k = 0; k < 3; k++) {
            double f = extent[k] > 0 ? (pos[i][k] - lo[k]) / extent[k] : 0.0;
            if (periodic)
                f -= std::floor(f);
            cc[k] = std::min(std::max((int) (f * nc[k]), 0), nc[k] - 1);
            cellCoords[3 * i + k] = cc[k];
        }
        cellOf[i] = cc[0] + nc[0] * (cc[1] + nc[1] * cc[2]);
        cellStart[cellOf[i] + 1]++;
    }
    for (int c = 0; c < numCells; c++)
        cellStart[c + 1] += cellStart[c];
    // Particles sorted by cell, as float arrays (positions wrapped into the box), padded by 3 for 4-wide loads.
    sortedX.assign(numParticles + 3, 0.0f);
    sortedY.assign(numParticles + 3, 0.0f);
    sortedZ.assign(numParticles + 3, 0.0f);
    sortedB.assign(numParticles + 3, 1.0f);
    sortedSa.assign(numParticles + 3, 0.0f);
    sortedIndex.assign(numParticles + 3, 0);
    rank.resize(numParticles);
    {
        std::vector<int> fill(cellStart.begin(), cellStart.end() - 1);
        for (int i = 0; i < numParticles; i++) {
            int q = fill[cellOf[i]]++;
            Vec3 p = pos[i];
            if (periodic)
                for (int k = 0; k < 3; k++)
                    p[k] -= std::floor(p[k] / extent[k]) * extent[k];
            sortedX[q] = (float) p[0];
            sortedY[q] = (float) p[1];
            sortedZ[q] = (float) p[2];
            sortedB[q] = (float) b[i];
            sortedSa[q] = (float) sa[i];
            sortedIndex[q] = i;
            rank[i] = q;
        }
    }

    const int numThreads = threads.getNumThreads();
    blockSize = (numParticles + BLOCKS_PER_THREAD * numThreads - 1) / (BLOCKS_PER_THREAD * numThreads);
    blockSize = std::min(MAX_BLOCK_SIZE, std::max(MIN_BLOCK_SIZE, blockSize));
    int numBlocks = (numParticles + blockSize - 1) / blockSize;
    blocks.resize(numBlocks);
    nextBlock = 0;
    const float fskin = (float) skin, wcaScale = (float) (TWO_SIXTH * g.sigma);
    const float attCut = (float) (g.rc() + g.wc + skin);
    const fvec4 attCut2(attCut * attCut);
    const fvec4 L[3] = {fvec4((float) extent[0]), fvec4((float) extent[1]), fvec4((float) extent[2])};
    const fvec4 invL[3] = {fvec4((float) (1 / extent[0])), fvec4((float) (1 / extent[1])), fvec4((float) (1 / extent[2]))};
    const fvec4 lane(0.0f, 1.0f, 2.0f, 3.0f);
    // Along x, the cells x-2..x+2 of one (y, z) row are consecutive in the sorted order: one range of particles,
    // or two where the row wraps around the periodic box, or the whole row where it is narrower than five cells.
    const bool wholeRow = periodic && nc[0] < 5;
    threads.execute([&](ThreadPool& pool, int t) {
        for (int blk = nextBlock++; blk < numBlocks; blk = nextBlock++) {
            std::vector<int>& off = blocks[blk].offsets;
            std::vector<int>& nbr = blocks[blk].neighbours;
            off.clear();
            nbr.clear();
            off.push_back(0);
            int stop = std::min(numParticles, (blk + 1) * blockSize);
            for (int qi = blk * blockSize; qi < stop; qi++) {
                const int i = sortedIndex[qi];
                const int* cc = &cellCoords[3 * i];
                const fvec4 xi(sortedX[qi]), yi(sortedY[qi]), zi(sortedZ[qi]), bi(sortedB[qi]);
                const fvec4 sai(sortedSa[qi]);
                auto scan = [&](int first, int last) {
                    first = std::max(first, qi + 1);  // half list: pairs with a later particle in the sorted order
                    for (int q = first; q < last; q += 4) {
                        fvec4 dx = xi - fvec4(&sortedX[q]), dy = yi - fvec4(&sortedY[q]), dz = zi - fvec4(&sortedZ[q]);
                        if (periodic) {
                            dx -= L[0] * round(dx * invL[0]);
                            dy -= L[1] * round(dy * invL[1]);
                            dz -= L[2] * round(dz * invL[2]);
                        }
                        const fvec4 r2 = dx * dx + dy * dy + dz * dz;
                        const fvec4 wcaCut = wcaScale * min(bi, fvec4(&sortedB[q])) + fskin;
                        const fvec4 wcaCut2 = wcaCut * wcaCut;
                        const fvec4 attracts = (sai * fvec4(&sortedSa[q])) > fvec4(0.0f);
                        const fvec4 cut2 = blend(wcaCut2, max(wcaCut2, attCut2), attracts);
                        int bits = laneBits((r2 < cut2) & (lane < fvec4((float) (last - q))));
                        while (bits) {
                            int l = __builtin_ctz(bits);
                            bits &= bits - 1;
                            int j = sortedIndex[q + l];
                            const std::vector<int>& e = excluded[std::min(i, j)];
                            if (!e.empty() && std::binary_search(e.begin(), e.end(), std::max(i, j)))
                                continue;
                            nbr.push_back(j);
                        }
                    }
                };
                for (int oz : offsetsOf[2])
                    for (int oy : offsetsOf[1]) {
                        int y = cc[1] + oy, z = cc[2] + oz;
                        if (periodic) {
                            y = (y + 2 * nc[1]) % nc[1];
                            z = (z + 2 * nc[2]) % nc[2];
                        }
                        else if (y < 0 || z < 0 || y >= nc[1] || z >= nc[2])
                            continue;
                        const int row = nc[0] * (y + nc[1] * z);
                        if (cellStart[row + nc[0]] <= qi + 1)
                            continue;  // the whole row precedes i
                        if (wholeRow) {
                            scan(cellStart[row], cellStart[row + nc[0]]);
                            continue;
                        }
                        int x0 = cc[0] - 2, x1 = cc[0] + 2;
                        if (!periodic) {
                            x0 = std::max(x0, 0);
                            x1 = std::min(x1, nc[0] - 1);
                        }
                        else if (x0 < 0) {
                            scan(cellStart[row + x0 + nc[0]], cellStart[row + nc[0]]);
                            x0 = 0;
                        }
                        else if (x1 >= nc[0]) {
                            scan(cellStart[row], cellStart[row + x1 - nc[0] + 1]);
                            x1 = nc[0] - 1;
                        }
                        scan(cellStart[row + x0], cellStart[row + x1 + 1]);
                    }
                off.push_back((int) nbr.size());
            }
        }
    });
    threads.waitForThreads();
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

template <bool PERIODIC, bool ENERGY>
double CpuCalcCookePairForceKernel::computeBlock(int block, const float* posq, float* force, const CookeGlobals& g,
                                                 const float* boxSize) const {
    const Block& blk = blocks[block];
    const float eps = (float) g.eps, sigma = (float) g.sigma, rc = (float) g.rc(), invWc = (float) (1 / g.wc);
    const float rc2 = rc * rc, rmax2 = (float) ((g.rc() + g.wc) * (g.rc() + g.wc));
    const float tailForce = (float) (-0.5 * g.eps / g.wc);
    const fvec4 L[3] = {fvec4(boxSize[0]), fvec4(boxSize[1]), fvec4(boxSize[2])};
    const fvec4 invL[3] = {fvec4(1 / boxSize[0]), fvec4(1 / boxSize[1]), fvec4(1 / boxSize[2])};
    float c[6], d[6];
    for (int k = 0; k < 6; k++) {
        c[k] = (float) SIN_PI_COEFFICIENTS[k];
        d[k] = (float) ((2 * k + 1) * SIN_PI_COEFFICIENTS[k]);
    }
    const fvec4 lane(0.0f, 1.0f, 2.0f, 3.0f);
    double energy = 0;
    int start = block * blockSize;
    int stop = std::min(numParticles, start + blockSize);
    for (int qi = start; qi < stop; qi++) {
        const int i = sortedIndex[qi];
        const int* nb = blk.neighbours.data() + blk.offsets[qi - start];
        const int count = blk.offsets[qi - start + 1] - blk.offsets[qi - start];
        if (count == 0)
            continue;
        const fvec4 xi(posq[4 * i]), yi(posq[4 * i + 1]), zi(posq[4 * i + 2]);
        const fvec4 bi(params[4 * i]), sai(params[4 * i + 1]);
        fvec4 fxi(0.0f), fyi(0.0f), fzi(0.0f), ei(0.0f);
        for (int k = 0; k < count; k += 4) {
            const int valid = std::min(4, count - k);
            int idx[4];
            for (int l = 0; l < 4; l++)
                idx[l] = l < valid ? nb[k + l] : i;
            fvec4 px(posq + 4 * idx[0]), py(posq + 4 * idx[1]), pz(posq + 4 * idx[2]), pw(posq + 4 * idx[3]);
            transpose(px, py, pz, pw);
            fvec4 bj(params.data() + 4 * idx[0]), saj(params.data() + 4 * idx[1]);
            fvec4 q2(params.data() + 4 * idx[2]), q3(params.data() + 4 * idx[3]);
            transpose(bj, saj, q2, q3);
            fvec4 dx = xi - px, dy = yi - py, dz = zi - pz;
            if (PERIODIC) {
                dx -= L[0] * round(dx * invL[0]);
                dy -= L[1] * round(dy * invL[1]);
                dz -= L[2] * round(dz * invL[2]);
            }
            fvec4 r2 = dx * dx + dy * dy + dz * dz;
            if (valid < 4)
                r2 = blend(fvec4(FAR2), r2, lane < fvec4((float) valid));
            // WCA with b_ij = sigma min(b_i, b_j), inside 2^(1/6) b_ij
            const fvec4 bij = sigma * min(bi, bj);
            const fvec4 b2 = bij * bij;
            const fvec4 r = sqrt(r2);
            const fvec4 invR = 1.0f / r;
            const fvec4 invR2 = invR * invR;
            const fvec4 wca = r2 < TWO_THIRD * b2;
            const fvec4 s2 = b2 * invR2;
            const fvec4 x6 = s2 * s2 * s2;
            fvec4 fOverR = blendZero((24.0f * eps) * x6 * (2.0f * x6 - 1.0f) * invR2, wca);
            // attraction a_ij = sqrt(a_i) sqrt(a_j): plateau below r_c, cos^2 tail to r_c + w_c
            const fvec4 aij = sai * saj;
            const fvec4 u = min(max((r - rc) * invWc, fvec4(0.0f)), fvec4(1.0f));
            const fvec4 t = u - 0.5f;
            const fvec4 s = t * t;
            const fvec4 dS = d[0] + s * (d[1] + s * (d[2] + s * (d[3] + s * (d[4] + s * d[5]))));
            const fvec4 inRange = r2 < rmax2;
            fOverR += blendZero(tailForce * aij * dS * invR, (r2 > rc2) & inRange);
            if (ENERGY) {
                const fvec4 S = t * (c[0] + s * (c[1] + s * (c[2] + s * (c[3] + s * (c[4] + s * c[5])))));
                ei += blendZero((4.0f * eps) * (x6 * (x6 - 1.0f) + 0.25f), wca);
                ei -= blendZero(eps * aij * (0.5f - 0.5f * S), inRange);
            }
            const fvec4 fx = dx * fOverR, fy = dy * fOverR, fz = dz * fOverR;
            fxi += fx;
            fyi += fy;
            fzi += fz;
            fvec4 out[4];
            transpose(fx, fy, fz, fvec4(0.0f), out);
            for (int l = 0; l < valid; l++)
                (fvec4(force + 4 * idx[l]) - out[l]).store(force + 4 * idx[l]);
        }
        force[4 * i] += reduceAdd(fxi);
        force[4 * i + 1] += reduceAdd(fyi);
        force[4 * i + 2] += reduceAdd(fzi);
        if (ENERGY)
            energy += reduceAdd(ei);
    }
    return energy;
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
    threads.execute([&](ThreadPool& pool, int t) {
        float* force = &data.threadForce[t][0];
        double energy = 0;
        for (int k = nextBlock++; k < numBlocks; k = nextBlock++) {
            const int blk = blockOrder[k];
            if (periodic)
                energy += includeEnergy ? computeBlock<true, true>(blk, posq, force, g, boxSize)
                                        : computeBlock<true, false>(blk, posq, force, g, boxSize);
            else
                energy += includeEnergy ? computeBlock<false, true>(blk, posq, force, g, boxSize)
                                        : computeBlock<false, false>(blk, posq, force, g, boxSize);
        }
        threadEnergy[t] = energy;
    });
    threads.waitForThreads();
    double energy = 0;
    for (double e : threadEnergy)
        energy += e;
    return includeEnergy ? energy : 0.0;
}
