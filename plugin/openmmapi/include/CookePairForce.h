#ifndef SNAREFUSE_COOKEPAIRFORCE_H_
#define SNAREFUSE_COOKEPAIRFORCE_H_

#include "openmm/Force.h"
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace Snarefuse {

/**
 * The pair interaction of the solvent-free lipid model of Cooke, Kremer and Deserno
 * (Phys. Rev. E 72, 011506, 2005), as one Force.
 *
 * For a pair i, j at distance r, with b_ij = sigma min(b_i, b_j), a_ij = sqrt(a_i a_j),
 * r_c = 2^(1/6) sigma:
 *
 *   E = 4 eps [(b_ij/r)^12 - (b_ij/r)^6 + 1/4]        for r < 2^(1/6) b_ij   (WCA)
 *     - eps a_ij                                       for r < r_c
 *     - eps a_ij cos^2(pi (r - r_c) / (2 w_c))          for r_c <= r < r_c + w_c
 *
 * Every particle has a WCA size factor b and a tail attraction a (0 for heads and protein beads).
 * sigma, eps and w_c are global parameters of the Context (names cooke_sigma, cooke_eps, cooke_wc),
 * so they can be changed in a live Context; the cutoff follows them (r_c + w_c for attractive pairs,
 * 2^(1/6) b_ij for the others). Excluded pairs do not interact.
 */
class CookePairForce : public OpenMM::Force {
public:
    enum NonbondedMethod { CutoffNonPeriodic = 1, CutoffPeriodic = 2 };

    static const std::string& EpsilonName() { static const std::string s = "cooke_eps"; return s; }
    static const std::string& SigmaName() { static const std::string s = "cooke_sigma"; return s; }
    static const std::string& WcName() { static const std::string s = "cooke_wc"; return s; }

    CookePairForce(double epsilon, double sigma, double wc);

    int getNumParticles() const { return (int) particles.size(); }
    int addParticle(double b, double a);
    void getParticleParameters(int index, double& b, double& a) const;
    void setParticleParameters(int index, double b, double a);

    int getNumExclusions() const { return (int) exclusions.size(); }
    int addExclusion(int particle1, int particle2);
    void getExclusionParticles(int index, int& particle1, int& particle2) const;

    /** Default values of the global parameters (the Context may change them). */
    double getDefaultEpsilon() const { return epsilon; }
    double getDefaultSigma() const { return sigma; }
    double getDefaultWc() const { return wc; }
    void setDefaultEpsilon(double value);
    void setDefaultSigma(double value);
    void setDefaultWc(double value);

    NonbondedMethod getNonbondedMethod() const { return method; }
    void setNonbondedMethod(NonbondedMethod m);

    /**
     * Copy the per-particle parameters into a Context (the exclusions cannot change).
     */
    void updateParametersInContext(OpenMM::Context& context);

    bool usesPeriodicBoundaryConditions() const { return method == CutoffPeriodic; }

protected:
    OpenMM::ForceImpl* createImpl() const;

private:
    struct Particle { double b, a; };
    double epsilon, sigma, wc;
    NonbondedMethod method;
    std::vector<Particle> particles;
    std::vector<std::pair<int, int> > exclusions;
};

} // namespace Snarefuse

#endif
