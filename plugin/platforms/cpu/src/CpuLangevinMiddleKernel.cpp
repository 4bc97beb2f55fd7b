#include "CpuLangevinMiddleKernel.h"
#include "CpuCallerWorks.h"
#include "CpuPlatform.h"
#include "SimTKOpenMMRealType.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/vectorize.h"
#include "openmm/reference/ReferencePlatform.h"
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

using namespace OpenMM;
using namespace Snarefuse;

namespace {
/** A 32-bit integer as a float in (0, 1] (never 0, so its logarithm is finite). */
inline float openUnit(uint32_t x) {
    return ((x >> 8) + 1) * (1.0f / 16777216.0f);
}

/**
 * sin(2 pi t) and cos(2 pi t), lane by lane: t reduced to a quarter turn q/4 plus at most 1/8 turn, the sine and
 * cosine of that angle (|phi| <= pi/4) by the minimax polynomials of Cephes' sinf and cosf (errors of a few float
 * ulp), then turned by q quarters.
 */
inline void sinCosOfTurns(fvec4 t, fvec4& sine, fvec4& cosine) {
    t = t - round(t);                                    // [-1/2, 1/2]
    const fvec4 q = round(t * fvec4(4.0f));              // quarter turns, -2 .. 2
    const fvec4 phi = (t - q * fvec4(0.25f)) * fvec4(6.283185307179586f);
    const fvec4 z = phi * phi;
    const fvec4 s = ((fvec4(-1.9515295891e-4f) * z + fvec4(8.3321608736e-3f)) * z - fvec4(1.6666654611e-1f)) * z * phi + phi;
    const fvec4 c = ((fvec4(2.443315711809948e-5f) * z - fvec4(1.388731625493765e-3f)) * z + fvec4(4.166664568298827e-2f)) * z * z -
                    fvec4(0.5f) * z + fvec4(1.0f);
    const fvec4 quarter = q - fvec4(4.0f) * floor(q * fvec4(0.25f));  // 0 .. 3
    const fvec4 odd = (quarter == fvec4(1.0f)) | (quarter == fvec4(3.0f));
    const fvec4 sinNegative = quarter >= fvec4(2.0f);
    const fvec4 cosNegative = (quarter == fvec4(1.0f)) | (quarter == fvec4(2.0f));
    const fvec4 sinTurned = blend(s, c, odd), cosTurned = blend(c, s, odd);
    sine = blend(sinTurned, -sinTurned, sinNegative);
    cosine = blend(cosTurned, -cosTurned, cosNegative);
}
}

bool CpuIntegrateLangevinMiddleStepKernel::applies(const System& system) {
    if (!switchFromEnvironment(LANGEVIN_ENV))
        return false;
    if (system.getNumConstraints() > 0)
        return false;
    for (int i = 0; i < system.getNumParticles(); i++)
        if (system.isVirtualSite(i))
            return false;
    return true;
}

void CpuIntegrateLangevinMiddleStepKernel::gaussianLanes(uint64_t seed, long long step, int first,
                                                         float out[GAUSSIAN_LANES][3]) {
    // Philox4x32-10 for GAUSSIAN_LANES consecutive particles at once: counter (particle, step, a tag for this use),
    // key the seed, bumped between the ten rounds. The lanes are independent, so their multiplies overlap (~6 ns a
    // particle here against ~25 ns one at a time).
    constexpr int W = GAUSSIAN_LANES;
    uint32_t c0[W], c1[W], c2[W], c3[W];
    for (int l = 0; l < W; l++) {
        c0[l] = (uint32_t) (first + l);
        c1[l] = (uint32_t) step;
        c2[l] = (uint32_t) ((unsigned long long) step >> 32);
        c3[l] = 0x4C4D4944u;
    }
    uint32_t k0 = (uint32_t) seed, k1 = (uint32_t) (seed >> 32);
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        for (int l = 0; l < W; l++) {
            const uint64_t p0 = (uint64_t) 0xD2511F53u * c0[l], p1 = (uint64_t) 0xCD9E8D57u * c2[l];
            const uint32_t n0 = (uint32_t) (p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t) (p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t) p1;
            c3[l] = (uint32_t) p0;
            c0[l] = n0;
            c2[l] = n2;
        }
    }
    // Box-Muller: two normal numbers from words 0 and 1, one from words 2 and 3; four lanes at a time in OpenMM's
    // fvec4, with its vector logarithm and the sine and cosine below (libm's scalar calls took ~2/3 of the noise's
    // time, ~8 % of a 3,000-bead step).
    static_assert(W % 4 == 0, "the lanes are taken four at a time");
    alignas(16) float u0[W], u1[W], u2[W], u3[W], x[W], y[W], z[W];
    for (int l = 0; l < W; l++) {
        u0[l] = openUnit(c0[l]);
        u1[l] = openUnit(c1[l]);
        u2[l] = openUnit(c2[l]);
        u3[l] = openUnit(c3[l]);
    }
    for (int l = 0; l < W; l += 4) {
        const fvec4 r0 = sqrt(fvec4(-2.0f) * log(fvec4(u0 + l))), r1 = sqrt(fvec4(-2.0f) * log(fvec4(u2 + l)));
        fvec4 sin0, cos0, sin1, cos1;
        sinCosOfTurns(fvec4(u1 + l), sin0, cos0);
        sinCosOfTurns(fvec4(u3 + l), sin1, cos1);
        (r0 * cos0).store(x + l);
        (r0 * sin0).store(y + l);
        (r1 * cos1).store(z + l);
    }
    for (int l = 0; l < W; l++) {
        out[l][0] = x[l];
        out[l][1] = y[l];
        out[l][2] = z[l];
    }
}

void CpuIntegrateLangevinMiddleStepKernel::initialize(const System& system, const LangevinMiddleIntegrator& integrator) {
    const int numParticles = system.getNumParticles();
    masses.resize(numParticles);
    inverseMasses.resize(numParticles);
    sqrtInverseMasses.resize(numParticles);
    for (int i = 0; i < numParticles; i++) {
        masses[i] = system.getParticleMass(i);
        inverseMasses[i] = masses[i] == 0.0 ? 0.0 : 1.0 / masses[i];
        sqrtInverseMasses[i] = std::sqrt(inverseMasses[i]);
    }
    // As OpenMM's integrators: a seed of 0 means a different one for every Context.
    const int requested = integrator.getRandomNumberSeed();
    if (requested != 0)
        seed = (uint64_t) (uint32_t) requested;
    else {
        std::random_device device;
        seed = ((uint64_t) device() << 32) | device();
    }
    pinThreads = pinThreadsFromEnvironment();
}

void CpuIntegrateLangevinMiddleStepKernel::execute(ContextImpl& context, const LangevinMiddleIntegrator& integrator) {
    auto* ref = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    ThreadPool& threads = CpuPlatform::getPlatformData(context).threads;
    if (pinThreads) {
        pinPoolThreads(threads);
        pinThreads = false;  // once per Context
    }
    std::vector<Vec3>& x = *ref->positions;
    std::vector<Vec3>& v = *ref->velocities;
    const std::vector<Vec3>& f = *ref->forces;
    const double dt = integrator.getStepSize(), halfdt = 0.5 * dt;
    const double vscale = std::exp(-dt * integrator.getFriction());
    const double noisescale = std::sqrt(1 - vscale * vscale) * std::sqrt(BOLTZ * integrator.getTemperature());
    const long long step = ref->stepCount;
    const int numParticles = (int) masses.size();
    const int numThreads = threads.getNumThreads();
    // ReferenceLangevinMiddleDynamics' three updates fused (no constraints: its third one leaves v unchanged and
    // sets x to the new positions). Each thread takes the particles OpenMM's CPU platform gives the same pool thread
    // when it converts the positions and sums the forces, so they stay in that core's cache.
    auto update = [&](int slot) {
        const int stop = (int) ((long long) numParticles * (slot + 1) / numThreads);
        float g[GAUSSIAN_LANES][3];
        for (int first = (int) ((long long) numParticles * slot / numThreads); first < stop; first += GAUSSIAN_LANES) {
            gaussianLanes(seed, step, first, g);
            for (int i = first; i < std::min(stop, first + GAUSSIAN_LANES); i++) {
                if (inverseMasses[i] == 0.0)
                    continue;
                const float* n = g[i - first];
                Vec3 vi = v[i] + (dt * inverseMasses[i]) * f[i];
                Vec3 xi = x[i] + vi * halfdt;
                vi = vscale * vi + (noisescale * sqrtInverseMasses[i]) * Vec3(n[0], n[1], n[2]);
                x[i] = xi + vi * halfdt;
                v[i] = vi;
            }
        }
    };
    if (numThreads == 1)
        update(0);
    else {
        threads.execute([&](ThreadPool&, int t) { update(t); });
        threads.waitForThreads();
    }
    ref->time += dt;
    ref->stepCount++;
}

double CpuIntegrateLangevinMiddleStepKernel::computeKineticEnergy(ContextImpl& context,
                                                                  const LangevinMiddleIntegrator&) {
    auto* ref = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    const std::vector<Vec3>& v = *ref->velocities;
    double energy = 0;
    for (size_t i = 0; i < masses.size(); i++)
        energy += masses[i] * v[i].dot(v[i]);
    return 0.5 * energy;
}
