#include "CommonCookePairKernelFactory.h"
#include "OpenCLContext.h"
#include "OpenCLPlatform.h"
#include "openmm/internal/windowsExport.h"

// The OpenCL platform's kernel: the common-compute one on the platform's OpenCLContext.

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    Snarefuse::registerCommonCookePairKernelFactory<OpenMM::OpenCLPlatform>("OpenCL");
}
