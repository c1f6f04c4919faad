import { loadLid176 } from './src/distill/teachers/fasttext.js';
import http from 'node:http'; import https from 'node:https';
for (const m of [http, https]) { const r = m.request; (m as any).request = (...a: unknown[]) => { throw new Error('network used'); }; void r; }
(globalThis as any).fetch = () => { throw new Error('fetch used'); };
const ft = await loadLid176(); console.log(ft.detect('Das ist ein deutscher Satz.'));
