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

  // Web Push on this device: the service worker (/sw.js), the permission,
  // a subscription under the server's key, and the subscription posted to
  // the server like a form (the page's CSRF token included).
  function bytesOf(b64) {
    var s = atob(b64.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64.length + 3) % 4));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function initPush() {
    var box = document.getElementById('push');
    if (!box) return;
    var status = document.getElementById('push-status'), btn = document.getElementById('push-enable');
    var csrf = document.getElementById('notifications').dataset.csrf;
    if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
      status.textContent = /iPhone|iPad/.test(navigator.userAgent) ?
        'On an iPhone or iPad (iOS 16.4 or later): tap Share, then Add to Home Screen, open glucoshare from the Home Screen and come back to this page.' :
        'This browser cannot receive push notifications.';
      return;
    }
    if (!box.dataset.key) { status.textContent = 'The server cannot send push notifications at the moment.'; return; }
    function say(text) { status.textContent = text; }
    function register(sub) {
      var j = sub.toJSON();
      var body = new URLSearchParams({ csrf: csrf, endpoint: j.endpoint, p256dh: j.keys.p256dh, auth: j.keys.auth });
      return fetch('/devices', { method: 'POST', body: body, credentials: 'same-origin', redirect: 'manual' }).then(function (r) {
        if (r.type === 'opaqueredirect' || r.ok) return;
        return r.text().then(function (html) {
          var err = new DOMParser().parseFromString(html, 'text/html').querySelector('.error');
          throw new Error(err ? err.textContent : 'the server answered ' + r.status);
        });
      });
    }
    function subscribe(reg) {
      var opts = { userVisibleOnly: true, applicationServerKey: bytesOf(box.dataset.key) };
      return reg.pushManager.subscribe(opts).catch(function (e) {
        // A subscription made under another key: replace it.
        return reg.pushManager.getSubscription().then(function (old) {
          if (!old) throw e;
          return old.unsubscribe().then(function () { return reg.pushManager.subscribe(opts); });
        });
      });
    }
    btn.addEventListener('click', function () {
      btn.disabled = true;
      say('Asking for permission…');
      Notification.requestPermission().then(function (p) {
        if (p !== 'granted') throw new Error('notifications are blocked for this site; allow them in the browser\'s site settings');
        return navigator.serviceWorker.ready;
      }).then(subscribe).then(register).then(function () {
        location.href = '/following?ok=device#notifications';
      }).catch(function (e) {
        say('Could not enable notifications: ' + e.message);
        btn.disabled = false;
      });
    });
    navigator.serviceWorker.register('/sw.js').then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (sub) {
      btn.hidden = false;
      if (Notification.permission === 'denied') {
        say('Notifications are blocked for this site: allow them in the browser\'s site settings, then reload.');
        btn.hidden = true;
      } else if (sub) {
        say('This device receives alarms.');
        btn.textContent = 'Register this device again';
        btn.className = 'secondary';
      } else {
        say('This device does not receive alarms yet.');
      }
      box.dataset.ready = '1';
    }, function (e) { say('Could not start the notification service: ' + e.message); });
  }

  // Times for people: local, and the browser's time zone in empty
  // quiet-hours forms.
  function initLocal(root) {
    root.querySelectorAll('time[data-local]').forEach(function (t) {
      t.textContent = new Date(t.getAttribute('datetime')).toLocaleString();
    });
    var tz = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!tz) return;
    root.querySelectorAll('input[data-tz]').forEach(function (el) {
      var quiet = el.form.querySelector('[name=quiet]');
      if (el.value === 'UTC' && quiet && !quiet.checked) el.value = tz;
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    initLocal(document);
    initPush();
    initAll(document);
    tickAges();
    setInterval(tickAges, 30000);
    live();
  });
})();
