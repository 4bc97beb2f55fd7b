#include "ReferenceCookePairKernel.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/internal/windowsExport.h"

using namespace OpenMM;
using namespace Snarefuse;

namespace {
class ReferenceCookePairKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        if (name == CalcCookePairForceKernel::Name())
            return new ReferenceCalcCookePairForceKernel(name, platform);
        throw OpenMMException("snarefuse Cooke plugin: no Reference kernel named " + name);
    }
};
}

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "Reference")
            platform.registerKernelFactory(CalcCookePairForceKernel::Name(), new ReferenceCookePairKernelFactory());
    }
}
