#include "CommonCookePairKernelFactory.h"
#include "CudaContext.h"
#include "CudaPlatform.h"
#include "openmm/internal/windowsExport.h"

// The CUDA platform's kernel: the common-compute one on the platform's CudaContext.

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    Snarefuse::registerCommonCookePairKernelFactory<OpenMM::CudaPlatform>("CUDA");
}
