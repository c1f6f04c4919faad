/**
 * The runtime-independent part of kdistill (`import { Model } from 'kdistill/browser'`): building graphs
 * and models, their gradients and optimizers, the distillation methods, and configs parsed from text. Nothing
 * reachable from here imports a Node module or onnxruntime-node (package.test.ts checks the compiled
 * import graph). It cannot train or run anything yet: the browser runtime on onnxruntime-web, and the
 * data, teachers and Distiller on top of it, are the next issue's. Until then this entry is reserved and
 * its contents may grow.
 */

// Errors: every failure meant for users is a KdError with a stable `code`.
export { KdError } from './util/errors.js';

// The graph builder: values, ONNX operations with gradients, serialisation.
export { Graph, Value } from './graph/graph.js';
/** The graph operations models, losses and custom steps are written in (`op.relu(x)`, `op.matmul(a, b)`, …), each with its gradient. */
export * as op from './graph/ops.js';
export { parseOnnx, toOnnx } from './graph/onnx.js';
export type { DType, Dim, Shape, TensorData } from './graph/types.js';
export { gradients } from './autodiff/gradients.js';

// Models: the zoo, layers, and losses as graph ops.
export { Model, type BuiltModel, type ModelDef } from './nn/model.js';
export { cnn, isZooModelName, lenet5, mlp, resnet, textClassifier, transformerClassifier, zooModel } from './nn/zoo/index.js';
export { Fn, Module, Sequential } from './nn/module.js';
export { BuildContext, type InputSpec, type Mode } from './nn/context.js';
export { GELU, gelu, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh } from './nn/layers/activation.js';
export { Conv2d, type Conv2dOptions } from './nn/layers/conv.js';
export { Dropout } from './nn/layers/dropout.js';
export { Embedding } from './nn/layers/embedding.js';
export { Linear, type LinearOptions } from './nn/layers/linear.js';
export { BatchNorm, LayerNorm, type BatchNormOptions } from './nn/layers/norm.js';
export { AvgPool2d, GlobalAvgPool, MaxPool2d } from './nn/layers/pool.js';
export { Flatten, Reshape } from './nn/layers/shape.js';
export { accuracy, agreement, crossEntropy, kdKl } from './nn/losses.js';

// Optimizers and learning-rate schedules.
export { adam, adamw, lrAt, sgd, type AdamOptions, type Optimizer, type Schedule, type SgdOptions } from './optim/index.js';

// Distillation methods: the registry, what a method is, and the combined loss.
export { getMethod, methodRegistry, registerMethod } from './distill/registry.js';
export type { DistillMethod, KnowledgeKind, MethodInputs, PretrainPhase } from './distill/method.js';
export { distillationLoss, type LossTerm } from './distill/loss.js';

// Configs: YAML text validated and resolved in a context the caller supplies (no files, no process).
export { ConfigError, configSchema, configToYaml, parseConfig } from './config/index.js';
export type { ConfigContext, ConfigInput, ConfigRegistry, ResolvedConfig } from './config/index.js';
