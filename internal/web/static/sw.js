// glucoshare service worker: shows the alarms pushed to this device (Web
// Push) and acknowledges one from its notification's Acknowledge button,
// without opening the dashboard. It caches nothing: the dashboard is live
// data, and an old copy would be worse than none.
'use strict';

self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (event) { event.waitUntil(self.clients.claim()); });

// The server sends the notification ready to show (internal/notify,
// pushPayload): a ringing alarm stays until dealt with, rings again when it
// repeats, and carries its acknowledgement link; one tag per alarm, so
// that a repeat, its clearing or its acknowledgement replaces it.
self.addEventListener('push', function (event) {
  var p;
  try {
    p = event.data.json();
  } catch (e) {
    p = { title: 'glucoshare', body: event.data ? event.data.text() : '', data: { url: '/' } };
  }
  event.waitUntil(show(p.title, {
    body: p.body, tag: p.tag, timestamp: p.timestamp, data: p.data || { url: '/' },
    requireInteraction: !!p.requireInteraction, renotify: !!(p.renotify && p.tag), silent: !!p.silent,
    actions: p.actions || []
  }));
});

function show(title, options) {
  options.icon = '/static/icon-192.png';
  options.badge = '/static/icon-maskable-192.png';
  return self.registration.showNotification(title, options);
}

self.addEventListener('notificationclick', function (event) {
  var n = event.notification, data = n.data || {};
  n.close();
  var work = event.action === 'ack' && data.ack ? acknowledge(n) : openPage(data.url || '/');
  event.waitUntil(work);
});

// acknowledge calls the notification's one-time link. It needs no cookie:
// the link itself is the credential, good for this alarm only. When it
// works the server replaces this notification, on every device, with a
// quiet "acknowledged" one; when it does not, say so and offer the page.
function acknowledge(n) {
  var data = n.data;
  return fetch(data.ack, { method: 'POST', credentials: 'omit', cache: 'no-store' }).then(function (res) {
    if (res.ok) return null;
    return failed(n, res.status === 410 ? 'This link was already used or has expired.' : 'The server answered ' + res.status + '.');
  }, function () {
    return failed(n, 'The server could not be reached.');
  });
}

function failed(n, why) {
  return show('Not acknowledged: ' + n.title, {
    body: why + ' Tap to open glucoshare and acknowledge there.', tag: n.tag,
    requireInteraction: true, data: { url: '/' }
  });
}

function openPage(url) {
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (new URL(list[i].url).origin === self.location.origin && 'focus' in list[i]) {
        return list[i].navigate(url).then(function (c) { return (c || list[i]).focus(); }, function () { return list[i].focus(); });
      }
    }
    return self.clients.openWindow(url);
  });
}
