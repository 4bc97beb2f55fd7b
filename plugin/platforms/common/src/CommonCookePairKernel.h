#ifndef SNAREFUSE_COMMONCOOKEPAIRKERNEL_H_
#define SNAREFUSE_COMMONCOOKEPAIRKERNEL_H_

#include "CookePairKernels.h"
#include "openmm/common/ComputeContext.h"
#include "openmm/common/ComputeParameterSet.h"

namespace Snarefuse {

/**
 * The common-compute kernel: one source for CUDA, OpenCL and HIP through OpenMM's common compute API (the way
 * OpenMM's own common kernels are written; each platform's factory passes its ComputeContext).
 *
 * The pair interaction is added to the platform's NonbondedUtilities, so it shares OpenMM's tiled neighbour list
 * (one cutoff for all pairs: the largest pair range, r_c + w_c or 2^(1/6) b_ij at the default globals) with the
 * other nonbonded forces; the exclusions are the force's. Per particle b and sqrt(a) in two float arrays; the
 * globals through the ComputeContext's global-parameter array, so changes in a Context take effect at once. A
 * change that would widen the range beyond the cutoff fixed at Context creation is refused.
 */
class CommonCalcCookePairForceKernel : public CalcCookePairForceKernel {
public:
    CommonCalcCookePairForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc)
        : CalcCookePairForceKernel(name, platform), cc(cc) {}
    ~CommonCalcCookePairForceKernel();
    void initialize(const OpenMM::System& system, const CookePairForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const CookePairForce& force);

private:
    class ForceInfo;
    OpenMM::ComputeContext& cc;
    OpenMM::ComputeParameterSet* params = nullptr;  // b, sqrt(a)
    double bmax = 0, amax = 0, cutoff = 0;
    int numParticles = 0;
};

} // namespace Snarefuse

#endif
