#include "CookePairForce.h"
#include "internal/CookePairForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>

using namespace OpenMM;
using namespace Snarefuse;
using std::string;
using std::to_string;

static void checkPositive(const char* what, double value) {
    if (!(value > 0) || !std::isfinite(value))
        throw OpenMMException(string("CookePairForce: ") + what + " must be positive and finite, got " + to_string(value));
}

CookePairForce::CookePairForce(double epsilon, double sigma, double wc) : method(CutoffPeriodic) {
    setDefaultEpsilon(epsilon);
    setDefaultSigma(sigma);
    setDefaultWc(wc);
}

void CookePairForce::setDefaultEpsilon(double value) { checkPositive("epsilon", value); epsilon = value; }
void CookePairForce::setDefaultSigma(double value) { checkPositive("sigma", value); sigma = value; }
void CookePairForce::setDefaultWc(double value) { checkPositive("w_c", value); wc = value; }

void CookePairForce::setNonbondedMethod(NonbondedMethod m) {
    if (m != CutoffNonPeriodic && m != CutoffPeriodic)
        throw OpenMMException("CookePairForce: nonbonded method must be CutoffNonPeriodic (1) or CutoffPeriodic (2)");
    method = m;
}

static void checkParticle(double b, double a) {
    if (!(b > 0) || !std::isfinite(b))
        throw OpenMMException("CookePairForce: particle size factor b must be positive, got " + to_string(b));
    if (!(a >= 0) || !std::isfinite(a))
        throw OpenMMException("CookePairForce: particle attraction a must be >= 0, got " + to_string(a));
}

int CookePairForce::addParticle(double b, double a) {
    checkParticle(b, a);
    particles.push_back({b, a});
    return (int) particles.size() - 1;
}

void CookePairForce::getParticleParameters(int index, double& b, double& a) const {
    ASSERT_VALID_INDEX(index, particles);
    b = particles[index].b;
    a = particles[index].a;
}

void CookePairForce::setParticleParameters(int index, double b, double a) {
    ASSERT_VALID_INDEX(index, particles);
    checkParticle(b, a);
    particles[index] = {b, a};
}

int CookePairForce::addExclusion(int particle1, int particle2) {
    if (particle1 == particle2 || particle1 < 0 || particle2 < 0)
        throw OpenMMException("CookePairForce: exclusion (" + to_string(particle1) + ", " + to_string(particle2) +
                              ") must name two different particles");
    exclusions.push_back(std::make_pair(particle1, particle2));
    return (int) exclusions.size() - 1;
}

void CookePairForce::getExclusionParticles(int index, int& particle1, int& particle2) const {
    ASSERT_VALID_INDEX(index, exclusions);
    particle1 = exclusions[index].first;
    particle2 = exclusions[index].second;
}

ForceImpl* CookePairForce::createImpl() const {
    return new CookePairForceImpl(*this);
}

void CookePairForce::updateParametersInContext(Context& context) {
    dynamic_cast<CookePairForceImpl&>(getImplInContext(context)).updateParametersInContext(getContextImpl(context));
}
