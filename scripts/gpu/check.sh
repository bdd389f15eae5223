#!/usr/bin/env bash
# Second lease: the CUDA tests (tests/test_gpu.py) and the shipped generators' GPU µs/jet.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv
timeout 110 python3 -m pytest tests/test_gpu.py -m gpu -q -p no:cacheprovider -o addopts="" 2>&1 | tail -n 25
timeout 45 python3 scripts/gpu/bench.py cuda
