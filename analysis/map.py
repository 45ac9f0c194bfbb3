"""The interactive map of a corpus's space: one self-contained HTML file (``python -m analysis map``).

Every image is a point at its first two classical-MDS coordinates (``mds_coordinates.x1``, ``x2``);
the axes carry their share of the positive eigenvalue sum. Hover shows an image's id, COCO id and
captions; a click lists its top-k neighbours from ``image_neighbors`` in a side panel and highlights
them; the search box finds an image id, a COCO id or the images whose captions contain a word.

The file needs no server and no network: plotly.js (from the plotly package) and the data (JSON in a
``<script type="application/json">``, every ``<``, ``>`` and ``&`` escaped) are inlined, and a
Content-Security-Policy forbids every fetch. What is read: the coordinates, one row per image of
``images``/``set_sizes``, the captions and ``image_neighbors`` (k rows per image), never the pairs.

The page exposes ``window.semspaceMap`` for tests: ``pointPixel(id)`` (viewport pixel of a point,
what ``page.mouse.click`` expects), ``select(id)``, ``neighbours()`` (the panel's rows),
``search(text)``, ``highlighted()`` (the ids the highlight traces show) and ``renderer``
("scattergl", or "scatter" without WebGL or with ``?renderer=svg`` in the URL).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import duckdb

from semspace import db
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DEFAULT_OUT_DIR = Path("reports")


def default_path(corpus: str) -> Path:
    """reports/<corpus>/map.html, relative to the working directory (the repository root)."""
    return DEFAULT_OUT_DIR / corpus / "map.html"


def build(database: str | os.PathLike[str] | None = None, corpus: str = "coco",
          out_path: str | os.PathLike[str] | None = None) -> Path:
    """Write the map of ``corpus`` from the warehouse ``database`` (default: $SEMSPACE_DB or
    data/semspace.duckdb) to ``out_path`` (default reports/<corpus>/map.html); returns the path."""
    start = time.perf_counter()
    with db.connect(database, read_only=True) as con:
        data = load(con, corpus)
    path = Path(out_path) if out_path is not None else default_path(corpus)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render(data), encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half a file
    except OSError as exc:
        raise SemspaceError(f"{path}: cannot write the map: {exc.strerror or exc}") from exc
    log.info("map %s: %d images in %.1f s -> %s (%.1f MB)", corpus, len(data["ids"]),
             time.perf_counter() - start, path, path.stat().st_size / 1e6)
    return path


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return con.execute("select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                       [schema, name]).fetchone()[0] > 0 or \
        con.execute("select count(*) from duckdb_views() where schema_name = ? and view_name = ?",
                    [schema, name]).fetchone()[0] > 0


def _columns(cursor: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    """A result as {column: list of values} (one row per image at most: no big results here)."""
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return {name: [row[c] for row in rows] for c, name in enumerate(names)}


def load(con: duckdb.DuckDBPyConnection, corpus: str) -> dict[str, Any]:
    """Everything the page shows, column-wise: one entry per image, ordered by image id."""
    for schema, name in (("main", "corpora"), ("main", "images"), ("main", "image_neighbors"),
                         ("main", "set_sizes"), ("raw", "captions")):
        if not _table_exists(con, schema, name):
            raise SemspaceError(f"the warehouse has no {schema}.{name}; run `make run` (ingest + dbt build) first")
    row = con.execute("select dataset from corpora where corpus = ?", [corpus]).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("select corpus from corpora order by corpus").fetchall()]
        raise SemspaceError(f"no corpus {corpus!r} in the warehouse; corpora: {', '.join(known) or 'none'}")
    dataset = row[0]
    how_to_mds = f"run `python -m analysis mds --corpus {corpus}` first"
    if not (_table_exists(con, "main", "mds_coordinates") and _table_exists(con, "main", "mds_spectrum")):
        raise SemspaceError(f"the warehouse has no MDS tables; {how_to_mds}")
    spectrum = _columns(con.execute("select * from mds_spectrum where corpus = ?", [corpus]))
    if not spectrum["corpus"]:
        raise SemspaceError(f"no mds_spectrum row for corpus {corpus!r}; {how_to_mds}")
    spectrum = {name: values[0] for name, values in spectrum.items()}

    columns = _columns(con.execute(
        """
        with caps as (
            select image_id, list(caption order by caption_index) as captions
            from raw.captions where dataset = $dataset group by image_id
        ), nb as (
            select image_id, list(neighbor_id order by rank) as neighbours,
                   list(symmetric_difference order by rank) as distances
            from main.image_neighbors where corpus = $corpus group by image_id
        )
        select c.image_id, c.x1, c.x2, i.coco_id, i.url, s.n_tokens,
               coalesce(caps.captions, []) as captions,
               coalesce(nb.neighbours, []) as neighbours,
               coalesce(nb.distances, []) as distances
        from main.mds_coordinates c
        left join main.images i on i.dataset = $dataset and i.image_id = c.image_id
        left join main.set_sizes s on s.corpus = $corpus and s.image_id = c.image_id
        left join caps on caps.image_id = c.image_id
        left join nb on nb.image_id = c.image_id
        where c.corpus = $corpus
        order by c.image_id
        """,
        {"dataset": dataset, "corpus": corpus},
    ))
    if not columns["image_id"]:
        raise SemspaceError(f"no mds_coordinates rows for corpus {corpus!r}; {how_to_mds}")
    if not all(v is not None and math.isfinite(v) for v in columns["x1"] + columns["x2"]):
        raise SemspaceError(f"mds_coordinates of corpus {corpus!r} has missing or non-finite x1/x2; {how_to_mds}")
    k = max((len(n) for n in columns["neighbours"]), default=0)
    if k == 0:
        raise SemspaceError(f"image_neighbors has no rows for corpus {corpus!r}; run `dbt build`")
    return {
        "corpus": corpus,
        "dataset": dataset,
        "k": k,
        "method": spectrum.get("method") or "full",
        "n_points": spectrum["n_points"],
        "n_positive": spectrum["n_positive"],
        "n_negative": spectrum["n_negative"],
        "axis_share": [spectrum["axis_share_1"], spectrum.get("axis_share_2", 0.0)],
        "ids": columns["image_id"],
        "x": columns["x1"],
        "y": columns["x2"],
        "coco_ids": columns["coco_id"],
        "urls": columns["url"],
        "n_tokens": columns["n_tokens"],
        "captions": columns["captions"],
        "neighbours": columns["neighbours"],
        "distances": columns["distances"],
    }


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no ``<``, ``>`` or ``&`` (so no ``</script>`` and no
    ``<!--``), and no U+2028/U+2029; JSON.parse reads the escapes back."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def plotly_js() -> str:
    """plotly.min.js from the installed plotly package, safe to inline in a <script> element."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    # "</script" would end the element early; "<\/script" means the same inside JS strings.
    js = js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    if "<!--" in js:  # would put the HTML parser in its "script data escaped" state
        raise SemspaceError("the installed plotly.min.js contains '<!--' and cannot be inlined safely")
    return js


CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")

STYLE = """
html, body { margin: 0; height: 100%; overflow: hidden; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; }
#app { display: flex; height: 100vh; }
#plot { flex: 1 1 auto; min-width: 0; height: 100vh; }
#panel { flex: 0 0 430px; height: 100vh; overflow-y: auto; box-sizing: border-box; padding: 12px 14px; border-left: 1px solid #ddd; background: #fafafa; }
#panel h1 { font-size: 17px; margin: 0 0 4px; }
#panel h2 { font-size: 15px; margin: 14px 0 6px; }
.meta, .help { color: #555; font-size: 12.5px; margin: 0 0 8px; }
.help { margin-top: 14px; }
#search-form { display: flex; gap: 6px; margin: 10px 0 4px; }
#search { flex: 1; padding: 5px 7px; font-size: 14px; }
#search-form button { padding: 5px 10px; }
#search-result { font-size: 13px; margin: 4px 0; min-height: 1.2em; }
#search-matches { margin: 0; padding-left: 22px; max-height: 180px; overflow-y: auto; font-size: 12.5px; }
#search-matches li { cursor: pointer; }
#search-matches li:hover, #neighbours tbody tr:hover { background: #ffe9d6; }
#sel-captions { margin: 4px 0 6px; padding-left: 20px; font-size: 13px; }
#neighbours { border-collapse: collapse; width: 100%; font-size: 12.5px; }
#neighbours th, #neighbours td { text-align: left; padding: 3px 4px; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
#neighbours td.nb-rank, #neighbours td.nb-dist, #neighbours td.nb-id, #neighbours td.nb-coco { white-space: nowrap; font-variant-numeric: tabular-nums; }
#neighbours tbody tr { cursor: pointer; }
#neighbours tbody tr:focus { outline: 2px solid #e4572e; }
a { color: #1f5fa8; }
"""

BODY = """
<div id="app">
  <div id="plot" role="img" aria-label="MDS map of the images"></div>
  <aside id="panel">
    <h1 id="title"></h1>
    <p class="meta" id="meta"></p>
    <form id="search-form" autocomplete="off">
      <input id="search" type="search" placeholder="image id, COCO id or word(s)" aria-label="search">
      <button type="submit">Search</button>
    </form>
    <div id="search-result" aria-live="polite"></div>
    <ol id="search-matches"></ol>
    <section id="selection" hidden>
      <h2 id="sel-title"></h2>
      <div class="meta" id="sel-meta"></div>
      <ol id="sel-captions"></ol>
      <h2 id="nb-title">Nearest neighbours</h2>
      <table id="neighbours">
        <thead><tr><th>rank</th><th>|A&#916;B|</th><th>image</th><th>COCO id</th><th>first caption</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <p class="help">Click a point to list its nearest neighbours (by symmetric difference of the caption
      token sets); click a neighbour in the list to move to it. Search: an image id, a COCO id
      (<code>id:N</code> / <code>coco:N</code> to say which), or words that all occur in an image's captions.
      Drag to zoom, double-click to reset, Esc clears.</p>
  </aside>
</div>
"""

APP_JS = r"""
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('semspace-data').textContent);
  var gd = document.getElementById('plot');
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
    D.neighbours[i].forEach(function (nid, r) {
      var ni = index.get(nid);
      var tr = document.createElement('tr');
      tr.dataset.imageId = nid; tr.dataset.distance = D.distances[i][r]; tr.dataset.rank = r + 1;
      tr.tabIndex = 0;
      cell(tr, 'nb-rank', String(r + 1));
      cell(tr, 'nb-dist', String(D.distances[i][r]));
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
    text('nb-title', D.neighbours[i].length + ' nearest neighbours of image ' + D.ids[i]);
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
      highlighted: highlighted
    };
  });
})();
"""


def render(data: dict[str, Any]) -> str:
    """The whole page: styles, plotly.js, the data and the app, all inline."""
    title = html.escape(f"semspace map: {data['corpus']}")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        f"<title>{title}</title>\n<link rel=\"icon\" href=\"data:,\">\n",
        f"<style>{STYLE}</style>\n",
        "<script>", plotly_js(), "</script>\n</head>\n<body>\n",
        BODY,
        "<script id=\"semspace-data\" type=\"application/json\">", script_json(data), "</script>\n",
        "<script>", APP_JS, "</script>\n</body>\n</html>\n",
    ])
