#include "CpuCustomBondKernel.h"
#include "CpuCallerWorks.h"
#include "CpuPlatform.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/ThreadPool.h"
#include "openmm/reference/ReferenceKernelFactory.h"

using namespace OpenMM;
using namespace Snarefuse;

void CpuCalcCustomBondForceKernel::initialize(const System& system, const CustomBondForce& force) {
    this->system = &system;
    this->force.reset(new CustomBondForce(force));
    groupsForThreads = 0;
    callerWorks = callerWorksFromEnvironment();
    leaveCallerCpu = leaveCallerCpuFromEnvironment();
}

void CpuCalcCustomBondForceKernel::copyParametersToContext(ContextImpl&, const CustomBondForce& force, int, int) {
    if (force.getNumBonds() != this->force->getNumBonds())
        throw OpenMMException("updateParametersInContext: the number of bonds has changed");
    for (int k = 0; k < force.getNumBonds(); k++) {
        int i, j, i0, j0;
        std::vector<double> p, p0;
        force.getBondParameters(k, i, j, p);
        this->force->getBondParameters(k, i0, j0, p0);
        if (i != i0 || j != j0)
            throw OpenMMException("updateParametersInContext: a bond's particles have changed");
    }
    this->force.reset(new CustomBondForce(force));
    groupsForThreads = 0;  // the groups' kernels are made again, with the new parameters, at the next execute
}

void CpuCalcCustomBondForceKernel::makeGroups(ContextImpl& context, int numThreads) {
    const int numBonds = force->getNumBonds();
    // One group per thread; a bond joins a thread's group only where no other thread's bonds touch its particles.
    const bool split = numThreads > 1 && force->getNumEnergyParameterDerivatives() == 0 &&
                       numBonds >= MIN_BONDS_PER_THREAD * numThreads;
    const int numGroups = split ? numThreads + 1 : 1;
    std::vector<int> bondGroup(numBonds, 0);
    if (split) {
        // contiguous ranges of the bond list: the bonds of a chain are listed together, so few particles are shared
        const int shared = -2, none = -1;
        std::vector<int> particleThread(system->getNumParticles(), none);
        std::vector<int> bondThread(numBonds);
        for (int k = 0; k < numBonds; k++) {
            int t = (int) ((long long) k * numThreads / numBonds), p[2];
            std::vector<double> params;
            force->getBondParameters(k, p[0], p[1], params);
            bondThread[k] = t;
            for (int a : p)
                particleThread[a] = particleThread[a] == none || particleThread[a] == t ? t : shared;
        }
        for (int k = 0; k < numBonds; k++) {
            int p[2];
            std::vector<double> params;
            force->getBondParameters(k, p[0], p[1], params);
            bool own = particleThread[p[0]] == bondThread[k] && particleThread[p[1]] == bondThread[k];
            bondGroup[k] = own ? bondThread[k] : numThreads;
        }
    }
    groups.clear();
    ReferenceKernelFactory reference;
    for (int g = 0; g < numGroups; g++) {
        // the same expression, globals and parameters; only this group's bonds
        CustomBondForce groupForce(force->getEnergyFunction());
        for (int q = 0; q < force->getNumPerBondParameters(); q++)
            groupForce.addPerBondParameter(force->getPerBondParameterName(q));
        for (int q = 0; q < force->getNumGlobalParameters(); q++)
            groupForce.addGlobalParameter(force->getGlobalParameterName(q), force->getGlobalParameterDefaultValue(q));
        for (int q = 0; q < force->getNumEnergyParameterDerivatives(); q++)
            groupForce.addEnergyParameterDerivative(force->getEnergyParameterDerivativeName(q));
        groupForce.setUsesPeriodicBoundaryConditions(force->usesPeriodicBoundaryConditions());
        for (int k = 0; k < numBonds; k++)
            if (bondGroup[k] == g) {
                int i, j;
                std::vector<double> params;
                force->getBondParameters(k, i, j, params);
                groupForce.addBond(i, j, params);
            }
        groups.emplace_back(reference.createKernelImpl(getName(), getPlatform(), context));
        groups.back().getAs<CalcCustomBondForceKernel>().initialize(*system, groupForce);
    }
    threadEnergy.assign(numThreads, 0.0);
    groupsForThreads = numThreads;
}

double CpuCalcCustomBondForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ThreadPool& pool = CpuPlatform::getPlatformData(context).threads;
    const int numThreads = pool.getNumThreads();
    if (groupsForThreads != numThreads)
        makeGroups(context, numThreads);
    if (groups.size() == 1)
        return groups[0].getAs<CalcCustomBondForceKernel>().execute(context, includeForces, includeEnergy);
    // The thread groups touch disjoint particles, so their kernels add into the Context's forces side by side. The
    // calling thread takes group 0 while the pool wakes (runWithCaller): on the 2-vCPU test machine the second pool
    // thread of a dispatch often started only when the first had finished its group (BENCHMARKS.md, "Where a
    // 2-thread step waits").
    runWithCaller(pool, nextSlot, callerWorks, leaveCallerCpu, [&](int slot) {
        threadEnergy[slot] = groups[slot].getAs<CalcCustomBondForceKernel>().execute(context, includeForces, includeEnergy);
    });
    double energy = groups.back().getAs<CalcCustomBondForceKernel>().execute(context, includeForces, includeEnergy);
    for (double e : threadEnergy)
        energy += e;
    return includeEnergy ? energy : 0.0;
}
