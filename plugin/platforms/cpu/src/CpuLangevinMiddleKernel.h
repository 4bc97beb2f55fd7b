#ifndef SNAREFUSE_CPULANGEVINMIDDLEKERNEL_H_
#define SNAREFUSE_CPULANGEVINMIDDLEKERNEL_H_

#include "openmm/LangevinMiddleIntegrator.h"
#include "openmm/System.h"
#include "openmm/kernels.h"
#include <cstdint>
#include <vector>

namespace Snarefuse {

/**
 * LangevinMiddleIntegrator's step on the CPU platform, for Contexts that hold a CookePairForce and have no
 * constraints and no virtual sites (the factory gives every other Context OpenMM's own kernel).
 *
 * The arithmetic of a step is OpenMM's (ReferenceLangevinMiddleDynamics: kick, half drift, Ornstein-Uhlenbeck
 * velocity update, half drift), in double precision, done in one pass over the particles instead of three, so a step
 * costs one dispatch to the thread pool instead of three (none with one thread). The Gaussian noise comes from a
 * counter-based generator (Philox4x32-10: Salmon et al., SC11, "Parallel random numbers: as easy as 1, 2, 3") keyed
 * by the integrator's seed and indexed by (step count, particle): each thread computes its particles' numbers without
 * shared state, whereas OpenMM's CpuRandom keeps every thread's cached second Gaussian in one small array, so two
 * threads running at once write the same cache line for every number (on the 2-vCPU test machine, with the pool
 * threads pinned, each thread's share of OpenMM's noise stage took 265-328 us at 3,000 particles against 70 us when
 * they ran one after the other; BENCHMARKS.md, "Where a 2-thread step waits"). The noise is therefore the same for
 * any thread count, and a Context restored from a checkpoint (which holds the step count) continues with the noise
 * the uninterrupted run would have drawn.
 *
 * Where the pool has as many threads as the process has CPUs, this kernel pins them, one to each CPU, at its first
 * step (pinPoolThreads): with noise that shares no state, both pool threads can then start each dispatch at once.
 * With OpenMM's own kernel pinning measured slower (the threads then ran the CpuRandom false sharing in parallel),
 * so Contexts that keep OpenMM's kernel keep their threads unpinned.
 *
 * SNAREFUSE_CPU_LANGEVIN=0 in the environment, when a Context is created, gives it OpenMM's own kernel.
 */
class CpuIntegrateLangevinMiddleStepKernel : public OpenMM::IntegrateLangevinMiddleStepKernel {
public:
    CpuIntegrateLangevinMiddleStepKernel(std::string name, const OpenMM::Platform& platform)
        : OpenMM::IntegrateLangevinMiddleStepKernel(name, platform) {}
    /** The environment variable that, set to 0, keeps OpenMM's own kernel; 1, the default, uses this one. */
    static constexpr const char* LANGEVIN_ENV = "SNAREFUSE_CPU_LANGEVIN";
    /** Whether this kernel can integrate the System (no constraints, no virtual sites) and LANGEVIN_ENV allows it. */
    static bool applies(const OpenMM::System& system);
    void initialize(const OpenMM::System& system, const OpenMM::LangevinMiddleIntegrator& integrator);
    void execute(OpenMM::ContextImpl& context, const OpenMM::LangevinMiddleIntegrator& integrator);
    double computeKineticEnergy(OpenMM::ContextImpl& context, const OpenMM::LangevinMiddleIntegrator& integrator);
    /** Particles whose normal numbers are drawn together (their generators interleaved). */
    static constexpr int GAUSSIAN_LANES = 8;
    /**
     * Three independent standard normal numbers (float, like OpenMM's CpuRandom) for each of the particles first ..
     * first + GAUSSIAN_LANES - 1 at a step; a function of (seed, step, particle) alone.
     */
    static void gaussianLanes(uint64_t seed, long long step, int first, float out[GAUSSIAN_LANES][3]);

private:
    std::vector<double> masses, inverseMasses, sqrtInverseMasses;
    uint64_t seed = 0;
    bool pinThreads = true;  // pin the pool's threads at the first step (pinPoolThreads, CpuCallerWorks.h)
};

} // namespace Snarefuse

#endif
