#ifndef SNAREFUSE_CPUCOOKEPAIRKERNEL_H_
#define SNAREFUSE_CPUCOOKEPAIRKERNEL_H_

#include "CookePairKernels.h"
#include "CookePairPotential.h"
#include "openmm/Vec3.h"
#include <vector>

namespace OpenMM { class ThreadPool; }

namespace Snarefuse {

/**
 * CPU kernel: a half neighbour list in which every pair has its own range (r_c + w_c if it attracts, the
 * WCA range 2^(1/6) b_ij otherwise: a head-head pair never enters at the attraction range) plus a Verlet
 * skin; the list is rebuilt only when a particle has moved more than half the skin since the last build,
 * or the box, the globals or the parameters changed. Built and evaluated on OpenMM's CPU thread pool, one
 * force buffer per thread.
 */
class CpuCalcCookePairForceKernel : public CalcCookePairForceKernel {
public:
    CpuCalcCookePairForceKernel(std::string name, const OpenMM::Platform& platform)
        : CalcCookePairForceKernel(name, platform) {}
    void initialize(const OpenMM::System& system, const CookePairForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const CookePairForce& force);
    /** Verlet skin in units of sigma. */
    static constexpr double SKIN_SIGMA = 0.3;
    /** Number of neighbour-list builds so far (for tests and benchmarks). */
    long long getNumBuilds() const { return numBuilds; }

private:
    bool needsRebuild(const std::vector<OpenMM::Vec3>& pos, const OpenMM::Vec3* box, const CookeGlobals& g) const;
    void build(OpenMM::ThreadPool& threads, const std::vector<OpenMM::Vec3>& pos, const OpenMM::Vec3* box,
               const CookeGlobals& g);

    int numParticles = 0;
    bool periodic = false;
    std::vector<double> b, sa;                // size factor, sqrt(attraction)
    std::vector<std::vector<int> > excluded;   // excluded[i]: sorted j > i
    // neighbour list: one CSR block per thread over the particle range [first[t], first[t+1])
    std::vector<int> first;
    std::vector<std::vector<int> > offsets, neighbours;
    std::vector<std::vector<double> > threadForce;
    std::vector<double> threadEnergy;
    // state at the last build
    bool built = false;
    std::vector<OpenMM::Vec3> buildPos;
    OpenMM::Vec3 buildBox;
    double buildSigma = 0, buildWc = 0, skin = 0;
    long long numBuilds = 0;
};

} // namespace Snarefuse

#endif
