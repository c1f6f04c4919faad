#!/usr/bin/env bash
# Engine accuracy benchmark (not CI): full MNIST, official 60k/10k split.
# MLP 784-800-800-10 and the small CNN (conv 32-64-128 with BatchNorm), Adam with cosine decay.
# Prints one JSON line per model with its test accuracy; floors: MLP >= 98.0%, CNN >= 99.0%.
# Usage: bash bench/accuracy.sh [out-dir]   (about 9 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bench-accuracy}
node bin/kdistill.js train mlp-784-800-800-10 --dataset mnist --epochs 12 --lr 0.001 --seed 1 --out "$out"
node bin/kdistill.js train cnn-32-64-128 --dataset mnist --epochs 6 --lr 0.002 --seed 1 --out "$out"
