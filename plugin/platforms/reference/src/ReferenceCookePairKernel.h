#ifndef SNAREFUSE_REFERENCECOOKEPAIRKERNEL_H_
#define SNAREFUSE_REFERENCECOOKEPAIRKERNEL_H_

#include "CookePairKernels.h"
#include <set>
#include <vector>

namespace Snarefuse {

/**
 * The obviously right implementation: every pair, double precision, minimum image.
 */
class ReferenceCalcCookePairForceKernel : public CalcCookePairForceKernel {
public:
    ReferenceCalcCookePairForceKernel(std::string name, const OpenMM::Platform& platform)
        : CalcCookePairForceKernel(name, platform) {}
    void initialize(const OpenMM::System& system, const CookePairForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const CookePairForce& force);

private:
    std::vector<double> b, a;
    std::vector<std::set<int> > exclusions;  // exclusions[i]: the j > i excluded from i
    bool periodic;
};

} // namespace Snarefuse

#endif
