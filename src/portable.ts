/**
 * The part of kdistill's public API that is the same on every runtime, re-exported by both entries: `src/index.ts`
 * (Node) and `src/browser.ts` (browser), which each register their runtime first and add what only they have.
 */

// Errors: every failure meant for users is a KdError with a stable `code`.
export { KdError } from './util/errors.js';

// Distillation as an object: teacher + student + loss, fit, evaluate, export.
export {
  Distiller,
  type DistillerFitOptions,
  type DistillerOptions,
  type DistillerTeacher,
  type DistillEvaluation,
} from './frontends/distiller.js';
export { distillationLoss, type LossTerm } from './distill/loss.js';

// The config runner (what `kdistill run config.yaml` does); each entry adds how it reads config text.
export { ConfigError, configToYaml } from './config/index.js';
export type { ConfigContext, ConfigInput, ConfigRegistry, ResolvedConfig } from './config/index.js';
export { configRegistry } from './frontends/config-registry.js';
export { RunDir } from './train/run-dir.js';
export { formatSummary, runExperiment, type RunOptions, type RunSummary, type SummaryRow } from './frontends/run-config.js';

// Distillation methods: the registry and what a method is.
export { getMethod, methodRegistry, registerMethod } from './distill/registry.js';
export type {
  Alternation,
  BoundaryInputs,
  BoundarySampling,
  DistillMethod,
  ExtraModel,
  KnowledgeKind,
  MethodInputs,
  MethodLoss,
  MethodNeeds,
  PretrainPhase,
} from './distill/method.js';
export { classPairs } from './distill/samplers/class-pairs.js';
export { cohort, peerModel, type CohortDef } from './distill/schemes/cohort.js';
export { codistillationCohort } from './distill/schemes/stale-copies.js';

// Models: the zoo, layers, and the graph builder underneath.
export { Model, type BuiltModel, type ModelDef } from './nn/model.js';
export {
  cnn,
  customZooModelNames,
  isZooModelName,
  lenet5,
  mlp,
  registerZooModel,
  resnet,
  textClassifier,
  transformerClassifier,
  zooModel,
  type ZooBuilder,
  type ZooShape,
} from './nn/zoo/index.js';
export { importOnnx, type ImportOptions } from './nn/import/onnx-student.js';
// Language models and quantisation-aware training.
export { causalLm, convLm, type ConvLmOptions, type LmOptions } from './nn/zoo/lm.js';
export { isQuantizationAware, qatParams, withQuantization, QAT_KEY, type QatParams } from './nn/quant/model.js';
export type { QuantSpec } from './nn/quant/spec.js';
export { fitLm, perplexity, scoreWindows, teacherWindows, topkAnswers, type FitLmOptions, type TopkAnswers } from './train/lm/fit.js';
export { generate, generateBatch, type SampleOptions } from './train/lm/generate.js';
export { checkSameTokenizer, tokenizerMetadata, tokenizerOf, TOKENIZER_KEY } from './train/lm/lm-file.js';
export { windowsOf, type Windows } from './train/lm/windows.js';
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
export { Graph, Value } from './graph/graph.js';
/** The graph operations models, losses and custom steps are written in (`op.relu(x)`, `op.matmul(a, b)`, …), each with its gradient. */
export * as op from './graph/ops.js';
export { parseOnnx, toOnnx } from './graph/onnx.js';
export type { DType, Dim, Shape, TensorData } from './graph/types.js';
export { gradients } from './autodiff/gradients.js';

// Optimizers and learning-rate schedules.
export {
  adam,
  adamw,
  lrAt,
  optimizerFrom,
  optimizerSpec,
  scheduleFrom,
  scheduleSpec,
  sgd,
  type AdamOptions,
  type Optimizer,
  type OptimizerSpec,
  type Schedule,
  type ScheduleSpec,
  type SgdOptions,
} from './optim/index.js';

// Datasets: parsers of bytes and text, the bundled-dataset registry and sample files (each entry adds its loaders).
export * from './data/index.js';
export { bundledDataset, bundledDatasetNames, registerBundledDataset, type BundledLoader } from './data/bundled.js';
export { packDataset, unpackDataset } from './data/pack.js';

// Teachers: the protocol and its implementations.
export type { Teacher } from './runtime/teacher.js';
export { startOnnxTeacher, type OnnxTeacherOptions } from './runtime/onnx-teacher.js';
export { FunctionTeacher, type FunctionBatch, type FunctionTeacherOptions } from './distill/teachers/function.js';
export type { Answer, PartialOptions } from './distill/teachers/answers.js';
export { HttpTeacher, type HttpTeacherOptions } from './distill/teachers/http.js';
export { EnsembleTeacher, type EnsembleMember } from './distill/teachers/ensemble.js';
export { PoolTeacher } from './distill/teachers/pool.js';
export { DEFAULT_CACHE_DIR, TeacherCache, type CacheStats, type TeacherCacheOptions } from './distill/teachers/cache.js';
export { ensembleKey, functionKey, httpKey, onnxKey, type Keyed } from './distill/teachers/keys.js';
// Teacher adapters: a teacher's own preprocessing and output kind compiled into its ONNX graph.
export { adaptTeacher, type AdaptTeacherOptions } from './distill/teachers/adapt.js';
export { withInputNorm, type InputNorm } from './nn/input-norm.js';
export {
  LAYOUTS,
  OUTPUT_KINDS,
  type Layout,
  type OutputKind,
  type TeacherInputAdapter,
  type TeacherOutputAdapter,
} from './distill/teachers/adapter-spec.js';

// Training and evaluating one classifier, and a custom training step.
export {
  agreementRate,
  evaluateClassifier,
  fitClassifier,
  type EvalOptions,
  type Evaluation,
  type FitOptions,
} from './train/classifier.js';
export { SharedState, TrainSession } from './runtime/train-session.js';
export type { LossOutput, ParamGroup, TrainStepSpec } from './runtime/train-graph.js';
export { Procedure, type ProcedureUpdate } from './train/procedure.js';

// The experiment core under the front-ends: a run as a plan of stages, checked, then executed.
export { planFromConfig } from './frontends/config-plan.js';
export type { Recipe, RunData, RunPlan, StagePlan } from './train/plan.js';
export type { TeacherSpec } from './distill/teachers/spec.js';
export { preflight } from './train/preflight.js';
export { executePlan, type ExecuteOptions } from './train/execute.js';

// Export for deployment: ONNX, inference, reduced precision, and the export report.
export { exportOnnx, Predictor, type ExportOptions } from './runtime/inference.js';
export { collectRanges, quantizeInt8, toFloat16, type Float16Options, type Int8Options } from './runtime/quantize.js';
export {
  exportReport,
  formatExportReport,
  type ExportReport,
  type ExportResult,
  type ExportRow,
  type Precision,
} from './report/export-report.js';

// ONNX inspection: inputs, outputs, parameters and the nodes a feature method can tap.
export { inspectModel, type ModelInfo } from './report/model-info.js';

// Files in memory (the browser's storage; a test's on Node) and the runtime seam.
export { MemoryStorage, type StorageChange } from './runtime/memory-storage.js';
export { runtime, type Runtime } from './runtime/runtime.js';
export type { Storage } from './runtime/storage.js';
export { benchKdStep, type KdStepResult } from './bench/kd-step.js';
