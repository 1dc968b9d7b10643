// Live updates without reloading: sections marked data-live-* poll the
// read API (with the session cookie) every few seconds while the tab is
// visible. Reads only: the accept path never sees these requests.
"use strict";
(function () {
  const every = 2000;
  function poll(el, url, apply) {
    let busy = false;
    async function tick() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (r.ok) apply(el, await r.json());
      } catch (e) { /* the next tick tries again */ }
      busy = false;
    }
    setInterval(tick, every);
    tick();
  }
  function set(el, field, text) {
    const f = el.querySelector('[data-field="' + field + '"]');
    if (f && f.textContent !== String(text)) f.textContent = text;
    return f;
  }
  function wait(s) {
    if (s < 1) return "under 1 s";
    if (s < 120) return Math.round(s) + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function utc(iso) { return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, ""); }
  document.querySelectorAll("[data-live-overview]").forEach(function (el) {
    poll(el, el.dataset.liveOverview, function (el, o) {
      for (const k of ["processed", "late", "retrying", "dead_lettered", "students"]) set(el, k, o.counts[k]);
      set(el, "queued", o.backlog ? o.backlog.queued : "unknown");
      set(el, "wait", o.backlog ? wait(o.backlog.oldest_wait_seconds) : "unknown");
    });
  });
  document.querySelectorAll("[data-live-timeline]").forEach(function (el) {
    poll(el, el.dataset.liveTimeline, function (el, t) {
      const st = set(el, "state", t.state);
      if (st) st.className = "state state-" + t.state;
      el.querySelector('[data-field="redrive"]').hidden = t.state !== "dead_lettered";
      el.querySelector('[data-field="queued-note"]').hidden = t.state !== "queued";
      const ol = el.querySelector('[data-field="events"]');
      const items = t.events.map(function (e) {
        const li = document.createElement("li");
        const tm = document.createElement("time");
        tm.dateTime = e.at; tm.textContent = utc(e.at);
        const k = document.createElement("strong");
        k.textContent = e.kind;
        let rest = "";
        if (e.attempt) rest += " · attempt " + e.attempt;
        if (e.error) rest += " · " + e.error.class + " " + e.error.message;
        if (e.by) rest += " · by " + e.by;
        if (e.detail) rest += " · " + e.detail;
        li.append(tm, " ", k, rest);
        return li;
      });
      if (items.length === 0) { const li = document.createElement("li"); li.textContent = "Nothing recorded yet."; items.push(li); }
      const html = items.map(function (li) { return li.outerHTML; }).join("");
      if (ol.dataset.last !== html) { ol.replaceChildren(...items); ol.dataset.last = html; }
    });
  });
})();
