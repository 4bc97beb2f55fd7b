#include "CommonCookePairKernel.h"
#include "CudaContext.h"
#include "CudaPlatform.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"

using namespace OpenMM;
using namespace Snarefuse;

namespace {
/** The CUDA platform's kernel: the common-compute one on the platform's first (or only) device context, as OpenMM's
 *  CUDA platform creates its own common kernels. */
class CudaCookePairKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        auto& data = *static_cast<CudaPlatform::PlatformData*>(context.getPlatformData());
        if (data.contexts.size() > 1)
            throw OpenMMException("CookePairForce: the CUDA kernel runs on one device (set DeviceIndex to one)");
        if (name == CalcCookePairForceKernel::Name())
            return new CommonCalcCookePairForceKernel(name, platform, *data.contexts[0]);
        throw OpenMMException("snarefuse Cooke plugin: no CUDA kernel named " + name);
    }
};
}

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CUDA")
            platform.registerKernelFactory(CalcCookePairForceKernel::Name(), new CudaCookePairKernelFactory());
    }
}
