#include "CookePairForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include "openmm/serialization/SerializationProxy.h"
#include <typeinfo>

using namespace OpenMM;
using namespace Snarefuse;

namespace {

/** XML form of CookePairForce, so Systems holding it can be saved, copied and loaded where the plugin is. */
class CookePairForceProxy : public SerializationProxy {
public:
    CookePairForceProxy() : SerializationProxy("CookePairForce") {}

    void serialize(const void* object, SerializationNode& node) const {
        node.setIntProperty("version", 1);
        const CookePairForce& force = *reinterpret_cast<const CookePairForce*>(object);
        node.setIntProperty("forceGroup", force.getForceGroup());
        node.setStringProperty("name", force.getName());
        node.setIntProperty("method", (int) force.getNonbondedMethod());
        node.setDoubleProperty("epsilon", force.getDefaultEpsilon());
        node.setDoubleProperty("sigma", force.getDefaultSigma());
        node.setDoubleProperty("wc", force.getDefaultWc());
        SerializationNode& particles = node.createChildNode("Particles");
        for (int i = 0; i < force.getNumParticles(); i++) {
            double b, a;
            force.getParticleParameters(i, b, a);
            particles.createChildNode("Particle").setDoubleProperty("b", b).setDoubleProperty("a", a);
        }
        SerializationNode& exclusions = node.createChildNode("Exclusions");
        for (int k = 0; k < force.getNumExclusions(); k++) {
            int i, j;
            force.getExclusionParticles(k, i, j);
            exclusions.createChildNode("Exclusion").setIntProperty("p1", i).setIntProperty("p2", j);
        }
    }

    void* deserialize(const SerializationNode& node) const {
        if (node.getIntProperty("version") != 1)
            throw OpenMMException("CookePairForce: unsupported serialization version " +
                                  std::to_string(node.getIntProperty("version")) + " (this plugin reads version 1)");
        CookePairForce* force = new CookePairForce(node.getDoubleProperty("epsilon"), node.getDoubleProperty("sigma"),
                                                   node.getDoubleProperty("wc"));
        try {
            force->setForceGroup(node.getIntProperty("forceGroup", 0));
            force->setName(node.getStringProperty("name", "CookePairForce"));
            force->setNonbondedMethod((CookePairForce::NonbondedMethod) node.getIntProperty("method"));
            for (const SerializationNode& p : node.getChildNode("Particles").getChildren())
                force->addParticle(p.getDoubleProperty("b"), p.getDoubleProperty("a"));
            for (const SerializationNode& e : node.getChildNode("Exclusions").getChildren())
                force->addExclusion(e.getIntProperty("p1"), e.getIntProperty("p2"));
        }
        catch (...) {
            delete force;
            throw;
        }
        return force;
    }
};

struct RegisterProxy {
    RegisterProxy() { SerializationProxy::registerProxy(typeid(CookePairForce), new CookePairForceProxy()); }
};

// Registered when the library is loaded (Platform.loadPluginLibrary or ctypes), before any System is read.
RegisterProxy registerProxy;

} // namespace
