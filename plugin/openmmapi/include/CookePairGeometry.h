#ifndef SNAREFUSE_COOKEPAIRGEOMETRY_H_
#define SNAREFUSE_COOKEPAIRGEOMETRY_H_

#include "CookePairPotential.h"
#include "openmm/OpenMMException.h"
#include "openmm/Vec3.h"
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace Snarefuse {

/** Largest range of any pair of the force under these globals. */
inline double maxPairCutoff(const CookeGlobals& g, const std::vector<double>& b, const std::vector<double>& a) {
    double bmax = 0, amax = 0;
    for (double x : b) bmax = std::max(bmax, x);
    for (double x : a) amax = std::max(amax, x);
    return g.pairCutoff(g.sigma * bmax, amax);
}

/** Refuse a box in which the minimum image convention would miss pairs within the cutoff. */
inline void checkBox(const OpenMM::Vec3* box, double cutoff) {
    double width = std::min(box[0][0], std::min(box[1][1], box[2][2]));
    if (cutoff > 0.5 * width)
        throw OpenMM::OpenMMException("CookePairForce: the cutoff (" + std::to_string(cutoff) +
                              " nm, r_c + w_c under the current globals) exceeds half the periodic box width (" +
                              std::to_string(0.5 * width) + " nm)");
}

/** Minimum-image displacement in a (reduced, possibly triclinic) periodic box. */
inline OpenMM::Vec3 minimumImage(OpenMM::Vec3 d, const OpenMM::Vec3* box) {
    d -= box[2] * std::round(d[2] / box[2][2]);
    d -= box[1] * std::round(d[1] / box[1][1]);
    d -= box[0] * std::round(d[0] / box[0][0]);
    return d;
}

} // namespace Snarefuse

#endif
