#ifndef SNAREFUSE_CPUCUSTOMBONDKERNEL_H_
#define SNAREFUSE_CPUCUSTOMBONDKERNEL_H_

#include "openmm/CustomBondForce.h"
#include "openmm/Kernel.h"
#include "openmm/System.h"
#include "openmm/kernels.h"
#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace Snarefuse {

/**
 * A multithreaded CPU kernel for OpenMM's CustomBondForce, used in Contexts that hold a native CookePairForce.
 *
 * OpenMM's CPU platform has no CustomBondForce kernel of its own: it runs the Reference kernel on the calling thread
 * while its thread pool waits. In a Cooke membrane the FENE bonds and the straightening springs are
 * CustomBondForces, and once the pair force is fast that serial part bounds the speed-up on more threads (at 30k
 * beads ~2 of ~15 ms per step on one thread). Here the bonds are split into one group per thread of the CPU
 * platform's pool, chosen so that no two groups touch the same particle, plus a group of the bonds that would (at
 * the seams between groups; computed after the others). Each group is evaluated by its own instance of OpenMM's
 * Reference kernel (its own compiled expressions, so the threads share no state), which adds its forces to the
 * Context's force array, so the numbers are the Reference kernel's, only summed in another order. The calling
 * thread evaluates one of the groups itself (runWithCaller in CpuCallerWorks.h).
 *
 * A force with energy-parameter derivatives (which the Reference kernel accumulates into one map) is evaluated by
 * a single Reference kernel, exactly as without the plugin.
 */
class CpuCalcCustomBondForceKernel : public OpenMM::CalcCustomBondForceKernel {
public:
    CpuCalcCustomBondForceKernel(std::string name, const OpenMM::Platform& platform)
        : OpenMM::CalcCustomBondForceKernel(name, platform) {}
    void initialize(const OpenMM::System& system, const OpenMM::CustomBondForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const OpenMM::CustomBondForce& force, int firstBond,
                                 int lastBond);
    /**
     * Fewer bonds than this per thread are evaluated on the calling thread in one group: the Reference kernel
     * takes ~30 ns a bond here, so 256 bonds are ~8 us, the order of what one more dispatch to the pool's
     * sleeping threads costs (the calling thread takes any group no pool thread has claimed by then).
     */
    static constexpr int MIN_BONDS_PER_THREAD = 256;

private:
    /** Splits the bonds over ``numThreads`` and creates one Reference kernel per group (the last: the seams). */
    void makeGroups(OpenMM::ContextImpl& context, int numThreads);

    const OpenMM::System* system = nullptr;
    std::unique_ptr<OpenMM::CustomBondForce> force;  // the force as last initialized or updated
    int groupsForThreads = 0;                        // the pool size the groups were made for (0: none yet)
    std::vector<OpenMM::Kernel> groups;              // per thread, then the seam group
    std::vector<double> threadEnergy;
    std::atomic<int> nextSlot{0};                    // runWithCaller's slot counter
    bool callerWorks = true;                         // SNAREFUSE_CPU_CALLER_WORKS
    bool leaveCallerCpu = true;                  // SNAREFUSE_CPU_LEAVE_CALLER_CPU (runWithCaller)
};

} // namespace Snarefuse

#endif
