#include "CommonCookePairKernel.h"
#include "CookePairPotential.h"
#include "openmm/OpenMMException.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/common/NonbondedUtilities.h"
#include "openmm/internal/ContextImpl.h"
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

using namespace OpenMM;
using namespace Snarefuse;

namespace {
/**
 * The pair, in the platform's real precision, as the body of a NonbondedUtilities interaction: the variables r2, r,
 * invR, isExcluded, dEdR (-dE/dr / r accumulated) and tempEnergy are the utilities'; B1/B2, SA1/SA2 the
 * particles' parameters (b, sqrt(a)); EPS, SIGMA, WC the globals; Ck, Dk the tail polynomial's coefficients
 * (CookePairPotential.h SIN_PI_COEFFICIENTS and (2k+1) times them). The potential of CookePairPotential.h, written
 * with few branches, since a GPU (or POCL's vectorised work-items) pays for both sides of one.
 */
const char* PAIR_SOURCE = R"(
if (!isExcluded && r2 < CUTOFF_SQUARED) {
    const real eps = EPS, sigma = SIGMA, invWc = 1/WC;
    const real bij = sigma*min((real) B1, (real) B2);
    const real aij = (real) SA1*(real) SA2;
    const real rc = TWO_SIXTH*sigma;
    // WCA inside 2^(1/6) b_ij
    const real s2 = bij*bij*invR*invR;
    const real x6 = s2*s2*s2;
    const bool wca = r2 < TWO_THIRD*bij*bij;
    real pairEnergy = (wca ? 4*eps*(x6*(x6-1)+(real) 0.25) : 0);
    real fOverR = (wca ? 24*eps*x6*(2*x6-1)*invR*invR : 0);
    // attraction: plateau -eps a_ij below r_c, cos^2 tail to r_c + w_c as the odd polynomial in t = u - 1/2
    // ((1 + cos(pi u))/2 = 1/2 - S(t)/2), no trig call
    const real u = (r-rc)*invWc;
    if (aij > 0 && u < 1) {
        const real t = max(u, (real) 0)-(real) 0.5;
        const real s = t*t;
        const real S = t*(C0+s*(C1+s*(C2+s*(C3+s*(C4+s*C5)))));
        const real dS = D0+s*(D1+s*(D2+s*(D3+s*(D4+s*D5))));
        pairEnergy -= eps*aij*((real) 0.5-(real) 0.5*S);
        fOverR -= (u > 0 ? (real) 0.5*eps*aij*dS*invWc*invR : 0);
    }
    tempEnergy += pairEnergy;
    dEdR += fOverR;
}
)";

double maxRange(double sigma, double wc, double bmax, double amax) {
    CookeGlobals g{1.0, sigma, wc};
    return g.pairCutoff(sigma * bmax, amax);
}

/** The kernel's per-particle table, (b, sqrt a) in the force's particle order padded to ``padded`` rows, and the
 *  largest b and a (which set the pair range). */
std::vector<std::vector<float> > particleValues(const CookePairForce& force, int padded, double& bmax, double& amax) {
    std::vector<std::vector<float> > values(padded, std::vector<float>(2, 0.0f));
    bmax = amax = 0;
    for (int i = 0; i < force.getNumParticles(); i++) {
        double b, a;
        force.getParticleParameters(i, b, a);
        values[i] = {(float) b, (float) std::sqrt(a)};
        bmax = std::max(bmax, b);
        amax = std::max(amax, a);
    }
    return values;
}
}

/** Reordering and exclusions for the platform: particles with equal b and a are interchangeable. */
class CommonCalcCookePairForceKernel::ForceInfo : public ComputeForceInfo {
public:
    explicit ForceInfo(const CookePairForce& force) : force(force) {}
    bool areParticlesIdentical(int particle1, int particle2) {
        double b1, a1, b2, a2;
        force.getParticleParameters(particle1, b1, a1);
        force.getParticleParameters(particle2, b2, a2);
        return b1 == b2 && a1 == a2;
    }
    int getNumParticleGroups() { return force.getNumExclusions(); }
    void getParticlesInGroup(int index, std::vector<int>& particles) {
        int i, j;
        force.getExclusionParticles(index, i, j);
        particles = {i, j};
    }
    bool areGroupsIdentical(int, int) { return true; }
private:
    const CookePairForce& force;
};

CommonCalcCookePairForceKernel::~CommonCalcCookePairForceKernel() {
    ContextSelector selector(cc);
    delete params;
}

void CommonCalcCookePairForceKernel::initialize(const System& system, const CookePairForce& force) {
    ContextSelector selector(cc);
    numParticles = force.getNumParticles();
    const int padded = cc.getPaddedNumAtoms();
    params = new ComputeParameterSet(cc, 2, padded, "cookePairParameters", true);
    const std::vector<std::vector<float> > values = particleValues(force, padded, bmax, amax);
    std::vector<std::vector<int> > exclusions(numParticles);
    for (int i = 0; i < numParticles; i++)
        exclusions[i].push_back(i);
    for (int k = 0; k < force.getNumExclusions(); k++) {
        int i, j;
        force.getExclusionParticles(k, i, j);
        exclusions[i].push_back(j);
        exclusions[j].push_back(i);
    }
    params->setParameterValues(values);
    cutoff = maxRange(force.getDefaultSigma(), force.getDefaultWc(), bmax, amax);

    int forceIndex = 0;
    while (forceIndex < system.getNumForces() && &system.getForce(forceIndex) != &force)
        forceIndex++;
    const std::string prefix = "cooke" + cc.intToString(forceIndex) + "_";
    std::map<std::string, std::string> replacements;
    replacements["B1"] = prefix + "b1";
    replacements["B2"] = prefix + "b2";
    replacements["SA1"] = prefix + "sa1";
    replacements["SA2"] = prefix + "sa2";
    replacements["EPS"] = prefix + "globals[" + cc.intToString(cc.registerGlobalParam(CookePairForce::EpsilonName())) + "]";
    replacements["SIGMA"] = prefix + "globals[" + cc.intToString(cc.registerGlobalParam(CookePairForce::SigmaName())) + "]";
    replacements["WC"] = prefix + "globals[" + cc.intToString(cc.registerGlobalParam(CookePairForce::WcName())) + "]";
    replacements["TWO_SIXTH"] = cc.doubleToString(TWO_SIXTH);
    replacements["TWO_THIRD"] = cc.doubleToString(TWO_SIXTH * TWO_SIXTH);
    for (int k = 0; k < 6; k++) {
        replacements["C" + cc.intToString(k)] = cc.doubleToString(SIN_PI_COEFFICIENTS[k]);
        replacements["D" + cc.intToString(k)] = cc.doubleToString((2 * k + 1) * SIN_PI_COEFFICIENTS[k]);
    }
    const std::string source = cc.replaceStrings(PAIR_SOURCE, replacements);
    const bool periodic = force.getNonbondedMethod() == CookePairForce::CutoffPeriodic;
    NonbondedUtilities& nb = cc.getNonbondedUtilities();
    nb.addInteraction(true, periodic, true, cutoff, exclusions, source, force.getForceGroup(), numParticles > 2000);
    std::vector<ComputeParameterInfo>& infos = params->getParameterInfos();
    nb.addParameter(ComputeParameterInfo(infos[0].getArray(), prefix + "b", "float", 1));
    nb.addParameter(ComputeParameterInfo(infos[1].getArray(), prefix + "sa", "float", 1));
    nb.addArgument(ComputeParameterInfo(cc.getGlobalParamValues(), prefix + "globals", "real", 1));
    cc.addForce(new ForceInfo(force));
}

double CommonCalcCookePairForceKernel::execute(ContextImpl& context, bool, bool) {
    const double sigma = context.getParameter(CookePairForce::SigmaName());
    const double wc = context.getParameter(CookePairForce::WcName());
    const double range = maxRange(sigma, wc, bmax, amax);
    if (range > cutoff * (1 + 1e-12)) {
        std::stringstream msg;
        msg << "CookePairForce: cooke_sigma = " << sigma << " nm and cooke_wc = " << wc << " nm give a pair range of "
            << range << " nm, beyond the " << cutoff << " nm neighbour-list cutoff fixed when this Context was created "
            << "on a GPU platform (from the force's default globals); create the Context with the larger defaults";
        throw OpenMMException(msg.str());
    }
    // The interaction runs inside the platform's nonbonded kernel; its energy goes into the platform's sum.
    return 0.0;
}

void CommonCalcCookePairForceKernel::copyParametersToContext(ContextImpl&, const CookePairForce& force) {
    ContextSelector selector(cc);
    if (force.getNumParticles() != numParticles)
        throw OpenMMException("CookePairForce.updateParametersInContext: the number of particles has changed");
    double newBmax, newAmax;
    const std::vector<std::vector<float> > values = particleValues(force, cc.getPaddedNumAtoms(), newBmax, newAmax);
    if (maxRange(force.getDefaultSigma(), force.getDefaultWc(), newBmax, newAmax) > cutoff * (1 + 1e-12))
        throw OpenMMException("CookePairForce.updateParametersInContext: the new b or a widen the pair range beyond "
                              "the neighbour-list cutoff fixed when the Context was created");
    // the platform may have reordered the particles: its order maps them
    const std::vector<int>& order = cc.getAtomIndex();
    std::vector<std::vector<float> > ordered(values.size(), std::vector<float>(2, 0.0f));
    for (int i = 0; i < numParticles; i++)
        ordered[i] = values[order[i]];
    params->setParameterValues(ordered);
    cc.invalidateMolecules();
}
