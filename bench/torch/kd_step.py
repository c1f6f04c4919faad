#!/usr/bin/python3
"""PyTorch reference for `kdistill bench`: one full KD training step, or one plain training step, timed.

Usage: /usr/bin/python3 bench/torch/kd_step.py --pair mlp|cnn|cnn-train|resnet20 --threads 1|2
           [--steps 30] [--batch 128] [--channels-last]
mlp and cnn time the KD step of the reference pair; cnn-train (the teacher CNN) and resnet20 (32x32,
the zoo's CIFAR ResNet) time plain training: forward in train mode, cross-entropy, backward, Adam.
Prints one JSON line on stdout. Run it through bench/torch/run_tuned.sh: without
OpenBLAS and the malloc settings there, torch is 4-38x slower on this VM and the
comparison is meaningless (see docs/engine.md, "Comparing with PyTorch fairly").
"""
import argparse, json, os, resource, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument('--pair', choices=['mlp', 'cnn', 'cnn-train', 'resnet20'], required=True)
ap.add_argument('--threads', type=int, choices=[1, 2], required=True)
ap.add_argument('--steps', type=int, default=30)
ap.add_argument('--batch', type=int, default=128)
ap.add_argument('--channels-last', action='store_true')
args = ap.parse_args()
if args.channels_last and args.pair == 'mlp':
    ap.error('--channels-last applies to the convolutional pairs only')

torch.set_num_threads(args.threads)
torch.manual_seed(0)
T, ALPHA = 4.0, 0.5


def mlp(sizes):  # Linear+ReLU, no activation after the last layer
    layers = []
    for i in range(1, len(sizes)):
        layers.append(nn.Linear(sizes[i - 1], sizes[i]))
        if i < len(sizes) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def cnn(channels):  # block = conv3x3(pad 1, no bias) -> BN -> ReLU -> maxpool2
    layers, cin, hw = [], 1, 28
    for c in channels:
        layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c, eps=1e-5, momentum=0.1), nn.ReLU(), nn.MaxPool2d(2)]
        cin, hw = c, hw // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * hw * hw, 10))


class Block(nn.Module):  # the zoo's basic residual block (src/nn/zoo/resnet.ts)
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(h + (x if self.proj is None else self.proj(x)))


def resnet20(width=16):
    layers, c = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()], width
    for s in range(3):
        for b in range(3):
            layers.append(Block(c, width << s, 2 if s > 0 and b == 0 else 1))
            c = width << s
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


teacher = None
if args.pair == 'mlp':
    teacher, student, in_shape = mlp([784, 1200, 1200, 10]), mlp([784, 800, 800, 10]), (784,)
elif args.pair == 'cnn':
    teacher, student, in_shape = cnn([32, 64, 128]), cnn([8, 16]), (1, 28, 28)
elif args.pair == 'cnn-train':
    student, in_shape = cnn([32, 64, 128]), (1, 28, 28)
else:
    student, in_shape = resnet20(), (3, 32, 32)
if teacher is not None:
    teacher.eval().requires_grad_(False)
student.train()
x = torch.randn(args.batch, *in_shape)
y = torch.randint(0, 10, (args.batch,))
if args.channels_last:
    fmt = torch.channels_last
    student = student.to(memory_format=fmt)
    if teacher is not None:
        teacher = teacher.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
opt = torch.optim.Adam(student.parameters(), lr=1e-3)


def step():
    """Returns (loss, teacher forward ms); the teacher share is timed inside the step."""
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    if teacher is None:
        t_ms = 0.0
        loss = F.cross_entropy(student(x), y)
    else:
        with torch.no_grad():
            t_logits = teacher(x)
        t_ms = (time.perf_counter() - t0) * 1e3
        s = student(x)
        kl = F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t_logits / T, 1),
                      reduction='batchmean', log_target=True)
        loss = ALPHA * F.cross_entropy(s, y) + (1 - ALPHA) * T * T * kl
    loss.backward()
    opt.step()
    return loss.item(), t_ms


def peak_rss_mb():
    # VmHWM, not ru_maxrss: ru_maxrss survives fork and exec, so a peer started by a large parent (the bench driver)
    # would report the parent's size as its own peak
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def blas_in_use():
    """The BLAS library actually mapped into this process (torch's build info only says 'generic')."""
    with open('/proc/self/maps') as f:
        libs = {l.split()[-1] for l in f if 'blas' in l.rsplit('/', 1)[-1]}
    real = sorted({os.path.realpath(p) for p in libs})
    for p in real:
        if 'openblas' in p:
            try:  # already loaded, so this reuses the same handle
                import ctypes
                lib = ctypes.CDLL(p)
                lib.openblas_get_config.restype = ctypes.c_char_p
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return f'{p} ({lib.openblas_get_config().decode().strip()}; core {lib.openblas_get_corename().decode()})'
            except (OSError, AttributeError):
                return p
    return ', '.join(real) or 'none mapped'


for _ in range(3):  # warm-up: allocator pools, oneDNN primitive caches, OpenMP pool
    step()
step_ms, teacher_ms = [], []
for _ in range(args.steps):
    t0 = time.perf_counter()
    loss, t_ms = step()
    step_ms.append((time.perf_counter() - t0) * 1e3)
    teacher_ms.append(t_ms)

med = statistics.median(step_ms)
print(json.dumps({
    'engine': f'torch-{torch.__version__}' + ('-channels_last' if args.channels_last else ''),
    'pair': args.pair, 'threads': torch.get_num_threads(), 'batch': args.batch, 'steps': args.steps,
    'stepMsMedian': round(med, 2), 'imgPerSec': round(args.batch / med * 1e3),
    'teacherFwdMs': round(statistics.median(teacher_ms), 2), 'loss': round(loss, 5),
    'blas': blas_in_use(),
    # peak resident set of this process (warm-up and timed steps included), as the kdistill side reports it
    'peakRssMb': peak_rss_mb(),
    # glibc reads these only at startup, so the environment is the ground truth
    'malloc_tuned': bool(os.environ.get('MALLOC_MMAP_THRESHOLD_') and os.environ.get('MALLOC_TRIM_THRESHOLD_')),
}))
