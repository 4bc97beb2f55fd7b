#ifndef SNAREFUSE_CPUCALLERWORKS_H_
#define SNAREFUSE_CPUCALLERWORKS_H_

#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <atomic>
#include <cstdlib>
#include <string>

namespace Snarefuse {

/**
 * The environment variable that, set to 0 when a Context is created, leaves the calling thread idle during the
 * plugin's own dispatches (OpenMM's pool alone does them, as OpenMM's own kernels do); 1, the default, lets it take
 * work too (runWithCaller).
 */
constexpr const char* CALLER_WORKS_ENV = "SNAREFUSE_CPU_CALLER_WORKS";

/** Whether the calling thread works in the plugin's dispatches (CALLER_WORKS_ENV; other values are an error). */
inline bool callerWorksFromEnvironment() {
    const char* caller = std::getenv(CALLER_WORKS_ENV);
    if (caller == nullptr || std::string(caller) == "1")
        return true;
    if (std::string(caller) == "0")
        return false;
    throw OpenMM::OpenMMException(std::string(CALLER_WORKS_ENV) + " must be 0 or 1, not '" + caller + "'");
}

/**
 * Runs work(slot) exactly once for each slot 0 .. numThreads-1 of the pool, the calling thread taking slot 0 itself
 * as soon as the pool is told to start rather than waiting while the pool's threads wake (5-90 us for a pool thread
 * on the idle 2-vCPU test machine, BENCHMARKS.md); each pool thread claims one of the other slots, and the one that
 * wakes when none is left returns at once, so no more than numThreads threads work at a time. Work that takes its
 * blocks from a shared counter is thus done mostly by whichever threads run first. With one thread there is no
 * dispatch at all.
 */
template<class Work>
void runWithCaller(OpenMM::ThreadPool& threads, std::atomic<int>& nextSlot, bool callerWorks, const Work& work) {
    const int numThreads = threads.getNumThreads();
    if (!callerWorks) {
        threads.execute([&](OpenMM::ThreadPool&, int t) { work(t); });
        threads.waitForThreads();
        return;
    }
    if (numThreads == 1) {
        work(0);
        return;
    }
    nextSlot = 1;
    threads.execute([&](OpenMM::ThreadPool&, int) {
        const int slot = nextSlot++;
        if (slot < numThreads)
            work(slot);
    });
    work(0);
    threads.waitForThreads();
}

} // namespace Snarefuse

#endif
