#ifndef SNAREFUSE_COMMONCOOKEPAIRKERNELFACTORY_H_
#define SNAREFUSE_COMMONCOOKEPAIRKERNELFACTORY_H_

#include "CommonCookePairKernel.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/internal/ContextImpl.h"
#include <string>

namespace Snarefuse {

/**
 * A GPU platform's kernel factory: the common-compute kernel on the platform's first (or only) device context, as
 * OpenMM's GPU platforms create their own common kernels. PlatformT is OpenMM's CudaPlatform, OpenCLPlatform or
 * HipPlatform, whose PlatformData holds one device context per device; the file that instantiates it includes
 * that platform's context header, so that its context converts to the ComputeContext the kernel takes.
 */
template <class PlatformT>
class CommonCookePairKernelFactory : public OpenMM::KernelFactory {
public:
    explicit CommonCookePairKernelFactory(const std::string& platformName) : platformName(platformName) {}
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform,
                                         OpenMM::ContextImpl& context) const {
        auto& data = *static_cast<typename PlatformT::PlatformData*>(context.getPlatformData());
        if (data.contexts.size() > 1)
            throw OpenMM::OpenMMException("CookePairForce: the " + platformName +
                                          " kernel runs on one device (set DeviceIndex to one)");
        if (name == CalcCookePairForceKernel::Name())
            return new CommonCalcCookePairForceKernel(name, platform, *data.contexts[0]);
        throw OpenMM::OpenMMException("snarefuse Cooke plugin: no " + platformName + " kernel named " + name);
    }

private:
    std::string platformName;
};

/**
 * Registers the factory with the loaded platform named platformName, from a kernel library's
 * registerKernelFactories(): OpenMM calls it when the library is loaded, after OpenMM's own platforms are.
 */
template <class PlatformT>
void registerCommonCookePairKernelFactory(const std::string& platformName) {
    for (int i = 0; i < OpenMM::Platform::getNumPlatforms(); i++) {
        OpenMM::Platform& platform = OpenMM::Platform::getPlatform(i);
        if (platform.getName() == platformName)
            platform.registerKernelFactory(CalcCookePairForceKernel::Name(),
                                           new CommonCookePairKernelFactory<PlatformT>(platformName));
    }
}

} // namespace Snarefuse

#endif
