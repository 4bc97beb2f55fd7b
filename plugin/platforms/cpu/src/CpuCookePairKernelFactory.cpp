#include "CookePairForce.h"
#include "CpuCookePairKernel.h"
#include "CpuCustomBondKernel.h"
#include "CpuKernelFactory.h"
#include "CpuLangevinMiddleKernel.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/reference/ReferenceKernelFactory.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/internal/windowsExport.h"

using namespace OpenMM;
using namespace Snarefuse;

namespace {
bool holdsCookePairForce(const System& system) {
    for (int i = 0; i < system.getNumForces(); i++)
        if (dynamic_cast<const CookePairForce*>(&system.getForce(i)) != nullptr)
            return true;
    return false;
}

/**
 * The CPU kernels: CookePairForce's, and CustomBondForce's in a Context that holds a CookePairForce (the multithreaded
 * one of CpuCustomBondKernel.h; elsewhere OpenMM's own Reference kernel, exactly as without the plugin).
 */
class CpuCookePairKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        if (name == CalcCookePairForceKernel::Name())
            return new CpuCalcCookePairForceKernel(name, platform);
        if (name == CalcCustomBondForceKernel::Name()) {
            if (holdsCookePairForce(context.getSystem()))
                return new CpuCalcCustomBondForceKernel(name, platform);
            return ReferenceKernelFactory().createKernelImpl(name, platform, context);
        }
        if (name == IntegrateLangevinMiddleStepKernel::Name()) {
            if (holdsCookePairForce(context.getSystem()) &&
                CpuIntegrateLangevinMiddleStepKernel::applies(context.getSystem()))
                return new CpuIntegrateLangevinMiddleStepKernel(name, platform);
            return CpuKernelFactory().createKernelImpl(name, platform, context);
        }
        throw OpenMMException("snarefuse Cooke plugin: no CPU kernel named " + name);
    }
};
}

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CPU") {
            KernelFactory* factory = new CpuCookePairKernelFactory();
            platform.registerKernelFactory(CalcCookePairForceKernel::Name(), factory);
            platform.registerKernelFactory(CalcCustomBondForceKernel::Name(), factory);
            platform.registerKernelFactory(IntegrateLangevinMiddleStepKernel::Name(), factory);
        }
    }
}
