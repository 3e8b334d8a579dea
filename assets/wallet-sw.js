// The wallet's service worker: after the first visit the page, its manifest and icon come from
// this cache, so a driver can show the dynamic code with no network (the code is signed on the
// phone; nothing here needs the registry). API calls always go to the network.
"use strict";
const CACHE = "licreg-wallet-v1";
const SHELL = ["/wallet", "/wallet/manifest.webmanifest", "/wallet/icon.svg"];
self.addEventListener("install", event => {
  event.waitUntil(caches.open(CACHE).then(cache => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", event => {
  event.waitUntil(caches.keys()
    .then(keys => Promise.all(keys.filter(k => k !== CACHE).map(k => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", event => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return;
  // Network first so an updated page arrives; the cache when offline.
  event.respondWith(fetch(event.request).then(response => {
    const copy = response.clone();
    caches.open(CACHE).then(cache => cache.put(url.pathname, copy));
    return response;
  }).catch(() => caches.match(url.pathname)));
});
