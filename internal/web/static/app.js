// glucoshare dashboard: live updates (server-sent events), relative times,
// chart read-out on hover, copy buttons. Everything works without it except
// those.
(function () {
  'use strict';

  function fmtAgo(ms) {
    var m = Math.floor(ms / 60000);
    if (m < 1) return 'just now';
    if (m < 60) return m + ' min ago';
    if (m < 2880) return Math.floor(m / 60) + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '') + ' ago';
    return Math.floor(m / 1440) + ' days ago';
  }

  // Keep "x min ago" true between updates, and mark a panel stale after
  // 15 minutes without a reading.
  function tickAges() {
    var now = Date.now();
    document.querySelectorAll('[data-st]').forEach(function (el) {
      var age = now - Number(el.dataset.st), span = el.querySelector('.age');
      var card = el.closest('.card');
      if (!span || !card) return;
      if (age < 900000) { span.textContent = fmtAgo(age); return; }
      card.classList.add('stale');
      var flag = document.createElement('strong');
      flag.className = 'flag';
      flag.textContent = 'No new reading for ' + fmtAgo(age).replace(/ ago$/, '');
      span.replaceChildren(flag);
    });
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // The chart read-out: the reading nearest to the pointer. Values come
  // formatted by the server in the viewer's units (data-points), so the
  // script formats no glucose value itself.
  function initChart(fig) {
    if (!fig.dataset.geo || fig.dataset.ready) return;
    fig.dataset.ready = '1';
    var g = fig.dataset.geo.split(',').map(Number); // x0,x1,y0,y1,vmin,vmax,t0,t1,offset
    var pts = JSON.parse(fig.dataset.points || '[]');
    var svg = fig.querySelector('svg');
    if (!svg || !pts.length) return;
    var vb = svg.viewBox.baseVal;
    var tip = document.createElement('span'); tip.className = 'tip'; tip.hidden = true;
    var cur = document.createElement('span'); cur.className = 'cursor'; cur.hidden = true;
    fig.appendChild(cur); fig.appendChild(tip);
    function show(ev) {
      var r = svg.getBoundingClientRect(), k = r.width / vb.width;
      var x = (ev.clientX - r.left) / k;
      if (x < g[0] || x > g[1]) { hide(); return; }
      var t = g[6] + (x - g[0]) / (g[1] - g[0]) * (g[7] - g[6]);
      var best = pts[0];
      pts.forEach(function (p) { if (Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p; });
      var px = (g[0] + (best[0] - g[6]) / (g[7] - g[6]) * (g[1] - g[0])) * k;
      var d = new Date(best[0] + g[8] * 60000);
      // best[1] is the value as the server wrote it, with its unit.
      tip.textContent = best[1] + ' · ' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
      tip.style.left = px + 'px';
      cur.style.left = px + 'px'; cur.style.top = (g[2] * k) + 'px'; cur.style.height = ((g[3] - g[2]) * k) + 'px';
      tip.hidden = cur.hidden = false;
    }
    function hide() { tip.hidden = cur.hidden = true; }
    svg.addEventListener('pointermove', show);
    svg.addEventListener('pointerdown', show);
    svg.addEventListener('pointerleave', hide);
  }

  function initAll(root) {
    root.querySelectorAll('.chart[data-geo]').forEach(initChart);
    root.querySelectorAll('[data-copy]').forEach(function (b) {
      if (!navigator.clipboard) return;
      b.hidden = false;
      b.addEventListener('click', function () {
        var f = document.getElementById(b.dataset.copy);
        navigator.clipboard.writeText(f.value).then(function () { b.textContent = 'Copied'; });
      });
    });
  }

  // Fetch a panel again and put it in place of the old one.
  function refresh(el) {
    if (!el || !el.dataset.panel) return;
    fetch(el.dataset.panel, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { location.href = '/signin'; return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null) return;
      var t = document.createElement('template');
      t.innerHTML = html.trim();
      var n = t.content.firstElementChild;
      if (!n) return;
      el.replaceWith(n);
      initAll(n);
    });
  }

  function panelsOf(publisher) {
    return document.querySelectorAll('[data-publisher="' + publisher + '"]');
  }

  function live() {
    if (!document.body.dataset.live || !window.EventSource) return;
    var es = new EventSource('/events');
    var broken = false;
    es.addEventListener('reading', function (e) {
      panelsOf(JSON.parse(e.data).publisher).forEach(refresh);
    });
    es.addEventListener('alarm', function (e) {
      refresh(document.getElementById('alarms'));
      var d = JSON.parse(e.data);
      if (d.subscription) refresh(document.getElementById('card-' + d.subscription));
    });
    es.addEventListener('signout', function () { es.close(); location.href = '/signin'; });
    es.onerror = function () { broken = true; document.body.dataset.stream = 'down'; };
    es.onopen = function () {
      document.body.dataset.stream = 'open';
      // Events may have been missed while the stream was down.
      if (!broken) return;
      broken = false;
      document.querySelectorAll('[data-panel]').forEach(refresh);
    };
  }

  document.addEventListener('DOMContentLoaded', function () {
    initAll(document);
    tickAges();
    setInterval(tickAges, 30000);
    live();
  });
})();
