/**
 * The report page's script, inlined into report.html after uPlot: it reads the embedded JSON and draws the curves.
 * Kept as plain ES2020 text (not compiled code) so what runs in the page is exactly this, with no bundler helpers.
 */
export const CLIENT_JS = `(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('kd-data').textContent);
  var palette = ['#1f6feb', '#d1242f', '#1a7f37', '#bf8700', '#8250df', '#bc4c00', '#cf222e', '#0a7ea4', '#57606a', '#6e7781'];
  // Batch-level numbers are noisy; a centred moving average shows the trend (the raw values are in metrics.jsonl).
  function smooth(a, w) {
    if (w <= 1) return a;
    var out = new Array(a.length), h = Math.floor(w / 2);
    for (var i = 0; i < a.length; i++) {
      var s = 0, n = 0;
      for (var j = Math.max(0, i - h); j <= Math.min(a.length - 1, i + h); j++) if (a[j] !== null) { s += a[j]; n++; }
      out[i] = n ? s / n : null;
    }
    return out;
  }
  function draw(el, title, xlabel, x, series, extraScale, integerX) {
    var width = Math.max(320, el.clientWidth || 560);
    var xAxis = integerX ? { label: xlabel, incrs: [1, 2, 5, 10, 20, 50, 100] } : { label: xlabel };
    var axes = [xAxis, { label: series.length && series[0].axis ? series[0].axis : '' }];
    if (extraScale) axes.push({ scale: extraScale.key, side: 1, label: extraScale.label, grid: { show: false } });
    var opts = {
      title: title, width: width, height: 250,
      scales: { x: { time: false } },
      axes: axes,
      legend: { live: true },
      series: [{ label: xlabel }].concat(series.map(function (s, i) {
        return { label: s.label, stroke: s.color || palette[i % palette.length], width: s.width || 1.5, dash: s.dash,
          scale: s.scale || 'y', spanGaps: true, points: { show: !!s.points } };
      })),
    };
    new uPlot(opts, [x].concat(series.map(function (s) { return s.values; })), el);
  }
  // A stack's j-th image onto a canvas, each value a block of pixels; grey for inputs, a warm ramp for attention.
  function paint(canvas, stack, j, warm) {
    var scale = Math.max(1, Math.floor(96 / stack.width));
    canvas.width = stack.width * scale;
    canvas.height = stack.height * scale;
    var ctx = canvas.getContext('2d'), img = ctx.createImageData(canvas.width, canvas.height), v = stack.values[j];
    for (var y = 0; y < canvas.height; y++)
      for (var x = 0; x < canvas.width; x++) {
        var t = v[Math.floor(y / scale) * stack.width + Math.floor(x / scale)], o = 4 * (y * canvas.width + x);
        img.data[o] = warm ? 255 * Math.min(1, 1.6 * t) : 255 * t;
        img.data[o + 1] = warm ? 255 * t * t : 255 * t;
        img.data[o + 2] = warm ? 90 * (1 - t) : 255 * t;
        img.data[o + 3] = 255;
      }
    ctx.putImageData(img, 0, 0);
  }
  document.querySelectorAll('canvas[data-map]').forEach(function (c) {
    var p = c.getAttribute('data-map').split('|'), a = data.runs[Number(p[0])].attention, j = Number(p[1]);
    if (p[2] === 'input') return paint(c, a.images, j, false);
    var pair = a.pairs[Number(p[2])];
    paint(c, p[3] === 'teacher' ? pair.teacher : pair.student, j, true);
  });
  var accNames = { acc: 'batch accuracy', agree: 'agreement with teacher', task: 'task accuracy' };
  document.querySelectorAll('[data-chart]').forEach(function (el) {
    var parts = el.getAttribute('data-chart').split('|');
    var run = data.runs[Number(parts[0])], kind = parts[1], stage = parts[2];
    if (kind === 'val') {
      var which = stage === 'loss' ? 'valLoss' : 'valAccuracy';
      var stages = Object.keys(run.epochs);
      var maxE = 0;
      stages.forEach(function (s) { run.epochs[s].epoch.forEach(function (e) { maxE = Math.max(maxE, e); }); });
      var xs = []; for (var e = 1; e <= maxE; e++) xs.push(e);
      var ser = stages.map(function (s, i) {
        var ep = run.epochs[s], vals = xs.map(function (x) { var k = ep.epoch.lastIndexOf(x); return k < 0 ? null : ep[which][k]; });
        var axis = 'validation ' + (stage === 'loss' ? 'loss' : 'accuracy');
        return { label: s, values: vals, points: true, axis: axis, color: palette[i % palette.length] };
      });
      return draw(el, 'Validation ' + (stage === 'loss' ? 'loss' : 'accuracy') + ' after each epoch', 'epoch', xs, ser, undefined, true);
    }
    var st = run.steps[stage];
    if (!st) return;
    var names = Object.keys(st.series), w = Math.max(1, Math.round(st.step.length / 60));
    if (kind === 'loss') {
      var terms = names.filter(function (n) { return !(n in accNames) && n !== 'grad_norm'; });
      var ser2 = terms.map(function (n) {
        return { label: n, values: smooth(st.series[n], w), axis: 'loss', width: n === 'loss' ? 2.2 : 1.4 };
      });
      var extra;
      if (names.indexOf('grad_norm') >= 0) {
        ser2.push({ label: 'grad_norm', values: smooth(st.series.grad_norm, w), scale: 'g', dash: [4, 4], color: '#9a6700', width: 1 });
        extra = { key: 'g', label: 'gradient norm' };
      }
      return draw(el, stage + ': loss terms per step', 'step', st.step, ser2, extra);
    }
    if (kind === 'acc') {
      var ser3 = names.filter(function (n) { return n in accNames; }).map(function (n) {
        return { label: accNames[n], values: smooth(st.series[n], w), axis: 'share of the batch' };
      });
      return draw(el, stage + ': accuracy and teacher agreement per step', 'step', st.step, ser3);
    }
  });
})();
`;
