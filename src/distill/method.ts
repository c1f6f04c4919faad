import type { z } from 'zod';
import type { Value } from '../graph/graph.js';
import type { PartnerSampler } from '../data/batches.js';
import type { BuildContext } from '../nn/context.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Schedule } from '../optim/schedule.js';
import type { Alternation } from '../runtime/alternation.js';

export type { Alternation };

/** The family a method belongs to, as the survey sorts distilled knowledge (plus plain supervision). */
export type KnowledgeKind = 'label' | 'response' | 'feature' | 'relation' | 'online' | 'self' | 'adversarial';

/** The graph values a method's loss may read. Teacher values are step inputs: no gradient flows into the teacher. */
export interface MethodInputs {
  /** Student outputs by name (`logits`), plus every node named by `studentNodes`. */
  readonly student: Readonly<Record<string, Value>>;
  /** Teacher outputs by name (`logits`, features). */
  readonly teacher: Readonly<Record<string, Value>>;
  /** Class labels, int64 [N]. */
  readonly labels: Value;
  /**
   * Where a method declares its own trainable parameters (adapters such as FitNets' regressor): they
   * train with the student and are dropped at export. Absent outside a training step.
   */
  readonly aux?: BuildContext;
  /** Dataset indices of the batch's samples, int64 [N]; present when the method's `needs` asks for it (memory banks keyed by sample). */
  readonly sampleIndex?: Value;
  /**
   * 1 where the user of the batch's row has a known (training) interaction with the item, else 0; float [N, items].
   * Present when the method's `needs` asks for `known` (ranking distillation leaves these out of the teacher's top-K).
   */
  readonly known?: Value;
  /** Number of samples in the training set (sizes a memory bank keyed by sample index); present in training steps. */
  readonly numSamples?: number;
  /** The extra models the method's `needs` declared, by name: each applies that model (shared weights) to a value. */
  readonly models?: Readonly<Record<string, (x: Value) => Value>>;
  /** The boundary samples the method's `needs` asked for (see {@link BoundarySampling}); present in training steps only. */
  readonly boundary?: BoundaryInputs;
}

/**
 * Samples the trainer pushed through the frozen teacher towards a decision boundary (BSS), one row per batch
 * sample: rows the teacher got wrong were not attacked and hold the clean sample.
 */
export interface BoundaryInputs {
  /** The student's logits on the boundary samples [N, C]: a second pass of the student, sharing its parameters. */
  readonly student: Value;
  /** The teacher's logits on them [N, C] (a step input: no gradient). */
  readonly teacher: Value;
  /** 1 where the row was attacked (the teacher classified the clean sample correctly), else 0; float [N]. */
  readonly attacked: Value;
  /** The schedule's factor at this step (`BoundarySampling.weight`), a scalar. */
  readonly weight: Value;
}

/**
 * What a method asks the trainer to compute for every batch through the frozen teacher before the step (BSS's
 * attack): each correctly classified sample is moved by gradient steps on the teacher's logits from its class b
 * towards a class k drawn from the teacher's other probabilities, and the step reads the result as `boundary`.
 */
export interface BoundarySampling {
  /** Attack iterations (each one teacher forward and backward). */
  readonly steps: number;
  /** Step size η of x ← x + η·(z_b − z_k + 1e-4)·∇(z_k − z_b)/‖∇(z_k − z_b)‖₂. */
  readonly stepSize: number;
  /** The factor the step reads as `boundary.weight` in epoch `epoch` (1-based) of `epochs` (the paper's decay). */
  weight(epoch: number, epochs: number): number;
}

/** A loss with objectives for the extra models the method trains (a discriminator's loss, a generator's). */
export interface MethodLoss {
  /** What the student minimises (weighted into the step's total). */
  readonly loss: Value;
  /** Scalars extra models descend instead, by the names their `objective` gives. */
  readonly objectives: Readonly<Record<string, Value>>;
}

/**
 * A model a method trains beside the student, with an optimizer, learning rate and objective of its own (a
 * discriminator, a generator): by default both are updated in the same step, the student on the total loss, this
 * model on its objective; with `alternate` they take turns. Its parameters are adapters (checkpointed, never
 * exported with the student).
 */
export interface ExtraModel {
  /** Its name: the key in `MethodInputs.models` and the name of its parameter group. */
  readonly name: string;
  readonly module: Module;
  readonly optimizer: Optimizer;
  /** The key of the method's `objectives` it descends. */
  readonly objective: string;
  /** Its peak learning rate (default: the student's). */
  readonly lr?: number;
  /** Its schedule (default: the student's). */
  readonly schedule?: Schedule;
  /** Update in turns with the student instead of jointly (see {@link Alternation}). */
  readonly alternate?: Alternation;
}

/**
 * A phase run before the main training (FitNets' hint stage, AB's boundary initialisation, FT's
 * paraphraser pre-training). Adapter parameters it trains keep their values into the main phase, where
 * the method may declare them again as trainable parameters or, to freeze them, as buffers.
 */
export interface PretrainPhase<O> {
  /** Epochs over the training set, at the run's learning rate and optimizer. */
  readonly epochs: number;
  /** `adapters`: only the method's own parameters train (student frozen); `student`: the student trains too. */
  readonly trains: 'adapters' | 'student';
  /** The phase's scalar loss (same inputs as the main loss; adapters are declared in `aux` under the same names). */
  loss(inputs: MethodInputs, o: O): Value;
}

/**
 * What a method asks the trainer for, beyond the batch and the teacher's outputs. The trainer reads these
 * and provides them; a method never touches data loading or sessions itself.
 */
export interface MethodNeeds {
  /** The batch's dataset indices as `sampleIndex` (per-sample state keyed by sample, such as CRD's memory banks). */
  readonly sampleIndex?: boolean;
  /** Each row's user's known items as `known` (interaction data only: the trainer reads them from the dataset). */
  readonly known?: boolean;
  /**
   * Batches with a partner for each anchor, chosen by this sampler (CS-KD's same-class pairs): the first half
   * of the batch are anchors, the second half their partners, in the same order.
   */
  readonly partners?: PartnerSampler;
  /** Stale copies of a cohort's peers, refreshed every `refreshEvery` steps (codistillation), as `stale/peerK/…` outputs. */
  readonly staleCopies?: boolean;
  /** Models trained beside the student with optimizers and objectives of their own (see {@link ExtraModel}). */
  readonly models?: readonly ExtraModel[];
  /** Samples moved towards the teacher's decision boundary for each batch, read as `boundary` (see {@link BoundarySampling}). */
  readonly boundary?: BoundarySampling;
}

/**
 * One distillation method: what it needs, its options with canonical defaults (a zod schema, so configs
 * are validated up front and round-trip as data), and its loss as graph ops. It never runs a session.
 */
export interface DistillMethod<O extends Record<string, unknown> = Record<string, unknown>> {
  readonly name: string;
  readonly kind: KnowledgeKind;
  /** One line for `kdistill methods` and docs, with the paper it follows. */
  readonly description: string;
  readonly options: z.ZodType<O>;
  /** Teacher outputs the method reads, `logits` or intermediate node names (fetched per batch). */
  teacherOutputs(o: O): string[];
  /** Student nodes the method reads by name besides its outputs (features tapped in the step graph). */
  studentNodes?(o: O): string[];
  /** Emits the scalar loss (with objectives, when the method trains extra models). */
  loss(inputs: MethodInputs, o: O): Value | MethodLoss;
  /** What the trainer must provide for this loss beyond the batch (see {@link MethodNeeds}); absent: nothing. */
  needs?(o: O): MethodNeeds;
  /** A phase to run before the main training, if these options ask for one. */
  pretrain?(o: O): PretrainPhase<O> | undefined;
}
