#!/bin/bash
# Runs kd_step.py the way a fair torch baseline needs on this VM (docs/engine.md):
# - the Debian torch links the reference BLAS by default (~3 GFLOPS); pick OpenBLAS, and its OpenMP
#   build, because the pthread build oversubscribes against torch's own OpenMP pool;
# - a first-touch page fault costs ~12 us/4 KiB here, and glibc would mmap/trim big activations every
#   step, so keep freed memory resident.
# Usage: bench/torch/run_tuned.sh --pair cnn --threads 2 [--steps 30] [--batch 128] [--channels-last]
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296
exec /usr/bin/python3 "$(dirname "$0")/kd_step.py" "$@"
