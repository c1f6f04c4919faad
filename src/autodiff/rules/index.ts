// Importing a rules file registers its gradients; add one line per op family.
import './elementwise.js';
import './matmul.js';
import './reduce.js';
import './shape.js';
import './conv.js';
import './pool.js';
import './norm.js';
import './resize.js';
