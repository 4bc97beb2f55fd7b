#include "ReferenceCookePairKernel.h"
#include "CookePairGeometry.h"
#include "CookePairPotential.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/reference/ReferencePlatform.h"
#include <cmath>

using namespace OpenMM;
using namespace Snarefuse;

void ReferenceCalcCookePairForceKernel::initialize(const System& system, const CookePairForce& force) {
    int n = force.getNumParticles();
    b.resize(n);
    a.resize(n);
    for (int i = 0; i < n; i++)
        force.getParticleParameters(i, b[i], a[i]);
    exclusions.assign(n, std::set<int>());
    for (int k = 0; k < force.getNumExclusions(); k++) {
        int i, j;
        force.getExclusionParticles(k, i, j);
        exclusions[std::min(i, j)].insert(std::max(i, j));
    }
    periodic = force.getNonbondedMethod() == CookePairForce::CutoffPeriodic;
}

double ReferenceCalcCookePairForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    auto* data = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    const std::vector<Vec3>& pos = *data->positions;
    std::vector<Vec3>& force = *data->forces;
    CookeGlobals g{context.getParameter(CookePairForce::EpsilonName()), context.getParameter(CookePairForce::SigmaName()),
                   context.getParameter(CookePairForce::WcName())};
    const Vec3* box = data->periodicBoxVectors;
    if (periodic)
        checkBox(box, maxPairCutoff(g, b, a));
    double rc = g.rc(), energy = 0;
    int n = (int) b.size();
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            if (exclusions[i].count(j))
                continue;
            Vec3 d = pos[i] - pos[j];
            if (periodic)
                d = minimumImage(d, box);
            double r2 = d.dot(d);
            double bij = g.sigma * std::min(b[i], b[j]);
            double aij = std::sqrt(a[i] * a[j]);
            double cut = g.pairCutoff(bij, aij);
            if (r2 >= cut * cut)
                continue;
            double fOverR = cookePair<double>(r2, bij, aij, g.eps, rc, g.wc, energy);
            if (includeForces) {
                force[i] += d * fOverR;
                force[j] -= d * fOverR;
            }
        }
    }
    return includeEnergy ? energy : 0.0;
}

void ReferenceCalcCookePairForceKernel::copyParametersToContext(ContextImpl& context, const CookePairForce& force) {
    if (force.getNumParticles() != (int) b.size())
        throw OpenMMException("CookePairForce.updateParametersInContext: the number of particles has changed");
    for (int i = 0; i < (int) b.size(); i++)
        force.getParticleParameters(i, b[i], a[i]);
}
