#ifndef SNAREFUSE_CPUCALLERWORKS_H_
#define SNAREFUSE_CPUCALLERWORKS_H_

#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace Snarefuse {

/** An on/off switch read from the environment: unset or "1" is on, "0" off; any other value is an error naming it. */
inline bool switchFromEnvironment(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || std::string(value) == "1")
        return true;
    if (std::string(value) == "0")
        return false;
    throw OpenMM::OpenMMException(std::string(name) + " must be 0 or 1, not '" + value + "'");
}

/**
 * The environment variable that, set to 0 when a Context is created, leaves the calling thread idle during the
 * plugin's own dispatches (OpenMM's pool alone does them, as OpenMM's own kernels do); 1, the default, lets it take
 * work too (runWithCaller).
 */
constexpr const char* CALLER_WORKS_ENV = "SNAREFUSE_CPU_CALLER_WORKS";

/** Whether the calling thread works in the plugin's dispatches (CALLER_WORKS_ENV; other values are an error). */
inline bool callerWorksFromEnvironment() {
    return switchFromEnvironment(CALLER_WORKS_ENV);
}

/** The CPU the calling thread runs on, or -1 where that cannot be asked. */
inline int currentCpu() {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

/**
 * The environment variable that, set to 0 when a Context is created, lets a pool thread woken on the calling thread's
 * CPU claim a slot like any other (runWithCaller); 1, the default, makes it leave its slot to the calling thread.
 */
constexpr const char* LEAVE_CALLER_CPU_ENV = "SNAREFUSE_CPU_LEAVE_CALLER_CPU";

/** Whether a pool thread on the calling thread's CPU leaves its slot (LEAVE_CALLER_CPU_ENV; other values an error). */
inline bool leaveCallerCpuFromEnvironment() {
    return switchFromEnvironment(LEAVE_CALLER_CPU_ENV);
}

/**
 * Runs work(slot) exactly once for each slot 0 .. numThreads-1 of the pool, the calling thread taking slot 0 itself
 * as soon as the pool is told to start rather than waiting while the pool's threads wake (~5-25 us each dispatch on
 * an idle 2-vCPU VM, longer for a thread queued behind another on the same CPU); each pool thread claims one of the
 * other slots, and the one that wakes when none is left returns at once, so no more than numThreads threads work at
 * a time. A pool thread woken on the calling thread's CPU claims none (it could only take turns with the calling
 * thread there: with the pool pinned, the pair loop's two shares took 261 + 267 us against 188 + 195 us). After
 * its own slot, the calling thread runs the slots no pool thread has claimed yet, so short work is not held up by
 * a pool thread that wakes late (it then finds no slot left). Work that takes
 * its blocks from a shared counter is thus done mostly by whichever threads run first. With one thread there is no
 * dispatch at all.
 */
template<class Work>
void runWithCaller(OpenMM::ThreadPool& threads, std::atomic<int>& nextSlot, bool callerWorks, bool leaveCallerCpu,
                   const Work& work) {
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
    const int callerCpu = leaveCallerCpu ? currentCpu() : -1;
    threads.execute([&](OpenMM::ThreadPool&, int) {
        if (callerCpu >= 0 && currentCpu() == callerCpu)
            return;
        const int slot = nextSlot++;
        if (slot < numThreads)
            work(slot);
    });
    work(0);
    for (int slot = nextSlot++; slot < numThreads; slot = nextSlot++)
        work(slot);
    threads.waitForThreads();
}

/**
 * The environment variable that, set to 0 when a Context is created, leaves OpenMM's pool threads where the operating
 * system puts them; 1, the default, pins them (pinPoolThreads).
 */
constexpr const char* PIN_THREADS_ENV = "SNAREFUSE_CPU_PIN_THREADS";

/** Whether the pool's threads may be pinned (PIN_THREADS_ENV; other values are an error). */
inline bool pinThreadsFromEnvironment() {
    return switchFromEnvironment(PIN_THREADS_ENV);
}

/**
 * Pins pool thread t to the t-th CPU this process may run on, where the pool has as many threads as there are such
 * CPUs (at least two), and returns whether it did; otherwise (fewer threads, as when several single-thread runs
 * share a machine, or a platform without sched_setaffinity) it leaves them alone.
 *
 * Why: a dispatch wakes all pool threads at once, while the calling thread still runs. Linux places each wakee on a
 * CPU that looks idle at that moment, which is the same CPU for both on a 2-CPU machine, and it does not move the
 * second when the calling thread's CPU then goes idle (the idle balance is skipped for idle periods this short). So
 * on the 2-vCPU test machine the second pool thread of every dispatch started only when the first had finished its
 * share (a dispatch of 2 x 75 us took 165 us). Pinned, each pool thread wakes on its own CPU.
 */
inline bool pinPoolThreads(OpenMM::ThreadPool& threads) {
#if defined(__linux__)
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return false;
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed))
            cpus.push_back(c);
    const int numThreads = threads.getNumThreads();
    if (numThreads < 2 || numThreads != (int) cpus.size())
        return false;
    threads.execute([&](OpenMM::ThreadPool&, int t) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[t], &one);
        pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
    });
    threads.waitForThreads();
    return true;
#else
    (void) threads;
    return false;
#endif
}

} // namespace Snarefuse

#endif
