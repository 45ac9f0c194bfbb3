// The app of the interactive map: analysis.map inlines this file into reports/<corpus>/map.html.
// It reads the JSON of the data block #semspace-data and draws every image as one point with its own
// renderer, no library: WebGL (all points in one draw call), or, without WebGL (or with
// ?renderer=canvas, or where WebGL is software-rendered), a 2D canvas that rasterises the points into pixels above
// RASTER_THRESHOLD points. Hit-testing (hover, click) goes through a uniform grid over the data, so
// it costs a few cells whatever the number of points; hover labels are built only when shown. The
// small layers (links, neighbours, the selected image) are drawn on an overlay canvas with the axes.
// Interaction: drag a box to zoom, wheel to zoom, shift-drag (or the arrow keys) to pan, alt-drag (or
// the "Drag to" control) draws a lasso or a box that lists the images inside, double-click resets,
// Esc clears. A click or hover picks the point nearest the pointer in whole screen pixels (the pixel
// the pointer is in against the pixel each point's centre is in), within the hit radius; of equally
// near points the one drawn on top (see drawRank). Colour: set size, distance to the selected image
// (its top-k neighbours under the chosen measure, the rest "beyond top-k") or cluster (D.clusters).
// Thumbnails (D.thumbs, where the page was built with --images or --image-urls) on hover and in the
// panel.
// window.semspaceMap (ready, renderer, n, pointPixel, pick, select, neighbours, search, highlighted,
// setMeasure, setColour, colourMode, colourOf, lasso, box, marked, view, setView, zoom, pan, reset,
// stats) is for tests.
(function () {
  'use strict';
  var startedAt = performance.now();  // the page's HTML (the data block included) is parsed by now
  var D = JSON.parse(document.getElementById('semspace-data').textContent);
  var parsedAt = performance.now();
  var plot = document.getElementById('plot');
  var glCanvas = document.getElementById('points');
  var overlay = document.getElementById('overlay');
  var octx = overlay.getContext('2d');
  var gridCanvas = document.getElementById('grid');  // below the points: grid lines and ticks
  var gctx = gridCanvas.getContext('2d');
  var tip = document.getElementById('hover');
  var boxEl = document.getElementById('zoombox');
  var measure = D.measure;  // the neighbour lists shown: image_neighbors ranked by this measure
  var current = null;  // the selected image id
  var RASTER_THRESHOLD = 10000;  // 2D canvas: above this many points, pixels instead of arcs
  var MARGIN = { l: 60, r: 20, t: 52, b: 55 };
  var HIT_SLACK = 4;  // px beyond a point's radius where the pointer still hovers or clicks it
  var thumbs = Array.isArray(D.thumbs) ? D.thumbs : null;  // per image a thumbnail URL or null
  var clusters = Array.isArray(D.clusters) && D.n_clusters > 0 ? D.clusters : null;
  var colourMode = 'size';

  function formatValue(v) {
    if (v === null || v === undefined) return '\u2013';
    return Number.isInteger(v) ? String(v) : v.toFixed(3);
  }
  var n = D.ids.length;
  var index = new Map();
  var byCoco = new Map();
  for (var i = 0; i < n; i++) {
    index.set(D.ids[i], i);
    var c = D.coco_ids[i];
    if (c !== null && c !== undefined) {
      if (!byCoco.has(c)) byCoco.set(c, []);
      byCoco.get(c).push(i);
    }
  }

  // ------------------------------------------------------------------------------ the data
  var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (var p = 0; p < n; p++) {
    var px = D.x[p], py = D.y[p];
    if (px < minX) minX = px; if (px > maxX) maxX = px;
    if (py < minY) minY = py; if (py > maxY) maxY = py;
  }
  if (!n) { minX = minY = -1; maxX = maxY = 1; }
  if (maxX === minX) { minX -= 1; maxX += 1; }
  if (maxY === minY) { minY -= 1; maxY += 1; }
  var midX = (minX + maxX) / 2, midY = (minY + maxY) / 2;
  var positions = new Float32Array(2 * n);  // relative to the middle: float32 keeps its precision
  for (var q = 0; q < n; q++) { positions[2 * q] = D.x[q] - midX; positions[2 * q + 1] = D.y[q] - midY; }

  // colour: |A| on viridis, the distance to the selected image on a red scale, clusters on Tableau 10
  var VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
                 [53, 183, 121], [110, 206, 88], [181, 222, 43], [253, 231, 37]];
  var REDS = [[103, 0, 13], [165, 15, 21], [203, 24, 29], [239, 59, 44], [251, 106, 74], [252, 146, 114],
              [252, 187, 161]];  // nearest first
  var TABLEAU = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
                 [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];
  var BEYOND = [208, 208, 208], SELF = [0, 0, 0];
  var tokMin = Infinity, tokMax = -Infinity;
  D.n_tokens.forEach(function (v) { if (v !== null) { if (v < tokMin) tokMin = v; if (v > tokMax) tokMax = v; } });
  if (tokMin === Infinity) { tokMin = 0; tokMax = 1; }
  function ramp(scale, t) {
    t = Math.max(0, Math.min(1, t)) * (scale.length - 1);
    var k = Math.min(Math.floor(t), scale.length - 2), f = t - k, a = scale[k], b = scale[k + 1];
    return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
  }
  function viridis(t) { return ramp(VIRIDIS, t); }
  function clusterColour(c) {  // past ten clusters: the palette again, darker
    var base = TABLEAU[c % TABLEAU.length], shade = Math.pow(0.7, Math.floor(c / TABLEAU.length));
    return [base[0] * shade, base[1] * shade, base[2] * shade];
  }
  var colours = new Uint8Array(4 * n);
  var packed = new Uint32Array(n);  // ABGR for the 2D rasteriser (little-endian ImageData)
  var distanceScale = null;  // {near, far, measure} of the colouring by distance, as the legend shows it
  function setColourAt(r, rgb, alpha) {
    colours[4 * r] = rgb[0]; colours[4 * r + 1] = rgb[1]; colours[4 * r + 2] = rgb[2]; colours[4 * r + 3] = alpha;
    packed[r] = (255 << 24 | Math.round(rgb[2]) << 16 | Math.round(rgb[1]) << 8 | Math.round(rgb[0])) >>> 0;
  }
  function computeColours() {  // every point's colour under colourMode (by distance: to the selection)
    var r;
    distanceScale = null;
    if (colourMode === 'cluster' && clusters) {
      for (r = 0; r < n; r++) setColourAt(r, clusterColour(clusters[r]), 191);
    } else if (colourMode === 'distance') {
      for (r = 0; r < n; r++) setColourAt(r, BEYOND, 140);
      var sel = current === null ? undefined : index.get(current);
      if (sel !== undefined) {
        var listed = D.neighbours_by[measure][sel], values = D.values_by[measure][sel];
        var known = values.filter(function (v) { return v !== null && v !== undefined; });
        var low = known.length ? Math.min.apply(null, known) : 0, high = known.length ? Math.max.apply(null, known) : 1;
        var closer = !!(D.larger_is_closer && D.larger_is_closer[measure]);
        listed.forEach(function (nid, j) {
          var m = index.get(nid);
          if (m === undefined) return;
          var v = values[j];
          var t = v === null || v === undefined ? 1 : high === low ? 0 : (closer ? high - v : v - low) / (high - low);
          setColourAt(m, ramp(REDS, t), 230);
        });
        setColourAt(sel, SELF, 255);
        distanceScale = { near: closer ? high : low, far: closer ? low : high, measure: measure };
      }
    } else {
      for (r = 0; r < n; r++) {
        var size = D.n_tokens[r];
        setColourAt(r, viridis(size === null ? 0 : (size - tokMin) / Math.max(tokMax - tokMin, 1e-9)), 191);
      }
    }
  }
  computeColours();

  // the hit-testing grid: points bucketed by data cell (counting sort), ~4 points per cell
  var G = Math.max(1, Math.min(1024, Math.ceil(Math.sqrt(n / 4))));
  var cellW = (maxX - minX) / G, cellH = (maxY - minY) / G;
  var cellStart = new Int32Array(G * G + 1), cellItems = new Int32Array(n);
  function cellOf(x, y) {
    var cx = Math.min(G - 1, Math.max(0, Math.floor((x - minX) / cellW)));
    var cy = Math.min(G - 1, Math.max(0, Math.floor((y - minY) / cellH)));
    return cy * G + cx;
  }
  (function () {
    var cells = new Int32Array(n);
    for (var a = 0; a < n; a++) { cells[a] = cellOf(D.x[a], D.y[a]); cellStart[cells[a] + 1]++; }
    for (var b = 0; b < G * G; b++) cellStart[b + 1] += cellStart[b];
    var fill = cellStart.slice(0, G * G);
    for (var e = 0; e < n; e++) cellItems[fill[cells[e]]++] = e;
  })();

  // ------------------------------------------------------------------------------ the view
  var W = 0, H = 0, dpr = 1;  // the plot's CSS size
  var area = { x: 0, y: 0, w: 1, h: 1 };  // the plotting area inside it (CSS px)
  var view = { cx: midX, cy: midY, s: 1 };  // data point at the area's centre, px per data unit
  var home = null;
  function fitView() {
    var s = Math.min(area.w / ((maxX - minX) * 1.08), area.h / ((maxY - minY) * 1.08));
    return { cx: midX, cy: midY, s: s };
  }
  function toPx(x, y) {
    return [area.x + area.w / 2 + (x - view.cx) * view.s, area.y + area.h / 2 - (y - view.cy) * view.s];
  }
  function toData(sx, sy) {
    return [view.cx + (sx - area.x - area.w / 2) / view.s, view.cy - (sy - area.y - area.h / 2) / view.s];
  }
  function legendBottom() {
    var el = document.getElementById('legend');
    return Math.max(MARGIN.t, Math.ceil(el.offsetTop + el.offsetHeight + 6));
  }
  function resize() {
    var box = plot.getBoundingClientRect();
    var wasHome = !home || (view.cx === home.cx && view.cy === home.cy && view.s === home.s);
    W = Math.max(1, box.width); H = Math.max(1, box.height); dpr = window.devicePixelRatio || 1;
    [gridCanvas, glCanvas, overlay].forEach(function (cv) {
      cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr);
      cv.style.width = W + 'px'; cv.style.height = H + 'px';
    });
    var top = legendBottom();  // a legend wrapped on a narrow plot pushes the plotting area down
    area = { x: MARGIN.l, y: top, w: Math.max(1, W - MARGIN.l - MARGIN.r), h: Math.max(1, H - top - MARGIN.b) };
    home = fitView();
    if (wasHome) view = { cx: home.cx, cy: home.cy, s: home.s };  // else the user's view stays
    var xt = document.querySelector('.xtitle'), yt = document.querySelector('.ytitle');
    xt.style.left = area.x + 'px'; xt.style.width = area.w + 'px'; xt.style.top = (area.y + area.h + 28) + 'px';
    yt.style.top = (area.y + area.h / 2) + 'px';
    requestDraw();
  }

  // ------------------------------------------------------------------------------ renderers
  // WebGL where the GPU draws it; a software WebGL (SwiftShader, llvmpipe: a "major performance
  // caveat") is slower than the 2D rasteriser, so it is used only when asked for (?renderer=webgl).
  var forced = (/[?&]renderer=(canvas|svg|webgl)/.exec(location.search) || [])[1];
  var attributes = { antialias: false, premultipliedAlpha: true, alpha: true,
                     failIfMajorPerformanceCaveat: forced !== 'webgl' };
  function softwareWebgl() {  // probed on a canvas of its own: the map's canvas keeps its choice
    try {
      var probe = document.createElement('canvas').getContext('webgl', attributes);
      if (!probe) return true;
      var info = probe.getExtension('WEBGL_debug_renderer_info');
      var name = String(probe.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : probe.RENDERER) || '');
      var lose = probe.getExtension('WEBGL_lose_context');
      if (lose) lose.loseContext();
      return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(name);
    } catch (e) { return true; }
  }
  var gl = null;
  if (forced === 'webgl' || (forced !== 'canvas' && forced !== 'svg' && !softwareWebgl())) {
    try {
      gl = glCanvas.getContext('webgl', attributes) || glCanvas.getContext('experimental-webgl', attributes);
    } catch (e) { gl = null; }
  }
  var renderer = gl ? 'webgl' : 'canvas';
  var glState = null;
  function shader(kind, source) {
    var s = gl.createShader(kind);
    gl.shaderSource(s, source); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  function setupGl() {
    var vs = shader(gl.VERTEX_SHADER,
      'attribute vec2 a_pos; attribute vec4 a_col; uniform vec2 u_offset; uniform vec2 u_scale;' +
      'uniform float u_size; varying vec4 v_col;' +
      'void main() { gl_Position = vec4((a_pos - u_offset) * u_scale, 0.0, 1.0); gl_PointSize = u_size; v_col = a_col; }');
    var fs = shader(gl.FRAGMENT_SHADER,
      'precision mediump float; varying vec4 v_col; uniform float u_ring; uniform vec4 u_ring_col;' +
      'void main() { vec2 d = gl_PointCoord - vec2(0.5); float r = 2.0 * length(d); if (r > 1.0) discard;' +
      ' vec4 c = (u_ring > 0.0 && r > 1.0 - u_ring) ? u_ring_col : v_col; gl_FragColor = vec4(c.rgb * c.a, c.a); }');
    var prog = gl.createProgram();
    gl.attachShader(prog, vs); gl.attachShader(prog, fs); gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    gl.useProgram(prog);
    var st = {
      prog: prog,
      aPos: gl.getAttribLocation(prog, 'a_pos'), aCol: gl.getAttribLocation(prog, 'a_col'),
      uOffset: gl.getUniformLocation(prog, 'u_offset'), uScale: gl.getUniformLocation(prog, 'u_scale'),
      uSize: gl.getUniformLocation(prog, 'u_size'), uRing: gl.getUniformLocation(prog, 'u_ring'),
      uRingCol: gl.getUniformLocation(prog, 'u_ring_col'),
      pos: gl.createBuffer(), col: gl.createBuffer(), match: gl.createBuffer(), nMatch: 0
    };
    gl.bindBuffer(gl.ARRAY_BUFFER, st.pos); gl.bufferData(gl.ARRAY_BUFFER, positions, gl.STATIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, st.col); gl.bufferData(gl.ARRAY_BUFFER, colours, gl.STATIC_DRAW);
    gl.enable(gl.BLEND); gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    gl.disable(gl.DEPTH_TEST);
    return st;
  }
  if (gl) {
    try { glState = setupGl(); } catch (e) { gl = null; glState = null; renderer = 'canvas'; }
  }
  function uploadColours() {
    if (gl) { gl.bindBuffer(gl.ARRAY_BUFFER, glState.col); gl.bufferSubData(gl.ARRAY_BUFFER, 0, colours); }
  }
  var ctx2d = gl ? null : glCanvas.getContext('2d');
  function pointSize() {
    var zoom = home ? view.s / home.s : 1;
    return Math.min(12, 6 * Math.max(1, Math.pow(zoom, 0.25)));
  }
  function drawGl() {
    var st = glState;
    gl.viewport(0, 0, glCanvas.width, glCanvas.height);
    gl.clearColor(0, 0, 0, 0); gl.clear(gl.COLOR_BUFFER_BIT);
    // the plotting area only: viewport and scissor in device pixels, origin bottom-left
    var vx = Math.round(area.x * dpr), vy = Math.round((H - area.y - area.h) * dpr);
    var vw = Math.round(area.w * dpr), vh = Math.round(area.h * dpr);
    gl.viewport(vx, vy, vw, vh);
    gl.enable(gl.SCISSOR_TEST); gl.scissor(vx, vy, vw, vh);
    gl.useProgram(st.prog);
    gl.uniform2f(st.uOffset, view.cx - midX, view.cy - midY);
    gl.uniform2f(st.uScale, 2 * view.s / area.w, 2 * view.s / area.h);
    gl.uniform1f(st.uSize, pointSize() * dpr);
    gl.uniform1f(st.uRing, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, st.pos);
    gl.enableVertexAttribArray(st.aPos); gl.vertexAttribPointer(st.aPos, 2, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, st.col);
    gl.enableVertexAttribArray(st.aCol); gl.vertexAttribPointer(st.aCol, 4, gl.UNSIGNED_BYTE, true, 0, 0);
    if (n) gl.drawArrays(gl.POINTS, 0, n);
    if (st.nMatch) {  // the search matches: one more draw call, one colour, a dark ring
      gl.bindBuffer(gl.ARRAY_BUFFER, st.match);
      gl.vertexAttribPointer(st.aPos, 2, gl.FLOAT, false, 0, 0);
      gl.disableVertexAttribArray(st.aCol);
      gl.vertexAttrib4f(st.aCol, 1.0, 0.624, 0.11, 1.0);
      gl.uniform1f(st.uSize, 8 * dpr); gl.uniform1f(st.uRing, 0.25);
      gl.uniform4f(st.uRingCol, 0.2, 0.2, 0.2, 1.0);
      gl.drawArrays(gl.POINTS, 0, st.nMatch);
    }
    gl.disable(gl.SCISSOR_TEST);
  }
  var raster = null, discs = {};
  function disc(size) {  // the pixel offsets (dx, dy pairs) of a disc of diameter ``size``
    if (!discs[size]) {
      var offsets = [], r = size / 2;
      for (var y = 0; y < size; y++) {
        for (var x = 0; x < size; x++) {
          if ((x + 0.5 - r) * (x + 0.5 - r) + (y + 0.5 - r) * (y + 0.5 - r) <= r * r + 0.25) offsets.push(x, y);
        }
      }
      discs[size] = { size: size, offsets: new Int32Array(offsets) };
    }
    return discs[size];
  }
  var MATCH_FILL = (255 << 24 | 28 << 16 | 159 << 8 | 255) >>> 0, MATCH_RING = (255 << 24 | 51 << 16 | 51 << 8 | 51) >>> 0;
  function stampMatches(buf, cw, ox, oy, k, x0, y0, x1, y1) {  // search matches: a ringed disc each
    if (!want.matches.length) return;
    var outer = disc(Math.max(5, Math.round(8 * dpr))), inner = disc(outer.size - 2 * Math.max(1, Math.round(dpr)));
    var lo = outer.size >> 1, shift = (outer.size - inner.size) >> 1;
    var left = Math.ceil(x0) + lo, top = Math.ceil(y0) + lo;
    var right = Math.floor(x1) - outer.size + lo, bottom = Math.floor(y1) - outer.size + lo;
    var ro = outer.offsets, ri = inner.offsets, list = want.matches;
    for (var j = 0; j < list.length; j++) {
      var m = list[j];
      var sx = Math.round(ox + positions[2 * m] * k), sy = Math.round(oy - positions[2 * m + 1] * k);
      if (sx < left || sy < top || sx > right || sy > bottom) continue;
      var at = (sy - lo) * cw + (sx - lo), o;
      for (o = 0; o < ro.length; o += 2) buf[at + ro[o + 1] * cw + ro[o]] = MATCH_RING;
      at += shift * cw + shift;
      for (o = 0; o < ri.length; o += 2) buf[at + ri[o + 1] * cw + ri[o]] = MATCH_FILL;
    }
  }
  function draw2d() {
    var cw = glCanvas.width, ch = glCanvas.height;
    ctx2d.setTransform(1, 0, 0, 1, 0, 0);
    ctx2d.clearRect(0, 0, cw, ch);
    var x0 = area.x * dpr, y0 = area.y * dpr, x1 = (area.x + area.w) * dpr, y1 = (area.y + area.h) * dpr;
    var ox = (area.x + area.w / 2 - (view.cx - midX) * view.s) * dpr, oy = (area.y + area.h / 2 + (view.cy - midY) * view.s) * dpr;
    var k = view.s * dpr;
    if (n > RASTER_THRESHOLD) {  // straight into pixels: a small disc stamped per point, no paths
      if (!raster || raster.width !== cw || raster.height !== ch) {
        raster = ctx2d.createImageData(cw, ch);
        raster.words = new Uint32Array(raster.data.buffer);
      }
      var buf = raster.words;
      buf.fill(0);
      var stamp = disc(Math.max(2, Math.round(pointSize() * dpr * 0.7))), d = stamp.size, offs = stamp.offsets;
      var lo = stamp.size >> 1, nOff = offs.length;
      var left = Math.ceil(x0) + lo, top = Math.ceil(y0) + lo, right = Math.floor(x1) - d + lo, bottom = Math.floor(y1) - d + lo;
      for (var a = 0; a < n; a++) {
        var sx = Math.round(ox + positions[2 * a] * k), sy = Math.round(oy - positions[2 * a + 1] * k);
        if (sx < left || sy < top || sx > right || sy > bottom) continue;
        var colour = packed[a], at = (sy - lo) * cw + (sx - lo);
        for (var o = 0; o < nOff; o += 2) buf[at + offs[o + 1] * cw + offs[o]] = colour;
      }
      stampMatches(buf, cw, ox, oy, k, x0, y0, x1, y1);
      ctx2d.putImageData(raster, 0, 0);
    } else {
      ctx2d.save();
      ctx2d.beginPath(); ctx2d.rect(x0, y0, x1 - x0, y1 - y0); ctx2d.clip();
      var radius = pointSize() / 2 * dpr;
      for (var b = 0; b < n; b++) {
        var bx = ox + positions[2 * b] * k, by = oy - positions[2 * b + 1] * k;
        if (bx < x0 - radius || by < y0 - radius || bx > x1 + radius || by > y1 + radius) continue;
        ctx2d.fillStyle = 'rgba(' + colours[4 * b] + ',' + colours[4 * b + 1] + ',' + colours[4 * b + 2] + ',' +
          (colours[4 * b + 3] / 255).toFixed(3) + ')';
        ctx2d.beginPath(); ctx2d.arc(bx, by, radius, 0, 2 * Math.PI); ctx2d.fill();
      }
      ctx2d.restore();
    }
  }

  // ------------------------------------------------------------------------------ overlay: axes and highlights
  var lit = { selected: [], neighbours: [], matches: [] };  // positions, as last drawn
  var lassoPath = null;  // the lasso being drawn: plot pixels
  var want = { selected: [], neighbours: [], matches: [] };  // positions, to draw next
  function niceStep(span, target) {
    var raw = span / Math.max(target, 1), mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  }
  function tickLabel(v, step) {
    var places = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    var t = v.toFixed(places);
    return t === '-0' || /^-0\.0*$/.test(t) ? t.slice(1) : t.replace('-', '\u2212');
  }
  function drawGrid() {
    var g = gctx;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    var lo = toData(area.x, area.y + area.h), hi = toData(area.x + area.w, area.y);
    g.font = '12px system-ui, sans-serif'; g.fillStyle = '#444'; g.strokeStyle = '#eee'; g.lineWidth = 1;
    var sx = niceStep(hi[0] - lo[0], area.w / 90), sy = niceStep(hi[1] - lo[1], area.h / 70);
    g.textAlign = 'center'; g.textBaseline = 'top';
    for (var tx = Math.ceil(lo[0] / sx) * sx; tx <= hi[0]; tx += sx) {
      var X = Math.round(toPx(tx, 0)[0]) + 0.5;
      g.beginPath(); g.moveTo(X, area.y); g.lineTo(X, area.y + area.h); g.stroke();
      g.fillText(tickLabel(tx, sx), X, area.y + area.h + 6);
    }
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (var ty = Math.ceil(lo[1] / sy) * sy; ty <= hi[1]; ty += sy) {
      var Y = Math.round(toPx(0, ty)[1]) + 0.5;
      g.beginPath(); g.moveTo(area.x, Y); g.lineTo(area.x + area.w, Y); g.stroke();
      g.fillText(tickLabel(ty, sy), area.x - 6, Y);
    }
    g.strokeStyle = '#bbb'; g.strokeRect(area.x + 0.5, area.y + 0.5, area.w - 1, area.h - 1);
  }
  function drawOverlay() {
    var g = octx;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    g.save();
    g.beginPath(); g.rect(area.x, area.y, area.w, area.h); g.clip();
    if (!gl && n <= RASTER_THRESHOLD && want.matches.length) {  // the 2D renderer's arcs: matches here
      g.fillStyle = '#ff9f1c'; g.strokeStyle = '#333'; g.lineWidth = 1;
      g.beginPath();
      want.matches.forEach(function (m) { var s = toPx(D.x[m], D.y[m]); g.moveTo(s[0] + 4, s[1]); g.arc(s[0], s[1], 4, 0, 2 * Math.PI); });
      g.fill(); if (want.matches.length < 5000) g.stroke();
    }
    var sel = want.selected[0];
    if (sel !== undefined) {
      var o = toPx(D.x[sel], D.y[sel]);
      g.strokeStyle = 'rgba(200,40,30,0.45)'; g.lineWidth = 1;
      g.beginPath();
      want.neighbours.forEach(function (m) { var s = toPx(D.x[m], D.y[m]); g.moveTo(o[0], o[1]); g.lineTo(s[0], s[1]); });
      g.stroke();
    }
    g.fillStyle = '#e4572e'; g.strokeStyle = '#fff'; g.lineWidth = 1.5;
    want.neighbours.forEach(function (m) {  // by distance: each in its colour of the distance scale
      var s = toPx(D.x[m], D.y[m]);
      if (colourMode === 'distance') g.fillStyle = 'rgb(' + colours[4 * m] + ',' + colours[4 * m + 1] + ',' + colours[4 * m + 2] + ')';
      g.beginPath(); g.arc(s[0], s[1], 5, 0, 2 * Math.PI); g.fill(); g.stroke();
    });
    if (sel !== undefined) {
      var c0 = toPx(D.x[sel], D.y[sel]);
      g.fillStyle = '#c1121f'; g.strokeStyle = '#000'; g.lineWidth = 1;
      g.beginPath();
      for (var s5 = 0; s5 < 10; s5++) {
        var ang = -Math.PI / 2 + s5 * Math.PI / 5, rad = s5 % 2 ? 3.6 : 9;
        g.lineTo(c0[0] + rad * Math.cos(ang), c0[1] + rad * Math.sin(ang));
      }
      g.closePath(); g.fill(); g.stroke();
    }
    g.restore();
    if (lassoPath && lassoPath.length > 1) {  // the lasso being drawn
      g.strokeStyle = '#333'; g.fillStyle = 'rgba(255,159,28,0.12)'; g.lineWidth = 1; g.setLineDash([4, 3]);
      g.beginPath();
      lassoPath.forEach(function (pt, j) { if (j) g.lineTo(pt[0], pt[1]); else g.moveTo(pt[0], pt[1]); });
      g.closePath(); g.fill(); g.stroke(); g.setLineDash([]);
    }
  }

  var pending = false, frames = 0, lastFrameMs = 0, waiters = [];
  function frame() {
    pending = false;
    var t0 = performance.now();
    drawGrid();
    if (gl) drawGl(); else draw2d();
    drawOverlay();
    lit = { selected: want.selected.slice(), neighbours: want.neighbours.slice(), matches: want.matches.slice() };
    frames++;
    lastFrameMs = performance.now() - t0;
    var done = waiters; waiters = [];
    done.forEach(function (f) { f(); });
  }
  function requestDraw() {
    if (!pending) { pending = true; requestAnimationFrame(frame); }
    return new Promise(function (resolve) { waiters.push(resolve); });
  }
  function setMatches(list) {
    want.matches = list.slice();
    if (gl) {
      var buf = new Float32Array(2 * list.length);
      list.forEach(function (m, j) { buf[2 * j] = positions[2 * m]; buf[2 * j + 1] = positions[2 * m + 1]; });
      gl.bindBuffer(gl.ARRAY_BUFFER, glState.match); gl.bufferData(gl.ARRAY_BUFFER, buf, gl.DYNAMIC_DRAW);
      glState.nMatch = list.length;
    }
    return requestDraw();
  }

  // ------------------------------------------------------------------------------ hit-testing
  // The layer a point is drawn in, bottom to top: 0 the points (in data order, later over earlier),
  // 1 the search or lasso matches, 2 the selected image's neighbours, 3 the selected image.
  var litSets = null;
  function drawRank(m) {
    if (!litSets || litSets.lit !== lit) {
      litSets = { lit: lit, neighbours: new Set(lit.neighbours), matches: new Set(lit.matches) };
    }
    if (lit.selected[0] === m) return 3;
    if (litSets.neighbours.has(m)) return 2;
    return litSets.matches.has(m) ? 1 : 0;
  }
  function hitRadius() { return pointSize() / 2 + HIT_SLACK; }
  // The point a click at plot pixel (sx, sy) picks: the nearest in whole screen pixels (the pixel the
  // pointer is in against the pixel each point's centre is in), within ``radius``; of equally near
  // ones, the one on top (drawRank, then the later in data order). -1: none.
  function nearest(sx, sy, radius) {
    var box = plot.getBoundingClientRect();
    var qx = Math.floor(box.left + sx), qy = Math.floor(box.top + sy);
    var d = toData(sx, sy), rx = (radius + 1.5) / view.s;
    var c0 = Math.floor((d[0] - rx - minX) / cellW), c1 = Math.floor((d[0] + rx - minX) / cellW);
    var r0 = Math.floor((d[1] - rx - minY) / cellH), r1 = Math.floor((d[1] + rx - minY) / cellH);
    c0 = Math.max(0, c0); r0 = Math.max(0, r0); c1 = Math.min(G - 1, c1); r1 = Math.min(G - 1, r1);
    var best = -1, bestD = radius * radius, bestRank = -1;
    for (var cy = r0; cy <= r1; cy++) {
      for (var cx = c0; cx <= c1; cx++) {
        var cell = cy * G + cx;
        for (var t = cellStart[cell]; t < cellStart[cell + 1]; t++) {
          var m = cellItems[t], s = toPx(D.x[m], D.y[m]);
          var ex = Math.floor(box.left + s[0]) - qx, ey = Math.floor(box.top + s[1]) - qy, dd = ex * ex + ey * ey;
          if (dd > bestD) continue;
          var rank = drawRank(m);
          if (dd < bestD || rank > bestRank || (rank === bestRank && m > best)) { bestD = dd; best = m; bestRank = rank; }
        }
      }
    }
    return best;
  }
  function inArea(sx, sy) { return sx >= area.x && sx <= area.x + area.w && sy >= area.y && sy <= area.y + area.h; }
  // The points whose centres lie inside the polygon ``poly`` (plot pixels) and inside the plotting area.
  function inside(poly) {
    if (poly.length < 3) return [];
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    poly.forEach(function (pt) { x0 = Math.min(x0, pt[0]); x1 = Math.max(x1, pt[0]); y0 = Math.min(y0, pt[1]); y1 = Math.max(y1, pt[1]); });
    var a = toData(x0, y1), b = toData(x1, y0);
    var c0 = Math.max(0, Math.floor((a[0] - minX) / cellW)), c1 = Math.min(G - 1, Math.floor((b[0] - minX) / cellW));
    var r0 = Math.max(0, Math.floor((a[1] - minY) / cellH)), r1 = Math.min(G - 1, Math.floor((b[1] - minY) / cellH));
    var found = [];
    for (var cy = r0; cy <= r1; cy++) {
      for (var cx = c0; cx <= c1; cx++) {
        var cell = cy * G + cx;
        for (var t = cellStart[cell]; t < cellStart[cell + 1]; t++) {
          var m = cellItems[t], s = toPx(D.x[m], D.y[m]);
          if (s[0] < x0 || s[0] > x1 || s[1] < y0 || s[1] > y1 || !inArea(s[0], s[1])) continue;
          var inPoly = false;  // even-odd rule
          for (var i = 0, j = poly.length - 1; i < poly.length; j = i++) {
            var pi = poly[i], pj = poly[j];
            if ((pi[1] > s[1]) !== (pj[1] > s[1]) && s[0] < (pj[0] - pi[0]) * (s[1] - pi[1]) / (pj[1] - pi[1]) + pi[0]) inPoly = !inPoly;
          }
          if (inPoly) found.push(m);
        }
      }
    }
    return found.sort(function (p, q) { return p - q; });
  }

  // ------------------------------------------------------------------------------ hover
  function wrap(s, width) {  // long captions on several lines; the spaces stay at the line ends
    if (s.length <= width) return [s];
    var lines = [], line = '';
    s.split(/(?<= )/).forEach(function (word) {
      if (line && (line + word).length > width) { lines.push(line); line = ''; }
      line += word;
    });
    if (line) lines.push(line);
    return lines;
  }
  function label(i) {
    var c = D.coco_ids[i];
    return 'image ' + D.ids[i] + (c === null || c === undefined ? '' : ' \u00b7 COCO ' + c);
  }
  var hovered = -1;
  function showHover(m, sx, sy) {
    if (m === hovered && !tip.hidden) { placeTip(sx, sy); return; }
    hovered = m;
    if (m < 0) { tip.hidden = true; plot.style.cursor = ''; return; }
    tip.textContent = '';
    var img = thumbnail(m, 'hover');
    if (img) { img.addEventListener('load', function () { if (hovered === m && !tip.hidden) placeTip(lastTip[0], lastTip[1]); }); tip.appendChild(img); }
    var head = document.createElement('div');
    var b = document.createElement('span'); b.className = 'hover-title'; b.textContent = label(m); head.appendChild(b);
    if (D.n_tokens[m] !== null) head.appendChild(document.createTextNode(' \u00b7 |A| = ' + D.n_tokens[m]));
    tip.appendChild(head);
    D.captions[m].forEach(function (cap) {
      wrap(cap, 90).forEach(function (part) {
        var line = document.createElement('div'); line.textContent = part; tip.appendChild(line);
      });
    });
    tip.hidden = false;
    plot.style.cursor = 'pointer';
    placeTip(sx, sy);
  }
  var lastTip = [0, 0];
  function placeTip(sx, sy) {
    lastTip = [sx, sy];
    var w = tip.offsetWidth, h = tip.offsetHeight;
    var left = sx + 14 + w > W ? Math.max(0, sx - 14 - w) : sx + 14;
    var top = Math.min(Math.max(0, sy - h / 2), Math.max(0, H - h));
    tip.style.left = left + 'px'; tip.style.top = top + 'px';
  }

  // ------------------------------------------------------------------------------ the panel
  function text(id, value) { document.getElementById(id).textContent = value; }
  var pct = function (share) { return (100 * share).toFixed(1) + ' %'; };
  var how = D.method === 'full' ? 'classical MDS' : D.method + ' MDS';
  text('title', 'Semantic space map: ' + D.corpus);
  document.title = 'semspace map: ' + D.corpus;
  text('plot-title', D.corpus + ': ' + how + ' of |A \u0394 B|, axes 1 and 2');
  document.querySelector('.xtitle').textContent = 'MDS axis 1 (' + pct(D.axis_share[0]) + ' of the positive eigenvalue sum)';
  document.querySelector('.ytitle').textContent = 'MDS axis 2 (' + pct(D.axis_share[1]) + ')';
  text('meta', n + ' images of dataset ' + D.dataset + '; classical MDS' +
       (D.method === 'full' ? '' : ' (' + D.method + ')') + ' of the symmetric-difference distances: ' +
       D.n_positive + ' positive and ' + D.n_negative + ' negative eigenvalues, axes 1 + 2 carry ' +
       pct(D.axis_share[0] + D.axis_share[1]) + ' of the positive sum. k = ' + D.k + ' neighbours.');

  function safeUrl(u) {
    if (typeof u !== 'string' || !u) return null;
    if (/^(https?|file):/i.test(u)) return u;
    return /^[a-z][a-z0-9+.\-]*:/i.test(u) ? null : u;  // relative paths yes, javascript: etc. no
  }
  // An <img> of image i's thumbnail (D.thumbs), or null where it has none; one that fails to load is
  // taken away. ``where``: its data-where, for tests (hover, selected, neighbour, match).
  function thumbnail(i, where, lazy) {
    var url = thumbs ? safeUrl(thumbs[i]) : null;
    if (!url) return null;
    var img = document.createElement('img');
    img.className = 'thumb'; img.alt = 'image ' + D.ids[i]; img.decoding = 'async';
    img.referrerPolicy = 'no-referrer'; img.dataset.where = where; img.dataset.imageId = D.ids[i];
    if (lazy) img.loading = 'lazy';
    img.addEventListener('error', function () { img.remove(); });
    img.src = url;
    return img;
  }
  function link(i, textValue) {
    var url = safeUrl(D.urls[i]);
    if (!url) return document.createTextNode(textValue);
    var a = document.createElement('a');
    a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer'; a.textContent = textValue;
    a.title = 'open the image';
    a.addEventListener('click', function (ev) { ev.stopPropagation(); });
    return a;
  }
  function cell(row, cls, content) {
    var td = document.createElement('td');
    td.className = cls;
    if (typeof content === 'string') td.textContent = content; else td.appendChild(content);
    row.appendChild(td);
  }

  function select(id) {
    var i = index.get(Number(id));
    if (i === undefined) return Promise.resolve(false);
    document.getElementById('selection').hidden = false;
    text('sel-title', label(i));
    var metaEl = document.getElementById('sel-meta');
    metaEl.textContent = '';
    metaEl.appendChild(document.createTextNode(
      (D.n_tokens[i] === null ? '' : '|A| = ' + D.n_tokens[i] + ' tokens \u00b7 ') +
      '(' + D.x[i].toFixed(2) + ', ' + D.y[i].toFixed(2) + ') \u00b7 '));
    metaEl.appendChild(link(i, safeUrl(D.urls[i]) ? 'open image' : 'no image link'));
    var thumbBox = document.getElementById('sel-thumb');
    thumbBox.textContent = '';
    var big = thumbnail(i, 'selected');
    if (big) thumbBox.appendChild(big);
    var caps = document.getElementById('sel-captions');
    caps.textContent = '';
    D.captions[i].forEach(function (cap) {
      var li = document.createElement('li'); li.textContent = cap; caps.appendChild(li);
    });
    var tbody = document.querySelector('#neighbours tbody');
    var rows = document.createDocumentFragment();
    var present = [];
    var listed = D.neighbours_by[measure][i], values = D.values_by[measure][i];
    listed.forEach(function (nid, r) {
      var ni = index.get(nid);
      var tr = document.createElement('tr');
      tr.dataset.imageId = nid; tr.dataset.distance = values[r]; tr.dataset.rank = r + 1;
      tr.tabIndex = 0;
      cell(tr, 'nb-rank', String(r + 1));
      cell(tr, 'nb-dist', formatValue(values[r]));
      cell(tr, 'nb-id', String(nid));
      if (ni === undefined) {
        cell(tr, 'nb-coco', '\u2013');
        if (thumbs) cell(tr, 'nb-thumb', '');
        cell(tr, 'nb-caption', '(not on the map)');
      } else {
        present.push(ni);
        var c = D.coco_ids[ni];
        cell(tr, 'nb-coco', link(ni, c === null || c === undefined ? 'image' : String(c)));
        if (thumbs) cell(tr, 'nb-thumb', thumbnail(ni, 'neighbour') || '');
        cell(tr, 'nb-caption', D.captions[ni].length ? D.captions[ni][0] : '');
      }
      rows.appendChild(tr);
    });
    tbody.textContent = '';
    tbody.appendChild(rows);
    text('nb-title', listed.length + ' nearest neighbours of image ' + D.ids[i] + ' by ' + measure);
    current = D.ids[i];
    document.body.dataset.selected = D.ids[i];
    want.selected = [i]; want.neighbours = present;
    if (colourMode === 'distance') recolour();
    return requestDraw().then(function () { return true; });
  }

  function clearSelection() {
    document.getElementById('selection').hidden = true;
    document.querySelector('#neighbours tbody').textContent = '';
    delete document.body.dataset.selected;
    current = null;
    want.selected = []; want.neighbours = [];
    if (colourMode === 'distance') recolour();
    return requestDraw();
  }

  var tokenSets = null, lowered = null;
  function tokens(s) { return s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean); }
  var marked = [];  // the images the list under the search box shows: search matches or a lasso's
  function showMatches(list, message) {
    marked = list.slice();
    text('search-result', message);
    var ol = document.getElementById('search-matches');
    ol.textContent = '';
    var frag = document.createDocumentFragment();
    list.slice(0, 300).forEach(function (i) {
      var li = document.createElement('li');
      li.dataset.imageId = D.ids[i];
      var small = thumbnail(i, 'match', true);
      if (small) li.appendChild(small);
      li.appendChild(document.createTextNode(label(i) + ': ' + (D.captions[i][0] || '')));
      frag.appendChild(li);
    });
    if (list.length > 300) {
      var more = document.createElement('li'); more.textContent = '\u2026 ' + (list.length - 300) + ' more on the map';
      more.className = 'more'; frag.appendChild(more);
    }
    ol.appendChild(frag);
    return setMatches(list);
  }
  function search(query) {
    var q = String(query).trim();
    if (!q) return showMatches([], '');
    var num = /^(?:(id|image|coco):\s*)?(\d+)$/i.exec(q);
    if (num) {
      var v = Number(num[2]), kind = (num[1] || '').toLowerCase();
      var hits = [], parts = [];
      if (kind !== 'coco' && index.has(v)) { hits.push(index.get(v)); parts.push('image id ' + v); }
      if (kind !== 'id' && kind !== 'image' && byCoco.has(v)) {
        byCoco.get(v).forEach(function (i) { if (hits.indexOf(i) < 0) hits.push(i); });
        parts.push('COCO id ' + v + ' \u2192 image ' + byCoco.get(v).map(function (i) { return D.ids[i]; }).join(', '));
      }
      if (!hits.length) return showMatches([], 'no image with id or COCO id ' + v);
      var shown = showMatches(hits, hits.length + (hits.length === 1 ? ' image: ' : ' images: ') + parts.join('; '));
      return hits.length === 1 ? select(D.ids[hits[0]]) : shown;
    }
    var words = tokens(q);
    if (!words.length) return showMatches([], 'nothing to search for in \u201c' + q + '\u201d');
    if (!lowered) {  // each image's captions, lower-cased, once; token sets only where needed
      lowered = D.captions.map(function (caps) { return caps.join(' ').toLowerCase(); });
      tokenSets = new Array(n);
    }
    var found = [];
    for (var i = 0; i < n; i++) {
      var textI = lowered[i];
      if (!words.every(function (w) { return textI.indexOf(w) >= 0; })) continue;  // cheap: a substring
      var set = tokenSets[i] || (tokenSets[i] = new Set(tokens(textI)));
      if (words.every(function (w) { return set.has(w); })) found.push(i);
    }
    return showMatches(found, found.length + (found.length === 1 ? ' image' : ' images') +
                       ' whose captions contain \u201c' + words.join('\u201d and \u201c') + '\u201d');
  }

  // The viewport position of a point, as the middle of the screen pixel its centre lies in (what a
  // click there hits), and whether it is inside the plotting area; ``exact``: the centre itself.
  function pointPixel(id) {
    var i = index.get(Number(id));
    if (i === undefined) return null;
    var box = plot.getBoundingClientRect(), s = toPx(D.x[i], D.y[i]);
    return { x: Math.floor(box.left + s[0]) + 0.5, y: Math.floor(box.top + s[1]) + 0.5, inside: inArea(s[0], s[1]),
             exact: { x: box.left + s[0], y: box.top + s[1] } };
  }
  function pick(x, y) {  // the image a click at viewport pixel (x, y) selects, or null
    var box = plot.getBoundingClientRect(), sx = x - box.left, sy = y - box.top;
    var m = inArea(sx, sy) ? nearest(sx, sy, hitRadius()) : -1;
    return m < 0 ? null : D.ids[m];
  }
  function marking(list, how) {  // a lasso's or a box's images: listed, highlighted
    return showMatches(list, list.length + (list.length === 1 ? ' image ' : ' images ') + how).then(function () {
      return list.map(function (m) { return D.ids[m]; });
    });
  }
  function lasso(points) { return marking(inside(points), 'in the lasso'); }
  function boxSelect(xa, ya, xb, yb) {
    var l = Math.min(xa, xb), r = Math.max(xa, xb), t = Math.min(ya, yb), b = Math.max(ya, yb);
    return marking(inside([[l, t], [r, t], [r, b], [l, b]]), 'in the box');
  }
  function neighbours() {
    return Array.prototype.map.call(document.querySelectorAll('#neighbours tbody tr'), function (tr) {
      return { image_id: Number(tr.dataset.imageId), distance: Number(tr.dataset.distance), rank: Number(tr.dataset.rank) };
    });
  }
  function highlighted() {  // what the map shows now: the ids of the last frame drawn
    var ids = function (list) { return list.map(function (m) { return D.ids[m]; }); };
    return { selected: ids(lit.selected), neighbours: ids(lit.neighbours), matches: ids(lit.matches) };
  }

  // ------------------------------------------------------------------------------ navigation
  function setView(v) {
    if (v && isFinite(v.cx) && isFinite(v.cy) && isFinite(v.s) && v.s > 0) {
      view = { cx: v.cx, cy: v.cy, s: Math.max(home.s / 20, Math.min(home.s * 1e6, v.s)) };
    }
    return requestDraw();
  }
  function zoom(factor, sx, sy) {  // about the plot pixel (sx, sy), the area's centre by default
    if (sx === undefined) { sx = area.x + area.w / 2; sy = area.y + area.h / 2; }
    var before = toData(sx, sy), s = view.s * factor;
    return setView({ cx: before[0] - (sx - area.x - area.w / 2) / s, cy: before[1] + (sy - area.y - area.h / 2) / s, s: s });
  }
  function pan(dx, dy) { return setView({ cx: view.cx - dx / view.s, cy: view.cy + dy / view.s, s: view.s }); }
  function reset() { return setView(home); }
  function local(ev) { var box = plot.getBoundingClientRect(); return [ev.clientX - box.left, ev.clientY - box.top]; }

  var drag = null, dragModeEl = document.getElementById('drag-mode');
  plot.addEventListener('mousedown', function (ev) {
    if (ev.button !== 0) return;
    var at = local(ev);
    var mode = ev.shiftKey ? 'pan' : ev.altKey ? 'lasso' : dragModeEl.value;
    drag = { x: at[0], y: at[1], mode: mode, moved: false, view: view };
    ev.preventDefault();
  });
  window.addEventListener('mousemove', function (ev) {
    var at = local(ev);
    if (drag) {
      var dx = at[0] - drag.x, dy = at[1] - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      showHover(-1);
      if (drag.mode === 'pan') {
        view = drag.view; pan(dx, dy);
      } else if (drag.mode === 'lasso') {
        if (!lassoPath) lassoPath = [[drag.x, drag.y]];
        var last = lassoPath[lassoPath.length - 1];
        if (Math.abs(at[0] - last[0]) + Math.abs(at[1] - last[1]) >= 2) { lassoPath.push([at[0], at[1]]); requestDraw(); }
      } else {
        boxEl.className = drag.mode === 'box' ? 'select' : '';
        boxEl.hidden = false;
        boxEl.style.left = Math.min(at[0], drag.x) + 'px'; boxEl.style.top = Math.min(at[1], drag.y) + 'px';
        boxEl.style.width = Math.abs(dx) + 'px'; boxEl.style.height = Math.abs(dy) + 'px';
      }
      return;
    }
    showHover(inArea(at[0], at[1]) ? nearest(at[0], at[1], hitRadius()) : -1, at[0], at[1]);
  });
  window.addEventListener('mouseup', function (ev) {
    if (!drag) return;
    var at = local(ev), d = drag;
    drag = null; boxEl.hidden = true;
    if (!d.moved) {
      var hit = inArea(d.x, d.y) ? nearest(d.x, d.y, hitRadius()) : -1;
      if (hit >= 0) select(D.ids[hit]);
      return;
    }
    if (d.mode === 'lasso') {
      var path = lassoPath || [];
      path.push([at[0], at[1]]);
      lassoPath = null;
      lasso(path);
      return;
    }
    if (d.mode === 'box') { boxSelect(d.x, d.y, at[0], at[1]); return; }
    if (d.mode === 'zoom') {
      var w = Math.abs(at[0] - d.x), h = Math.abs(at[1] - d.y);
      if (w < 4 && h < 4) return;
      var centre = toData((at[0] + d.x) / 2, (at[1] + d.y) / 2);
      setView({ cx: centre[0], cy: centre[1], s: view.s * Math.min(area.w / Math.max(w, 1), area.h / Math.max(h, 1)) });
    }
  });
  plot.addEventListener('mouseleave', function () { if (!drag) showHover(-1); });
  plot.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var at = local(ev);
    zoom(Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.002)), at[0], at[1]);
  }, { passive: false });
  plot.addEventListener('dblclick', function () { reset(); });

  function activate(ev) {
    var el = ev.target.closest('[data-image-id]');
    if (el && !ev.target.closest('a')) select(el.dataset.imageId);
  }
  var measureEl = document.getElementById('measure');
  D.measures.forEach(function (m) {
    var opt = document.createElement('option');
    opt.value = m; opt.textContent = m; opt.selected = m === measure;
    measureEl.appendChild(opt);
  });
  function setMeasure(m) {
    if (!Object.prototype.hasOwnProperty.call(D.neighbours_by, m)) return Promise.resolve(false);
    measure = m; measureEl.value = m;
    document.getElementById('nb-value').textContent = m;
    return current === null ? Promise.resolve(true) : select(current);
  }
  document.getElementById('nb-value').textContent = measure;
  measureEl.addEventListener('change', function () { setMeasure(measureEl.value); });

  // colour modes and their legend
  var colourEl = document.getElementById('colour');
  if (!clusters) colourEl.querySelector('option[value="cluster"]').disabled = true;
  function legend() {
    var scale = document.getElementById('scale'), swatches = document.getElementById('swatches');
    var beyond = document.getElementById('scale-beyond'), bar = document.getElementById('scale-bar');
    scale.hidden = colourMode === 'cluster'; swatches.hidden = colourMode !== 'cluster';
    beyond.hidden = colourMode !== 'distance';
    var stops = function (list) { return 'linear-gradient(to right, ' + list.map(function (c) { return 'rgb(' + c.join(',') + ')'; }).join(', ') + ')'; };
    if (colourMode === 'distance') {
      bar.style.background = stops(REDS);
      text('scale-title', distanceScale ? distanceScale.measure + ' to image ' + current + ': nearest' : 'select an image:');
      text('scale-low', distanceScale ? formatValue(distanceScale.near) : '');
      text('scale-high', distanceScale ? formatValue(distanceScale.far) : '');
    } else if (colourMode === 'cluster') {
      swatches.textContent = '';
      var counts = new Array(D.n_clusters).fill(0);
      clusters.forEach(function (c) { counts[c]++; });
      swatches.appendChild(document.createTextNode('k-means clusters:'));
      counts.forEach(function (count, c) {
        var key = document.createElement('span'); key.className = 'key';
        key.style.background = 'rgb(' + clusterColour(c).map(Math.round).join(',') + ')';
        swatches.appendChild(key);
        swatches.appendChild(document.createTextNode((c + 1) + ' (' + count + ')'));
      });
    } else {
      bar.style.background = stops(VIRIDIS);
      text('scale-title', '|A| tokens');
      text('scale-low', String(tokMin)); text('scale-high', String(tokMax));
    }
  }
  function recolour() {
    computeColours(); uploadColours(); legend();
    if (legendBottom() !== area.y) resize();
    return requestDraw();
  }
  function setColour(mode) {
    if (['size', 'distance', 'cluster'].indexOf(mode) < 0 || (mode === 'cluster' && !clusters)) return Promise.resolve(false);
    colourMode = mode; colourEl.value = mode;
    return recolour().then(function () { return true; });
  }
  colourEl.addEventListener('change', function () { setColour(colourEl.value); });
  function colourOf(id) {
    var i = index.get(Number(id));
    return i === undefined ? null : [colours[4 * i], colours[4 * i + 1], colours[4 * i + 2], colours[4 * i + 3]];
  }
  legend();
  document.querySelector('#neighbours .nb-thumb-head').hidden = !thumbs;
  (function () {  // where the thumbnails come from
    var note = document.getElementById('images-note'), sources = D.image_sources || [];
    var count = thumbs ? thumbs.filter(function (t) { return !!t; }).length : 0;
    if (!thumbs) {
      note.textContent = 'No thumbnails: build the map with --images DIR (a folder of the image files) or, to load ' +
        'them from the COCO server, --image-urls coco.';
    } else {
      note.textContent = 'Thumbnails of ' + count + ' of ' + n + ' images' +
        (sources.indexOf('local') >= 0 ? ', from a local folder beside the page' : '') +
        (sources.filter(function (s) { return s !== 'local'; }).length ? '; this page loads images from ' +
          sources.filter(function (s) { return s !== 'local'; }).join(', ') + ' (--image-urls)' : '') + '.';
    }
  })();
  document.querySelector('#neighbours tbody').addEventListener('click', activate);
  document.querySelector('#neighbours tbody').addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') activate(ev);
  });
  document.getElementById('search-matches').addEventListener('click', activate);
  document.getElementById('search-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    search(document.getElementById('search').value);
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.target && /^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName)) {
      if (ev.key === 'Escape') { clearSelection(); showMatches([], ''); }
      return;
    }
    var step = 60;
    if (ev.key === 'Escape') { clearSelection(); showMatches([], ''); }
    else if (ev.key === 'ArrowLeft') pan(step, 0);
    else if (ev.key === 'ArrowRight') pan(-step, 0);
    else if (ev.key === 'ArrowUp') pan(0, step);
    else if (ev.key === 'ArrowDown') pan(0, -step);
    else if (ev.key === '+' || ev.key === '=') zoom(1.25);
    else if (ev.key === '-') zoom(0.8);
    else if (ev.key === '0') reset();
  });
  if (window.ResizeObserver) new ResizeObserver(function () { resize(); }).observe(plot);
  else window.addEventListener('resize', resize);

  var readyAt = null;
  resize();
  requestDraw().then(function () {
    readyAt = performance.now();
    window.semspaceMap = {
      ready: true, renderer: renderer, n: n,
      pointPixel: pointPixel, pick: pick, hitRadius: hitRadius, select: select, neighbours: neighbours, search: search,
      highlighted: highlighted, setMeasure: setMeasure,
      setColour: setColour, colourMode: function () { return colourMode; }, colourOf: colourOf,
      lasso: lasso, box: boxSelect, marked: function () { return marked.map(function (m) { return D.ids[m]; }); },
      view: function () { return { cx: view.cx, cy: view.cy, s: view.s }; },
      setView: setView, zoom: zoom, pan: pan, reset: reset,
      stats: function () {
        return { frames: frames, lastFrameMs: lastFrameMs, grid: G, startedAt: startedAt, parsedAt: parsedAt,
                 readyAt: readyAt };
      }
    };
  });
})();
