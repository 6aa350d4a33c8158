#!/bin/bash
# The checks that need a GPU, in one run on a lent CUDA machine: the CUDA tests (they skip
# without a GPU, so CI never runs them), then the GPU benchmarks, whose JSON files
# (benchmarks/results/*_cuda.json) are copied to $OUT with the test report and the logs.
#
# A machine whose Python lacks some of the package's dependencies gets them as wheels in
# .whl (installed into /tmp/site with --no-deps); the package itself runs from the checkout.
#
#   OUT=/tmp/gpu bash benchmarks/device_checks.sh
set -u
OUT=${OUT:-/tmp/device_checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
{
    nvidia-smi -L
    python3 -c "import torch, monai; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'monai', monai.__version__)"
} > "$OUT/machine.txt" 2>&1
CUDA_TESTS="tests/networks/test_unet2015.py tests/transforms/test_elastic.py tests/engines/test_workflows.py
tests/losses/test_weighted_cross_entropy.py tests/inferers/test_overlap_tile.py tests/data/test_loaders.py"
# shellcheck disable=SC2086
timeout 180 python3 -m pytest -q -rs -p no:cacheprovider -k cuda $CUDA_TESTS > "$OUT/cuda_tests.txt" 2>&1
echo "pytest exit status: $?" >> "$OUT/cuda_tests.txt"
for bench in "bench_precision.py --device cuda" "bench_precision.py --device cuda --large" "bench_trainer.py" \
    "bench_networks.py --device cuda --quick"; do
    echo "== $bench" >> "$OUT/bench.log"
    # shellcheck disable=SC2086
    timeout 150 python3 benchmarks/$bench >> "$OUT/bench.log" 2>&1
    echo "exit status: $?" >> "$OUT/bench.log"
done
cp benchmarks/results/*_cuda*.json "$OUT/" 2>/dev/null
ls "$OUT"
