#include "CpuCookePairKernel.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/internal/windowsExport.h"

using namespace OpenMM;
using namespace Snarefuse;

namespace {
class CpuCookePairKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        if (name == CalcCookePairForceKernel::Name())
            return new CpuCalcCookePairForceKernel(name, platform);
        throw OpenMMException("snarefuse Cooke plugin: no CPU kernel named " + name);
    }
};
}

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CPU")
            platform.registerKernelFactory(CalcCookePairForceKernel::Name(), new CpuCookePairKernelFactory());
    }
}
