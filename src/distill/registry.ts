import { KdError } from '../util/errors.js';
import type { DistillMethod } from './method.js';
import { ab } from './methods/feature/ab.js';
import { at } from './methods/feature/at.js';
import { crd } from './methods/feature/crd.js';
import { fitnets } from './methods/feature/fitnets.js';
import { ft } from './methods/feature/ft.js';
import { nst } from './methods/feature/nst.js';
import { reviewkd } from './methods/feature/reviewkd.js';
import { ce } from './methods/label/ce.js';
import { gkd } from './methods/language/gkd.js';
import { reverseKl } from './methods/language/reverse-kl.js';
import { tokenCe } from './methods/language/token-ce.js';
import { tokenKl } from './methods/language/token-kl.js';
import { cc } from './methods/relation/cc.js';
import { irg } from './methods/relation/irg.js';
import { vid } from './methods/feature/vid.js';
import { fsp } from './methods/relation/fsp.js';
import { pkt } from './methods/relation/pkt.js';
import { rkd } from './methods/relation/rkd.js';
import { sp } from './methods/relation/sp.js';
import { dist } from './methods/response/dist.js';
import { dkd } from './methods/response/dkd.js';
import { kd } from './methods/response/kd.js';
import { logitMse } from './methods/response/logit-mse.js';
import { byot } from './methods/self/byot.js';
import { cskd } from './methods/self/cskd.js';
import { tfkd } from './methods/self/tfkd.js';
import { codistill } from './methods/online/codistill.js';
import { dml } from './methods/online/dml.js';
import { peerEnsemble } from './methods/online/peer-ensemble.js';
import { bss } from './methods/adversarial/bss.js';
import { discriminator } from './methods/adversarial/discriminator.js';
import { rd } from './methods/ranking/rd.js';

const methods = new Map<string, DistillMethod>();

/** Registers a method under its name; adding a method is one file plus one line here. */
export function registerMethod<O extends Record<string, unknown>>(m: DistillMethod<O>): void {
  methods.set(m.name, m as unknown as DistillMethod);
}

registerMethod(ce);
registerMethod(kd);
registerMethod(dkd);
registerMethod(dist);
registerMethod(logitMse);
registerMethod(at);
registerMethod(fitnets);
registerMethod(nst);
registerMethod(ab);
registerMethod(ft);
registerMethod(sp);
registerMethod(pkt);
registerMethod(rkd);
registerMethod(fsp);
registerMethod(cc);
registerMethod(crd);
registerMethod(reviewkd);
registerMethod(vid);
registerMethod(irg);
registerMethod(tfkd);
registerMethod(cskd);
registerMethod(byot);
registerMethod(dml);
registerMethod(peerEnsemble);
registerMethod(codistill);
registerMethod(tokenCe);
registerMethod(tokenKl);
registerMethod(reverseKl);
registerMethod(gkd);
registerMethod(discriminator);
registerMethod(bss);
registerMethod(rd);

/** All registered methods by name. */
export function methodRegistry(): ReadonlyMap<string, DistillMethod> {
  return methods;
}

/** The registered method called `name`; KdError UNKNOWN_METHOD lists the known ones. */
export function getMethod(name: string): DistillMethod {
  const m = methods.get(name);
  if (!m) throw new KdError('UNKNOWN_METHOD', `unknown distillation method '${name}'; known: ${[...methods.keys()].join(', ')}`);
  return m;
}
