#include "internal/CookePairForceImpl.h"
#include "CookePairKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include <set>

using namespace OpenMM;
using namespace Snarefuse;
using std::string;
using std::to_string;

void CookePairForceImpl::initialize(ContextImpl& context) {
    const System& system = context.getSystem();
    if (owner.getNumParticles() != system.getNumParticles())
        throw OpenMMException("CookePairForce has " + to_string(owner.getNumParticles()) +
                              " particles; the System has " + to_string(system.getNumParticles()));
    std::set<std::pair<int, int> > seen;
    for (int k = 0; k < owner.getNumExclusions(); k++) {
        int i, j;
        owner.getExclusionParticles(k, i, j);
        if (i >= system.getNumParticles() || j >= system.getNumParticles())
            throw OpenMMException("CookePairForce: exclusion " + to_string(k) + " names a particle beyond the System");
        if (!seen.insert(std::make_pair(std::min(i, j), std::max(i, j))).second)
            throw OpenMMException("CookePairForce: exclusion (" + to_string(i) + ", " + to_string(j) + ") given twice");
    }
    kernel = context.getPlatform().createKernel(CalcCookePairForceKernel::Name(), context);
    kernel.getAs<CalcCookePairForceKernel>().initialize(system, owner);
}

double CookePairForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) == 0)
        return 0.0;
    return kernel.getAs<CalcCookePairForceKernel>().execute(context, includeForces, includeEnergy);
}

std::map<string, double> CookePairForceImpl::getDefaultParameters() {
    return {{CookePairForce::EpsilonName(), owner.getDefaultEpsilon()},
            {CookePairForce::SigmaName(), owner.getDefaultSigma()},
            {CookePairForce::WcName(), owner.getDefaultWc()}};
}

std::vector<string> CookePairForceImpl::getKernelNames() {
    return {CalcCookePairForceKernel::Name()};
}

void CookePairForceImpl::updateParametersInContext(ContextImpl& context) {
    kernel.getAs<CalcCookePairForceKernel>().copyParametersToContext(context, owner);
    context.systemChanged();
}
