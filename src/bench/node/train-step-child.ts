// One plain-training measurement in its own process, so its peak resident set is the step's alone (as the PyTorch
// peer's is): `kdistill bench` forks this file and reads one JSON message back.
import '../../node-setup.js';
import { benchTrainStep, type TrainPair } from '../train-step.js';
import { peakRssMb } from './peak-rss.js';

const [pair, threads, steps] = process.argv.slice(2);
const r = await benchTrainStep(pair as TrainPair, Number(threads), Number(steps));
process.send!({ ...r, peakRssMb: peakRssMb() });
process.disconnect();
