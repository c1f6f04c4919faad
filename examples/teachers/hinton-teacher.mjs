// The teacher of Hinton, Vinyals & Dean (2015), section 3: 784-1200-1200-10 with dropout (0.2 on the inputs, 0.5 on
// the hidden units). Registered as a zoo model so mnist-mlp-1200.yaml can train it.
export function register(kd) {
  kd.registerZooModel('hinton-teacher-1200', ({ inputShape, classes }) =>
    kd.mlp([inputShape.reduce((a, b) => a * b, 1), 1200, 1200, classes], {
      inputShape: [...inputShape],
      dropout: 0.5,
      inputDropout: 0.2,
      name: 'hinton-teacher-1200',
    }),
  );
}
