#include "CpuCookePairKernel.h"
#include "CookePairGeometry.h"
#include "CpuPlatform.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/ThreadPool.h"
#include "openmm/reference/ReferencePlatform.h"
#include <algorithm>
#include <array>
#include <cmath>

using namespace OpenMM;
using namespace Snarefuse;

void CpuCalcCookePairForceKernel::initialize(const System& system, const CookePairForce& force) {
    numParticles = force.getNumParticles();
    b.resize(numParticles);
    sa.resize(numParticles);
    for (int i = 0; i < numParticles; i++) {
        double bi, ai;
        force.getParticleParameters(i, bi, ai);
        b[i] = bi;
        sa[i] = std::sqrt(ai);
    }
    excluded.assign(numParticles, std::vector<int>());
    for (int k = 0; k < force.getNumExclusions(); k++) {
        int i, j;
        force.getExclusionParticles(k, i, j);
        excluded[std::min(i, j)].push_back(std::max(i, j));
    }
    for (auto& e : excluded)
        std::sort(e.begin(), e.end());
    periodic = force.getNonbondedMethod() == CookePairForce::CutoffPeriodic;
    built = false;
}

void CpuCalcCookePairForceKernel::copyParametersToContext(ContextImpl& context, const CookePairForce& force) {
    if (force.getNumParticles() != numParticles)
        throw OpenMMException("CookePairForce.updateParametersInContext: the number of particles has changed");
    for (int i = 0; i < numParticles; i++) {
        double bi, ai;
        force.getParticleParameters(i, bi, ai);
        b[i] = bi;
        sa[i] = std::sqrt(ai);
    }
    built = false;  // the pair ranges depend on b and a
}

bool CpuCalcCookePairForceKernel::needsRebuild(const std::vector<Vec3>& pos, const Vec3* box, const CookeGlobals& g) const {
    if (!built || g.sigma != buildSigma || g.wc != buildWc)
        return true;
    if (periodic && (box[0][0] != buildBox[0] || box[1][1] != buildBox[1] || box[2][2] != buildBox[2]))
        return true;
    double limit2 = 0.25 * skin * skin;
    for (int i = 0; i < numParticles; i++) {
        Vec3 d = pos[i] - buildPos[i];
        if (periodic)
            d = minimumImage(d, box);
        if (d.dot(d) > limit2)
            return true;
    }
    return false;
}

void CpuCalcCookePairForceKernel::build(ThreadPool& threads, const std::vector<Vec3>& pos, const Vec3* box,
                                        const CookeGlobals& g) {
    int numThreads = threads.getNumThreads();
    skin = SKIN_SIGMA * g.sigma;
    double bmax = 0, samax = 0;
    for (int i = 0; i < numParticles; i++) {
        bmax = std::max(bmax, b[i]);
        samax = std::max(samax, sa[i]);
    }
    double maxCut = g.pairCutoff(g.sigma * bmax, samax * samax);
    double listCut = maxCut + skin;
    if (periodic)
        checkBox(box, listCut);

    // cell grid of width >= listCut: every neighbour of a particle is in its own or an adjacent cell
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
        nc[k] = std::max(1, std::min(1000, (int) std::floor(extent[k] / listCut)));
    int numCells = nc[0] * nc[1] * nc[2];
    std::vector<int> cellOf(numParticles), cellStart(numCells + 1, 0), cellAtoms(numParticles);
    auto cellCoord = [&](double x, int k) {
        double f = (x - lo[k]) / extent[k];
        if (periodic)
            f -= std::floor(f);
        int c = (int) (f * nc[k]);
        return std::min(std::max(c, 0), nc[k] - 1);
    };
    for (int i = 0; i < numParticles; i++) {
        int c = cellCoord(pos[i][0], 0) + nc[0] * (cellCoord(pos[i][1], 1) + nc[1] * cellCoord(pos[i][2], 2));
        cellOf[i] = c;
        cellStart[c + 1]++;
    }
    for (int c = 0; c < numCells; c++)
        cellStart[c + 1] += cellStart[c];
    {
        std::vector<int> fill(cellStart.begin(), cellStart.end() - 1);
        for (int i = 0; i < numParticles; i++)
            cellAtoms[fill[cellOf[i]]++] = i;
    }

    first.assign(numThreads + 1, 0);
    for (int t = 0; t <= numThreads; t++)
        first[t] = (int) ((long long) numParticles * t / numThreads);
    offsets.assign(numThreads, std::vector<int>());
    neighbours.resize(numThreads);
    double sigma = g.sigma;
    threads.execute([&](ThreadPool& pool, int t) {
        std::vector<int>& off = offsets[t];
        std::vector<int>& nbr = neighbours[t];
        nbr.clear();
        off.reserve(first[t + 1] - first[t] + 1);
        off.push_back(0);
        std::array<int, 27> cells;
        for (int i = first[t]; i < first[t + 1]; i++) {
            int c = cellOf[i];
            int cx = c % nc[0], cy = (c / nc[0]) % nc[1], cz = c / (nc[0] * nc[1]);
            int numNear = 0;
            for (int dz = -1; dz <= 1; dz++)
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int x = cx + dx, y = cy + dy, z = cz + dz;
                        if (periodic) {
                            x = (x + nc[0]) % nc[0];
                            y = (y + nc[1]) % nc[1];
                            z = (z + nc[2]) % nc[2];
                        }
                        else if (x < 0 || y < 0 || z < 0 || x >= nc[0] || y >= nc[1] || z >= nc[2])
                            continue;
                        cells[numNear++] = x + nc[0] * (y + nc[1] * z);
                    }
            std::sort(cells.begin(), cells.begin() + numNear);
            numNear = (int) (std::unique(cells.begin(), cells.begin() + numNear) - cells.begin());
            const std::vector<int>& excl = excluded[i];
            for (int m = 0; m < numNear; m++)
                for (int q = cellStart[cells[m]]; q < cellStart[cells[m] + 1]; q++) {
                    int j = cellAtoms[q];
                    if (j <= i)
                        continue;
                    Vec3 d = pos[i] - pos[j];
                    if (periodic)
                        d = minimumImage(d, box);
                    double cut = g.pairCutoff(sigma * std::min(b[i], b[j]), sa[i] * sa[j]) + skin;
                    if (d.dot(d) >= cut * cut)
                        continue;
                    if (!excl.empty() && std::binary_search(excl.begin(), excl.end(), j))
                        continue;
                    nbr.push_back(j);
                }
            off.push_back((int) nbr.size());
        }
    });
    threads.waitForThreads();
    buildPos = pos;
    buildBox = periodic ? Vec3(box[0][0], box[1][1], box[2][2]) : Vec3();
    buildSigma = g.sigma;
    buildWc = g.wc;
    built = true;
    numBuilds++;
}

double CpuCalcCookePairForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    auto* ref = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    ThreadPool& threads = CpuPlatform::getPlatformData(context).threads;
    const std::vector<Vec3>& pos = *ref->positions;
    std::vector<Vec3>& forces = *ref->forces;
    const Vec3* box = ref->periodicBoxVectors;
    if (periodic && (box[1][0] != 0 || box[2][0] != 0 || box[2][1] != 0))
        throw OpenMMException("CookePairForce: the CPU kernel needs a rectangular periodic box");
    CookeGlobals g{context.getParameter(CookePairForce::EpsilonName()), context.getParameter(CookePairForce::SigmaName()),
                   context.getParameter(CookePairForce::WcName())};
    if (needsRebuild(pos, box, g))
        build(threads, pos, box, g);

    int numThreads = threads.getNumThreads();
    threadForce.resize(numThreads);
    threadEnergy.assign(numThreads, 0.0);
    const double L[3] = {box[0][0], box[1][1], box[2][2]};
    const double invL[3] = {1 / L[0], 1 / L[1], 1 / L[2]};
    const double eps = g.eps, sigma = g.sigma, rc = g.rc(), wc = g.wc;
    threads.execute([&](ThreadPool& pool, int t) {
        std::vector<double>& f = threadForce[t];
        f.assign(3 * numParticles, 0.0);
        double energy = 0;
        const std::vector<int>& off = offsets[t];
        const std::vector<int>& nbr = neighbours[t];
        for (int i = first[t]; i < first[t + 1]; i++) {
            const int* begin = nbr.data() + off[i - first[t]];
            const int* end = nbr.data() + off[i - first[t] + 1];
            double xi = pos[i][0], yi = pos[i][1], zi = pos[i][2], bi = b[i], sai = sa[i];
            double fx = 0, fy = 0, fz = 0;
            for (const int* p = begin; p != end; ++p) {
                int j = *p;
                double dx = xi - pos[j][0], dy = yi - pos[j][1], dz = zi - pos[j][2];
                if (periodic) {
                    dx -= L[0] * std::floor(dx * invL[0] + 0.5);
                    dy -= L[1] * std::floor(dy * invL[1] + 0.5);
                    dz -= L[2] * std::floor(dz * invL[2] + 0.5);
                }
                double r2 = dx * dx + dy * dy + dz * dz;
                double bij = sigma * std::min(bi, b[j]);
                double fOverR = cookePair<double>(r2, bij, sai * sa[j], eps, rc, wc, energy);
                fx += dx * fOverR;
                fy += dy * fOverR;
                fz += dz * fOverR;
                f[3 * j] -= dx * fOverR;
                f[3 * j + 1] -= dy * fOverR;
                f[3 * j + 2] -= dz * fOverR;
            }
            f[3 * i] += fx;
            f[3 * i + 1] += fy;
            f[3 * i + 2] += fz;
        }
        threadEnergy[t] = energy;
    });
    threads.waitForThreads();
    if (includeForces) {
        threads.execute([&](ThreadPool& pool, int t) {
            int start = (int) ((long long) numParticles * t / numThreads);
            int stop = (int) ((long long) numParticles * (t + 1) / numThreads);
            for (int s = 0; s < numThreads; s++) {
                const std::vector<double>& f = threadForce[s];
                for (int i = start; i < stop; i++)
                    forces[i] += Vec3(f[3 * i], f[3 * i + 1], f[3 * i + 2]);
            }
        });
        threads.waitForThreads();
    }
    double energy = 0;
    for (double e : threadEnergy)
        energy += e;
    return includeEnergy ? energy : 0.0;
}
