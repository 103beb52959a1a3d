// @ts-check
// bx-hil report page script. Inlined into index.html by harness/report/html.ts, after the
// state-free views of report-views.js; works from file:// with no network. Reads the model from
// <script type="application/json" id="bx-data">, builds the matrix, the filters and the detail
// view with DOM calls only (no innerHTML with data), and keeps the selection in location.hash so
// a link can point at a test.
// Checked by `tsc -p .` (`// @ts-check`) against the model's types in html.ts.
/** @typedef {import('../html.ts').ReportModel} ReportModel */
/** @typedef {import('../html.ts').TestRow} TestRow */
/** @typedef {import('../html.ts').CellView} CellView */
/** @typedef {import('./report-views.js').ReportViews} ReportViews */
(function () {
  'use strict';
  var views = /** @type {{ BxReportViews: ReportViews }} */ (/** @type {unknown} */ (globalThis)).BxReportViews;
  var h = views.h;
  var own = views.own;
  var decode = views.decode;
  var fmtMs = views.fmtMs;
  /**
   * The element with this id; the page's template (html.ts) has every one the script uses.
   * @param {string} id
   * @returns {HTMLElement}
   */
  function byId(id) {
    var el = document.getElementById(id);
    if (!el) throw new Error('bx-hil report: the page has no #' + id);
    return el;
  }

  /** @type {ReportModel} */
  var model = JSON.parse(byId('bx-data').textContent || '');
  // The outcome vocabulary comes with the model (harness/report/outcomes.ts), in display order.
  var OUTCOMES = model.outcomes.map(function (o) {
    return o.id;
  });
  /** @type {Record<string, string>} */
  var WORDS = {};
  /** @type {Record<string, string>} */
  var LONG = {};
  model.outcomes.forEach(function (o) {
    WORDS[o.id] = o.cell;
    LONG[o.id] = o.long;
  });

  // ---------- header ----------
  /** @type {Record<string, number>} */
  var counts = {};
  OUTCOMES.forEach(function (o) {
    counts[o] = 0;
  });
  var securityCount = 0;
  var current = model.columns.filter(function (c) {
    return c.run === 'candidate';
  });
  model.tests.forEach(function (t) {
    current.forEach(function (c) {
      var r = own(t.cells, c.key);
      if (!r) return;
      counts[r.outcome]++;
      if (r.securityFailure) securityCount++;
    });
  });
  var chips = byId('chips');
  OUTCOMES.forEach(function (o) {
    chips.appendChild(h('span', { class: 'chip o-' + o, 'data-outcome': o }, counts[o] + ' ' + LONG[o].split(' (')[0]));
  });
  if (securityCount > 0) {
    byId('security').appendChild(
      h(
        'p',
        { class: 'banner-sec', role: 'alert' },
        'SECURITY FAILURE: ' +
          securityCount +
          (securityCount === 1 ? ' test shows' : ' tests show') +
          ' the module connecting to a server it must refuse. Look for the outlined cells.',
      ),
    );
  }
  if (model.comparison) {
    byId('changes').appendChild(
      h(
        'details',
        { class: 'changes' },
        h('summary', { text: model.comparison.headline }),
        h('pre', { text: model.comparison.text }),
      ),
    );
  }

  // ---------- filters ----------
  /** @type {{ outcomes: Record<string, boolean>, suite: string, text: string, selected: { index: number, key: string } | null }} */
  var state = { outcomes: {}, suite: '', text: '', selected: null };
  OUTCOMES.forEach(function (o) {
    state.outcomes[o] = true;
  });
  var outcomeBox = byId('f-outcomes');
  OUTCOMES.forEach(function (o) {
    var cb = h('input', {
      type: 'checkbox',
      checked: true,
      'data-outcome': o,
      onchange: function () {
        state.outcomes[o] = cb.checked;
        applyFilters();
      },
    });
    outcomeBox.appendChild(
      h('label', null, cb, ' ', h('span', { class: 'cell o-' + o, style: 'min-width:0;cursor:inherit' }, WORDS[o])),
    );
  });
  /** @type {string[]} */
  var suites = [];
  model.tests.forEach(function (t) {
    if (suites.indexOf(t.suite) < 0) suites.push(t.suite);
  });
  var suiteSel = /** @type {HTMLSelectElement} */ (byId('f-suite'));
  suites.forEach(function (s) {
    suiteSel.appendChild(h('option', { value: s, text: s }));
  });
  suiteSel.addEventListener('change', function () {
    state.suite = suiteSel.value;
    applyFilters();
  });
  var search = /** @type {HTMLInputElement} */ (byId('f-text'));
  search.addEventListener('input', function () {
    state.text = search.value.trim().toLowerCase();
    applyFilters();
  });

  // ---------- matrix ----------
  var thead = byId('m-head');
  var tbody = byId('m-body');
  var headRow = h('tr', null, h('th', { scope: 'col' }, 'Test'));
  model.columns.forEach(function (c) {
    headRow.appendChild(
      h(
        'th',
        { scope: 'col', title: c.uri || '' },
        c.run === 'baseline' ? 'baseline ' : '',
        h('strong', { text: c.firmware }),
        h('br'),
        h('span', { class: 'meta', text: c.device }),
      ),
    );
  });
  thead.appendChild(headRow);

  /** @type {Array<{ suite: string, suiteRow?: HTMLElement, tr?: HTMLElement, test?: TestRow }>} */
  var rows = [];
  /** @type {string | null} */
  var lastSuite = null;
  model.tests.forEach(function (t, i) {
    if (t.suite !== lastSuite) {
      lastSuite = t.suite;
      var sr = h(
        'tr',
        { class: 'suite-row', 'data-suite': t.suite },
        h('th', { colspan: String(model.columns.length + 1), scope: 'colgroup', text: t.suite }),
      );
      tbody.appendChild(sr);
      rows.push({ suiteRow: sr, suite: t.suite });
    }
    var tr = h('tr', { class: 'test', tabindex: '0', 'data-test': t.id, 'data-index': String(i), 'aria-label': t.id });
    tr.appendChild(
      h('td', { class: 'title' }, t.title, t.scenario ? h('span', { class: 'scn', text: t.scenario }) : null),
    );
    model.columns.forEach(function (c) {
      var r = own(t.cells, c.key);
      var td = h('td');
      if (!r) {
        td.appendChild(h('span', { class: 'cell o-none', title: 'not run on ' + c.device }, '—'));
      } else {
        var label =
          t.id +
          ': ' +
          LONG[r.outcome] +
          ' on ' +
          c.device +
          ' (' +
          c.firmware +
          ')' +
          (r.securityFailure ? ', SECURITY FAILURE' : '');
        var btn = h(
          'button',
          {
            type: 'button',
            class: 'cell o-' + r.outcome + (r.securityFailure ? ' sec' : ''),
            'data-outcome': r.outcome,
            'data-col': c.key,
            'aria-label': label,
            title: label,
            onclick: /** @param {Event} ev */ function (ev) {
              ev.stopPropagation();
              select(i, c.key, true);
            },
          },
          (r.securityFailure ? '\u26A0 ' : '') + WORDS[r.outcome],
        );
        td.appendChild(btn);
        if (r.change) td.appendChild(h('span', { class: 'chg chg-' + r.change, text: r.change }));
      }
      tr.appendChild(td);
    });
    tr.addEventListener('click', function () {
      select(i, null, true);
    });
    tr.addEventListener('keydown', function (ev) {
      if (ev.target !== tr) return;
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        select(i, null, true);
      } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        var visible = rows.filter(function (x) {
          return x.tr && !x.tr.hidden;
        });
        var at = visible.findIndex(function (x) {
          return x.tr === tr;
        });
        var next = visible[at + (ev.key === 'ArrowDown' ? 1 : -1)];
        if (next && next.tr) next.tr.focus();
      }
    });
    tbody.appendChild(tr);
    rows.push({ tr: tr, test: t, suite: t.suite });
  });

  /** @param {TestRow} t */
  function matches(t) {
    if (state.suite && t.suite !== state.suite) return false;
    if (state.text) {
      var hay = (
        t.id +
        ' ' +
        (t.scenario || '') +
        ' ' +
        Object.keys(t.cells)
          .map(function (k) {
            var r = /** @type {CellView} */ (own(t.cells, k));
            return (
              (r.verdict ? r.verdict.code + ' ' + r.verdict.summary : '') +
              ' ' +
              (r.error || '') +
              ' ' +
              (r.knownIssue ? r.knownIssue.reason : '')
            );
          })
          .join(' ')
      ).toLowerCase();
      if (hay.indexOf(state.text) < 0) return false;
    }
    return Object.keys(t.cells).some(function (k) {
      return state.outcomes[/** @type {CellView} */ (own(t.cells, k)).outcome];
    });
  }

  function applyFilters() {
    var shown = 0;
    /** @type {Record<string, boolean>} */
    var suiteVisible = {};
    rows.forEach(function (r) {
      if (!r.tr) return;
      var ok = matches(/** @type {TestRow} */ (r.test));
      r.tr.hidden = !ok;
      if (ok) {
        shown++;
        suiteVisible[r.suite] = true;
      }
    });
    rows.forEach(function (r) {
      if (r.suiteRow) r.suiteRow.hidden = !suiteVisible[r.suite];
    });
    byId('shown').textContent = shown + ' of ' + model.tests.length + ' tests shown';
  }

  // ---------- detail ----------
  var detail = byId('detail');

  /**
   * @param {number} index
   * @param {string | null} colKey
   * @param {boolean} focus
   */
  function select(index, colKey, focus) {
    var t = model.tests[index];
    if (!t) return;
    var key = colKey;
    if (!key || !own(t.cells, key)) {
      key = null;
      // Prefer the current run's first failing cell, then its first cell.
      var cols = model.columns.filter(function (c) {
        return own(t.cells, c.key);
      });
      var failing = cols.filter(function (c) {
        return c.run === 'candidate' && /** @type {CellView} */ (own(t.cells, c.key)).outcome === 'fail';
      });
      var cur = cols.filter(function (c) {
        return c.run === 'candidate';
      });
      var first = failing[0] || cur[0] || cols[0];
      if (!first) return;
      key = first.key;
    }
    state.selected = { index: index, key: key };
    rows.forEach(function (r) {
      if (r.tr) r.tr.classList.toggle('selected', r.test === t);
    });
    renderDetail(t, key);
    var hash = '#test=' + encodeURIComponent(t.id) + '&col=' + encodeURIComponent(key);
    if (location.hash !== hash) history.replaceState(null, '', hash);
    if (focus) {
      var heading = detail.querySelector('h2');
      if (heading) heading.focus();
    }
  }

  function closeDetail() {
    var sel = state.selected;
    state.selected = null;
    detail.textContent = '';
    rows.forEach(function (r) {
      if (r.tr) r.tr.classList.remove('selected');
    });
    history.replaceState(null, '', location.pathname + location.search);
    if (sel) {
      var was = model.tests[sel.index];
      var row = rows.filter(function (r) {
        return r.tr && r.test === was;
      })[0];
      if (row && row.tr) row.tr.focus();
    }
  }

  var showRaw = false;

  /**
   * Show or hide the raw link events, keeping the selection and the focus on the checkbox.
   * @param {boolean} checked
   */
  function toggleRaw(checked) {
    showRaw = checked;
    var s = state.selected;
    if (s) {
      renderDetail(/** @type {TestRow} */ (model.tests[s.index]), s.key);
      var cb = document.getElementById('show-raw');
      if (cb) cb.focus();
    }
  }

  /**
   * @param {TestRow} t
   * @param {string} key
   */
  function renderDetail(t, key) {
    var r = own(t.cells, key);
    var c = model.columns.filter(function (x) {
      return x.key === key;
    })[0];
    if (!r || !c) return;
    detail.textContent = '';
    var head = h(
      'div',
      { class: 'detail-head' },
      h(
        'div',
        null,
        h('h2', { tabindex: '-1', id: 'detail-title', text: t.id }),
        h('div', {
          class: 'meta',
          text:
            c.device +
            ' \u00B7 firmware ' +
            c.firmware +
            (c.run === 'baseline' ? ' (baseline run)' : '') +
            ' \u00B7 ' +
            fmtMs(r.durationMs) +
            (r.floorMs !== undefined ? ' (physical floor ' + fmtMs(r.floorMs) + ')' : '') +
            ' \u00B7 ' +
            r.attempts +
            (r.attempts === 1 ? ' attempt' : ' attempts'),
        }),
      ),
      h(
        'button',
        { type: 'button', class: 'close', 'aria-label': 'Close the detail (Escape)', onclick: closeDetail },
        'Close',
      ),
    );
    detail.appendChild(head);
    if (r.securityFailure) detail.appendChild(views.securityBanner(r));
    detail.appendChild(h('h3', { text: 'Verdict' }));
    detail.appendChild(views.renderVerdict(r, LONG[r.outcome]));
    var others = model.columns.filter(function (x) {
      return x.key !== key && own(t.cells, x.key);
    });
    if (others.length) {
      detail.appendChild(
        h(
          'div',
          { class: 'meta' },
          'Also ran on: ',
          others.map(function (x) {
            var o = /** @type {CellView} */ (own(t.cells, x.key));
            return h(
              'button',
              {
                type: 'button',
                class: 'cell o-' + o.outcome,
                style: 'margin-right:6px',
                onclick: function () {
                  select(model.tests.indexOf(t), x.key, true);
                },
              },
              x.firmware + ' ' + WORDS[o.outcome],
            );
          }),
        ),
      );
    }
    var ev = r.evidence;
    detail.appendChild(h('h3', { text: 'Timeline: module and broker' }));
    if (!ev) {
      detail.appendChild(
        h('p', {
          class: 'empty',
          text:
            c.run === 'baseline'
              ? 'the baseline run\u2019s evidence is not part of this report'
              : 'no evidence bundle for this test',
        }),
      );
      return;
    }
    detail.appendChild(views.renderTimeline(ev, c, showRaw, toggleRaw));
    detail.appendChild(h('h3', { text: 'Transcript' }));
    detail.appendChild(
      ev.transcript
        ? h('pre', { id: 'transcript', tabindex: '0', text: ev.transcript })
        : h('p', { class: 'empty', text: 'no AT transcript' }),
    );
    detail.appendChild(h('h3', { text: 'Files' }));
    detail.appendChild(views.renderFiles(ev));
    if (ev.notes.length)
      detail.appendChild(
        h(
          'ul',
          { class: 'notes' },
          ev.notes.map(function (n) {
            return h('li', { text: n });
          }),
        ),
      );
  }

  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && state.selected) closeDetail();
  });

  applyFilters();
  // Deep link: #test=<id>&col=<key>
  var m = /^#test=([^&]*)(?:&col=(.*))?$/.exec(location.hash);
  if (m) {
    var id = decode(m[1]);
    var idx = model.tests.findIndex(function (t) {
      return t.id === id;
    });
    if (idx >= 0) select(idx, m[2] ? decode(m[2]) : null, false);
  }
  document.body.setAttribute('data-ready', 'true');
})();
