#include "CommonCookePairKernelFactory.h"
#include "HipContext.h"
#include "HipPlatform.h"
#include "openmm/internal/windowsExport.h"

// The HIP platform's kernel: the common-compute one on the platform's HipContext. Only OpenMM's HIP platform
// library (libOpenMMHIP) is linked: the kernel calls no HIP API itself (HipContext does), so the HIP runtime is
// needed only to compile against hip_runtime.h, which HipContext.h includes.

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    Snarefuse::registerCommonCookePairKernelFactory<OpenMM::HipPlatform>("HIP");
}
