#ifndef SNAREFUSE_COOKEPAIRKERNELS_H_
#define SNAREFUSE_COOKEPAIRKERNELS_H_

#include "CookePairForce.h"
#include "openmm/KernelImpl.h"
#include "openmm/Platform.h"
#include "openmm/System.h"
#include <string>

namespace Snarefuse {

/** Computes the Cooke pair force; one implementation per platform. */
class CalcCookePairForceKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() { return "CalcCookePairForce"; }
    CalcCookePairForceKernel(std::string name, const OpenMM::Platform& platform) : OpenMM::KernelImpl(name, platform) {}
    virtual void initialize(const OpenMM::System& system, const CookePairForce& force) = 0;
    /** Add the forces to the Context's force array and return the energy (0 unless includeEnergy). */
    virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
    virtual void copyParametersToContext(OpenMM::ContextImpl& context, const CookePairForce& force) = 0;
};

} // namespace Snarefuse

#endif
