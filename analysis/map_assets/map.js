// The app of the interactive map: analysis.map inlines this file into reports/<corpus>/map.html.
// It reads the JSON of the data block #semspace-data, draws it with the inlined plotly.js and exposes
// window.semspaceMap (ready, renderer, n, pointPixel, select, neighbours, search, highlighted,
// setMeasure) for tests.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('semspace-data').textContent);
  var gd = document.getElementById('plot');
  var measure = D.measure;  // the neighbour lists shown: image_neighbors ranked by this measure
  var current = null;  // the selected image id
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

  function escapeHtml(s) {  // for plotly's pseudo-HTML labels (it decodes &amp; &lt; &gt;, not &quot;)
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
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
  var hover = new Array(n);
  for (var j = 0; j < n; j++) {
    var lines = ['<b>' + escapeHtml(label(j)) + '</b>' +
                 (D.n_tokens[j] === null ? '' : ' \u00b7 |A| = ' + D.n_tokens[j])];
    D.captions[j].forEach(function (cap) {
      wrap(cap, 90).forEach(function (part) { lines.push(escapeHtml(part)); });
    });
    hover[j] = lines.join('<br>');
  }

  function webgl() {
    try {
      var canvas = document.createElement('canvas');
      return !!(window.WebGLRenderingContext && (canvas.getContext('webgl') || canvas.getContext('experimental-webgl')));
    } catch (e) { return false; }
  }
  var forced = (/[?&]renderer=(svg|webgl)/.exec(location.search) || [])[1];
  var type = forced === 'svg' ? 'scatter' : (forced === 'webgl' || webgl()) ? 'scattergl' : 'scatter';
  var pct = function (share) { return (100 * share).toFixed(1) + ' %'; };
  var MATCH = 1, LINKS = 2, NEIGH = 3, SEL = 4;
  var traces = [
    { type: type, mode: 'markers', name: 'images', x: D.x, y: D.y, customdata: D.ids,
      hovertext: hover, hoverinfo: 'text', showlegend: false,
      marker: { size: 5, opacity: 0.75, color: D.n_tokens.map(function (v) { return v === null ? 0 : v; }),
                colorscale: 'Viridis', showscale: true,
                colorbar: { title: { text: '|A| tokens' }, thickness: 12, len: 0.5, y: 0.25 } } },
    { type: type, mode: 'markers', name: 'search matches', x: [], y: [], customdata: [], hovertext: [],
      hoverinfo: 'text', marker: { size: 8, color: '#ff9f1c', line: { color: '#333', width: 1 } } },
    { type: type, mode: 'lines', name: 'links', x: [], y: [], hoverinfo: 'skip', showlegend: false,
      line: { color: 'rgba(200,40,30,0.45)', width: 1 } },
    { type: type, mode: 'markers', name: 'neighbours', x: [], y: [], customdata: [], hovertext: [],
      hoverinfo: 'text', marker: { size: 10, color: '#e4572e', line: { color: '#fff', width: 1.5 } } },
    { type: type, mode: 'markers', name: 'selected', x: [], y: [], customdata: [], hovertext: [],
      hoverinfo: 'text', marker: { size: 16, symbol: 'star', color: '#c1121f', line: { color: '#000', width: 1 } } }
  ];
  var layout = {
    title: { text: escapeHtml(D.corpus) + ': classical MDS of |A \u0394 B|, axes 1 and 2', x: 0.02,
             y: 0.99, yanchor: 'top' },
    xaxis: { title: { text: 'MDS axis 1 (' + pct(D.axis_share[0]) + ' of the positive eigenvalue sum)' },
             zeroline: false },
    yaxis: { title: { text: 'MDS axis 2 (' + pct(D.axis_share[1]) + ')' }, zeroline: false,
             scaleanchor: 'x', scaleratio: 1 },
    hovermode: 'closest', dragmode: 'zoom', margin: { l: 60, r: 20, t: 72, b: 55 },
    legend: { orientation: 'h', x: 0.02, y: 1.0, yanchor: 'bottom', xanchor: 'left', bgcolor: 'rgba(0,0,0,0)' },
    hoverlabel: { align: 'left' }, plot_bgcolor: '#fff', uirevision: 'keep'
  };
  var config = { responsive: true, displaylogo: false, scrollZoom: true, doubleClick: 'reset', showTips: false };

  function text(id, value) { document.getElementById(id).textContent = value; }
  text('title', 'Semantic space map: ' + D.corpus);
  document.title = 'semspace map: ' + D.corpus;
  text('meta', n + ' images of dataset ' + D.dataset + '; classical MDS' +
       (D.method === 'full' ? '' : ' (' + D.method + ')') + ' of the symmetric-difference distances: ' +
       D.n_positive + ' positive and ' + D.n_negative + ' negative eigenvalues, axes 1 + 2 carry ' +
       pct(D.axis_share[0] + D.axis_share[1]) + ' of the positive sum. k = ' + D.k + ' neighbours.');

  function safeUrl(u) {
    if (typeof u !== 'string' || !u) return null;
    if (/^(https?|file):/i.test(u)) return u;
    return /^[a-z][a-z0-9+.\-]*:/i.test(u) ? null : u;  // relative paths yes, javascript: etc. no
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
  function pick(list) {
    return { x: list.map(function (i) { return D.x[i]; }), y: list.map(function (i) { return D.y[i]; }),
             customdata: list.map(function (i) { return D.ids[i]; }),
             hovertext: list.map(function (i) { return hover[i]; }) };
  }


  // Restyle the small traces after the next paint, in call order: the panel shows at once, and
  // the map's redraw (one WebGL canvas for all traces, ~0.1 s in software rendering) follows.
  var drawn = Promise.resolve();
  function draw(update, traceIndices) {
    drawn = drawn.then(function () {
      return new Promise(function (resolve) {
        requestAnimationFrame(function () { setTimeout(resolve, 0); });
      });
    }).then(function () { return Plotly.restyle(gd, update, traceIndices); });
    return drawn;
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
        cell(tr, 'nb-coco', '\u2013'); cell(tr, 'nb-caption', '(not on the map)');
      } else {
        present.push(ni);
        var c = D.coco_ids[ni];
        cell(tr, 'nb-coco', link(ni, c === null || c === undefined ? 'image' : String(c)));
        cell(tr, 'nb-caption', D.captions[ni].length ? D.captions[ni][0] : '');
      }
      rows.appendChild(tr);
    });
    tbody.textContent = '';
    tbody.appendChild(rows);
    text('nb-title', listed.length + ' nearest neighbours of image ' + D.ids[i] + ' by ' + measure);
    current = D.ids[i];
    document.body.dataset.selected = D.ids[i];
    var nb = pick(present), sel = pick([i]);
    var lx = [], ly = [];
    present.forEach(function (ni) { lx.push(D.x[i], D.x[ni], null); ly.push(D.y[i], D.y[ni], null); });
    // only the three small traces change; the 5000-point trace is left alone
    return draw({
      x: [lx, nb.x, sel.x], y: [ly, nb.y, sel.y],
      customdata: [[], nb.customdata, sel.customdata], hovertext: [[], nb.hovertext, sel.hovertext]
    }, [LINKS, NEIGH, SEL]).then(function () { return true; });
  }

  function clearSelection() {
    document.getElementById('selection').hidden = true;
    document.querySelector('#neighbours tbody').textContent = '';
    delete document.body.dataset.selected;
    current = null;
    return draw({ x: [[], [], []], y: [[], [], []], customdata: [[], [], []], hovertext: [[], [], []] },
                [LINKS, NEIGH, SEL]);
  }

  var tokenSets = null;
  function tokens(s) { return s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean); }
  function showMatches(list, message) {
    text('search-result', message);
    var ol = document.getElementById('search-matches');
    ol.textContent = '';
    var frag = document.createDocumentFragment();
    list.slice(0, 300).forEach(function (i) {
      var li = document.createElement('li');
      li.dataset.imageId = D.ids[i];
      li.textContent = label(i) + ': ' + (D.captions[i][0] || '');
      frag.appendChild(li);
    });
    if (list.length > 300) {
      var more = document.createElement('li'); more.textContent = '\u2026 ' + (list.length - 300) + ' more on the map';
      more.className = 'more'; frag.appendChild(more);
    }
    ol.appendChild(frag);
    var m = pick(list);
    return draw({ x: [m.x], y: [m.y], customdata: [m.customdata], hovertext: [m.hovertext] }, [MATCH]);
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
      return hits.length === 1 ? select(D.ids[hits[0]]) : shown;  // drawn after the matches
    }
    var words = tokens(q);
    if (!words.length) return showMatches([], 'nothing to search for in \u201c' + q + '\u201d');
    if (!tokenSets) {
      tokenSets = D.captions.map(function (caps) { return new Set(tokens(caps.join(' '))); });
    }
    var found = [];
    for (var i = 0; i < n; i++) {
      if (words.every(function (w) { return tokenSets[i].has(w); })) found.push(i);
    }
    return showMatches(found, found.length + (found.length === 1 ? ' image' : ' images') +
                       ' whose captions contain \u201c' + words.join('\u201d and \u201c') + '\u201d');
  }

  function pointPixel(id) {
    var i = index.get(Number(id));
    if (i === undefined) return null;
    var fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, box = gd.getBoundingClientRect();
    var x = box.left + xa._offset + xa.l2p(D.x[i]), y = box.top + ya._offset + ya.l2p(D.y[i]);
    var inside = xa.l2p(D.x[i]) >= 0 && xa.l2p(D.x[i]) <= xa._length && ya.l2p(D.y[i]) >= 0 && ya.l2p(D.y[i]) <= ya._length;
    return { x: x, y: y, inside: inside };
  }
  function neighbours() {
    return Array.prototype.map.call(document.querySelectorAll('#neighbours tbody tr'), function (tr) {
      return { image_id: Number(tr.dataset.imageId), distance: Number(tr.dataset.distance), rank: Number(tr.dataset.rank) };
    });
  }

  function highlighted() {  // what the small traces show now, read back from the plot
    var ids = function (t) { return Array.prototype.slice.call(gd.data[t].customdata || []); };
    return { selected: ids(SEL), neighbours: ids(NEIGH), matches: ids(MATCH) };
  }

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
    if (ev.key === 'Escape') { clearSelection(); showMatches([], ''); }
  });

  Plotly.newPlot(gd, traces, layout, config).then(function () {
    gd.on('plotly_click', function (ev) {
      var pt = (ev.points || []).find(function (p) { return p.customdata !== undefined && p.customdata !== null; });
      if (pt) select(pt.customdata);
    });
    window.semspaceMap = {
      ready: true, renderer: type, n: n,
      pointPixel: pointPixel, select: select, neighbours: neighbours, search: search,
      highlighted: highlighted, setMeasure: setMeasure
    };
  });
})();
