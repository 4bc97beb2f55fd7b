#ifndef SNAREFUSE_COOKEPAIRFORCEIMPL_H_
#define SNAREFUSE_COOKEPAIRFORCEIMPL_H_

#include "CookePairForce.h"
#include "openmm/Kernel.h"
#include "openmm/internal/ForceImpl.h"
#include <map>
#include <string>
#include <vector>

namespace Snarefuse {

class CookePairForceImpl : public OpenMM::ForceImpl {
public:
    CookePairForceImpl(const CookePairForce& owner) : owner(owner) {}
    void initialize(OpenMM::ContextImpl& context);
    const CookePairForce& getOwner() const { return owner; }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {}
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters();
    std::vector<std::string> getKernelNames();
    void updateParametersInContext(OpenMM::ContextImpl& context);

private:
    const CookePairForce& owner;
    OpenMM::Kernel kernel;
};

} // namespace Snarefuse

#endif
