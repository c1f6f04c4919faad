/** What crosses between a party and the coordinator, as the message log records it. */
export interface ProtocolMessage {
  readonly round: number;
  readonly party: number;
  /** up: the party sends; down: the coordinator sends. */
  readonly direction: 'up' | 'down';
  /** The protocol step: `logits`, `digest`, `label-logits`, `label-targets`, `params`, … */
  readonly kind: string;
  /** Each field's array length (numbers for scalars): what a test inspects. */
  readonly fields: Readonly<Record<string, number>>;
  /** Bytes of the arrays carried (float32: 4 per value). */
  readonly bytes: number;
}

/** Array lengths and total bytes of a message's typed arrays. */
export function describePayload(payload: Record<string, unknown>): { fields: Record<string, number>; bytes: number } {
  const fields: Record<string, number> = {};
  let bytes = 0;
  const visit = (k: string, v: unknown) => {
    if (ArrayBuffer.isView(v)) {
      fields[k] = (v as Float32Array).length;
      bytes += v.byteLength;
    } else if (Array.isArray(v)) v.forEach((x, i) => visit(`${k}[${i}]`, x));
    else if (typeof v === 'number') fields[k] = 1;
  };
  for (const [k, v] of Object.entries(payload)) visit(k, v);
  return { fields, bytes };
}

/** The parties' side of a protocol, whatever carries the calls (worker threads here). */
export interface PartyLink {
  readonly index: number;
  /** Calls a party method; `kind` and the payload names are what the message log records of the request and the reply. */
  call<T>(
    method: string,
    args: unknown[],
    log?: { round: number; kind: string; down?: Record<string, unknown>; up?: (r: T) => Record<string, unknown> },
  ): Promise<T>;
  release(): Promise<void>;
}
