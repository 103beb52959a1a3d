// @ts-check
// bx-hil report page: the views that need no page state (DOM builders, the verdict, the
// timeline, the evidence files). Inlined by harness/report/html.ts into the same <script> as
// report.js, before it; report.js holds the page's state and wires these views to it.
/** @typedef {import('../html.ts').ReportColumn} ReportColumn */
/** @typedef {import('../html.ts').CellView} CellView */
/** @typedef {import('../html.ts').EvidenceView} EvidenceView */
/** @typedef {Node | string | null | undefined | false} Child */
/** @typedef {typeof BxReportViews} ReportViews what report.js finds as `BxReportViews` */
// A page global (a classic inline script has no import): report.js, inlined after this file, reads it.
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- read by report.js through globalThis
var BxReportViews = (function () {
  'use strict';
  /**
   * An element with attributes (`text`, `class`, `on<event>` handlers) and children; never innerHTML.
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {Record<string, unknown> | null} [attrs]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') el.textContent = String(v);
        else if (k === 'class') el.className = String(v);
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c))
        c.forEach(function (x) {
          if (x) el.appendChild(typeof x === 'string' ? document.createTextNode(x) : x);
        });
      else el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  // Keys from the page's address (a deep link anyone can craft) are looked up as own properties
  // only: `col=__proto__` or `col=constructor` must not find Object.prototype's members.
  /**
   * @template T
   * @param {Record<string, T>} obj
   * @param {string | null | undefined} key
   * @returns {T | undefined}
   */
  function own(obj, key) {
    return key !== null && key !== undefined && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
  }

  // decodeURIComponent throws on a malformed escape (`%zz`); such a link selects nothing.
  /** @param {string} s */
  function decode(s) {
    try {
      return decodeURIComponent(s);
    } catch {
      return null;
    }
  }

  /** @param {number} ms */
  function fmtMs(ms) {
    if (ms >= 60000) return (ms / 60000).toFixed(1) + ' min';
    if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
    return Math.round(ms) + ' ms';
  }

  /** @param {CellView} r */
  function securityBanner(r) {
    return h(
      'p',
      { class: 'banner-sec', role: 'alert' },
      'SECURITY FAILURE: the module connected to a server it must refuse (' + r.securityReason + ')',
    );
  }

  /**
   * @param {CellView} r
   * @param {string} long the outcome in words
   */
  function renderVerdict(r, long) {
    var box = h('div', { class: 'verdict o-' + r.outcome });
    box.appendChild(h('div', null, h('strong', { text: long })));
    if (r.verdict) {
      box.appendChild(h('div', null, h('code', { text: r.verdict.code }), ': ', r.verdict.summary));
      if (r.verdict.fix) box.appendChild(h('div', { class: 'fix' }, h('strong', { text: 'Fix: ' }), r.verdict.fix));
      if (r.verdict.evidence && r.verdict.evidence.length)
        box.appendChild(
          h(
            'ul',
            null,
            r.verdict.evidence.map(function (e) {
              return h('li', { text: e });
            }),
          ),
        );
    } else if (r.outcome !== 'skip') {
      box.appendChild(h('div', { class: 'empty', text: 'no verdict recorded' }));
    }
    if (r.knownIssue)
      box.appendChild(
        h(
          'div',
          null,
          h('strong', { text: 'Known issue: ' }),
          r.knownIssue.reason + ' (source: ' + r.knownIssue.source + ')',
        ),
      );
    if (r.skipReason) box.appendChild(h('div', null, h('strong', { text: 'Skipped: ' }), r.skipReason));
    if (r.error) box.appendChild(h('pre', { text: r.error }));
    return box;
  }

  /**
   * The sequence diagram of one test: module and broker lanes, arrows for what crossed.
   * @param {EvidenceView} ev
   * @param {ReportColumn} c
   * @param {boolean} showRaw show the raw link events too
   * @param {(checked: boolean) => void} onToggleRaw the "show raw" checkbox changed
   */
  function renderTimeline(ev, c, showRaw, onToggleRaw) {
    var wrap = h('div', { id: 'timeline' });
    var entries = ev.timeline.filter(function (e) {
      return showRaw || !e.raw;
    });
    var nModule = ev.timeline.filter(function (e) {
      return e.lane === 'module';
    }).length;
    var nBroker = ev.timeline.filter(function (e) {
      return e.lane === 'broker';
    }).length;
    var rawCount = ev.timeline.filter(function (e) {
      return e.raw;
    }).length;
    var rawBox = h('input', {
      type: 'checkbox',
      id: 'show-raw',
      checked: showRaw,
      onchange: function () {
        onToggleRaw(rawBox.checked);
      },
    });
    wrap.appendChild(
      h(
        'div',
        { class: 'seq-legend' },
        h('span', { text: 'Module: ' + nModule + ' events' }),
        h('span', { text: 'Broker: ' + nBroker + ' events' }),
        h('span', {
          text:
            ev.eventsTotal > ev.timeline.length ? '(' + ev.timeline.length + ' of ' + ev.eventsTotal + ' kept)' : '',
        }),
        rawCount ? h('label', null, rawBox, ' show ' + rawCount + ' raw link events') : null,
      ),
    );
    if (!ev.timeline.length) {
      wrap.appendChild(h('p', { class: 'empty', text: 'no events were recorded for this test' }));
      return wrap;
    }
    var grid = h('div', { class: 'seq', role: 'table', 'aria-label': 'Timeline of the module and the broker' });
    grid.appendChild(h('div', { class: 'hd', role: 'columnheader', text: 'time' }));
    grid.appendChild(h('div', { class: 'hd', role: 'columnheader', text: 'Module (' + c.device + ')' }));
    grid.appendChild(h('div', { class: 'hd', role: 'columnheader', text: 'messages' }));
    grid.appendChild(h('div', { class: 'hd', role: 'columnheader', text: 'Broker (rig)' }));
    entries.forEach(function (e) {
      var time = h('div', { class: 't', role: 'cell', text: '+' + fmtMs(e.dt) });
      var note = h(
        'span',
        {
          class: 'ev' + (e.important ? ' imp' : ''),
          title: e.source + ' ' + e.kind + (e.scope ? ' [' + e.scope + ']' : ''),
        },
        h('span', { class: 'tag', text: e.source }),
        e.summary,
      );
      grid.appendChild(time);
      if (e.lane === 'both' && !e.arrow) {
        grid.appendChild(h('div', { class: 'note-both', role: 'cell', 'data-lane': 'both' }, note));
        return;
      }
      var m = h('div', { class: 'm', role: 'cell' });
      var mid = h('div', { class: 'mid', role: 'cell' });
      var b = h('div', { class: 'b', role: 'cell' });
      if (e.arrow) {
        mid.className = 'mid arrow ' + e.arrow + (/^alert/i.test(e.label) ? ' alert' : '');
        mid.setAttribute('data-arrow', e.arrow);
        mid.setAttribute(
          'aria-label',
          (e.arrow === 'to-broker' ? 'module to broker: ' : 'broker to module: ') + e.label,
        );
        mid.appendChild(
          h('span', {
            class: 'lbl',
            text: (e.arrow === 'to-broker' ? '' : '\u2190 ') + e.label + (e.arrow === 'to-broker' ? ' \u2192' : ''),
          }),
        );
        var side = e.lane === 'broker' ? b : e.lane === 'module' ? m : e.arrow === 'to-broker' ? m : b;
        side.appendChild(note);
        side.setAttribute('data-lane', e.lane === 'both' ? 'module' : e.lane);
      } else {
        var lane = e.lane === 'broker' ? b : m;
        lane.appendChild(note);
        lane.setAttribute('data-lane', e.lane);
      }
      grid.appendChild(m);
      grid.appendChild(mid);
      grid.appendChild(b);
    });
    wrap.appendChild(grid);
    return wrap;
  }

  /**
   * The evidence bundle's files as relative links (they work from file:// and from an unpacked CI artifact).
   * @param {EvidenceView} ev
   */
  function renderFiles(ev) {
    var facts = h('dl', { class: 'kv' });
    /**
     * @param {string} k
     * @param {Child | Child[]} v
     */
    function fact(k, v) {
      if (v && (!Array.isArray(v) || v.length)) {
        facts.appendChild(h('dt', { text: k }));
        facts.appendChild(h('dd', null, v));
      }
    }
    /** @param {string[]} parts */
    function href(parts) {
      return /** @type {EvidenceView} */ (ev).dir.split('/').concat(parts).map(encodeURIComponent).join('/');
    }
    /**
     * @param {string[]} names
     * @param {string} [prefix]
     * @returns {Child[]}
     */
    function links(names, prefix) {
      /** @type {Child[]} */
      var out = [];
      names.forEach(function (n, i) {
        if (i) out.push(', ');
        out.push(h('a', { href: href(prefix ? [prefix, n] : [n]), class: 'file' }, n));
      });
      return out;
    }
    fact('Directory', ev.dir);
    fact(
      'Files',
      links(
        ev.files.filter(function (f) {
          return f !== 'keylog.txt' && f !== 'capture.pcapng';
        }),
      ),
    );
    fact('Certificates', links(ev.certs, 'certs'));
    fact('Key log', ev.hasKeylog ? links(['keylog.txt']).concat([' (secret; not embedded)']) : '');
    fact('Capture', ev.hasCapture ? links(['capture.pcapng']).concat([' (not embedded)']) : '');
    return facts;
  }

  return {
    h: h,
    own: own,
    decode: decode,
    fmtMs: fmtMs,
    securityBanner: securityBanner,
    renderVerdict: renderVerdict,
    renderTimeline: renderTimeline,
    renderFiles: renderFiles,
  };
})();
