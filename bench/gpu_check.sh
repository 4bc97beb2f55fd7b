#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py): build the native plugin with its CUDA kernel, run the CUDA tests, benchmark
# native / poly / expression on CUDA in single and mixed precision. Two steps:
#
#   bench/gpu_check.sh --fetch-wheels     # here, with network: this OpenMM's wheels for the GPU machine's Python
#                                         # (cp312: openmm and openmm-cuda-13) into .whl/ (git-ignored, ~17 MB)
#   bench/gpu_check.sh [gpu_check.py options]   # on the GPU machine, from the repository root, .whl/ carried
#
# On the GPU machine the wheels are installed into $GPU_SITE (default /tmp/site; never into its Python), snarefuse
# is used from this checkout (PYTHONPATH), and OpenMM's CUDA platform finds cuFFT and NVRTC in that Python's
# nvidia-* packages or the CUDA toolkit. LAMMPS is not needed (bench_throughput skips it where it is absent).
# Output: $OUT (else bench/results/gpu_check): gpu_check.log, fusion.json, throughput.json, summary.json.
# Exit status: 0 when every stage passed.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
PY_VERSION=${GPU_PYTHON_VERSION:-3.12}

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    version=$(python -c "import openmm.version as v; print(v.short_version)") || exit 1
    mkdir -p "$WHEELS"
    python -m pip download --no-deps --only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
        --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$WHEELS" "openmm==$version" "openmm-cuda-13==$version" || exit 1
    ls -l "$WHEELS"
    exit 0
fi

PYTHON=${PYTHON:-python3}
OUT=${OUT:-bench/results/gpu_check}
SITE=${GPU_SITE:-/tmp/site}
mkdir -p "$OUT"
{
    echo "gpu_check: $(date -u) on $(hostname); $(nproc) CPUs"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    if compgen -G "$WHEELS/*.whl" > /dev/null; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            "$WHEELS"/*.whl || { echo "installing $WHEELS/*.whl failed"; exit 1; }
        export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    export PATH=$(dirname "$(command -v "$PYTHON")"):$PATH   # that Python's cmake for the plugin build
    # libOpenMMCUDA needs libcufft.so.12 and libnvrtc.so.13 (and the driver's libcuda.so.1, found by ldconfig)
    libdirs=$("$PYTHON" - <<'PYEOF'
import glob, os, site, sys
roots = [p for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path if os.path.isdir(p)]
roots += glob.glob("/usr/local/cuda*/lib64") + glob.glob("/usr/local/cuda*/targets/x86_64-linux/lib")
dirs = []
for lib in ("libcufft.so.12", "libnvrtc.so.13"):
    for root in roots:
        hits = glob.glob(os.path.join(root, lib)) + glob.glob(os.path.join(root, "nvidia", "**", lib), recursive=True)
        if hits:
            d = os.path.dirname(hits[0])
            dirs += [d] if d not in dirs else []
            break
print(":".join(dirs))
PYEOF
)
    export LD_LIBRARY_PATH=${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    "$PYTHON" -c "import openmm as mm; print('OpenMM', mm.__version__, 'platforms',
        [mm.Platform.getPlatform(i).getName() for i in range(mm.Platform.getNumPlatforms())],
        'plugin load failures', mm.Platform.getPluginLoadFailures())"
    PYTHONUNBUFFERED=1 "$PYTHON" bench/gpu_check.py --out "$OUT" "$@"
} 2>&1 | tee "$OUT/gpu_check.log"
