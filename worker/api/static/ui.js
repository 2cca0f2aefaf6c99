// cognito-courier operators' pages: live campaign figures, the rate chart, the controls.
// Plain browser JavaScript, no library; served from the package (/ui/static/ui.js).
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const SETTLED = ["succeeded", "failed", "skipped", "cancelled"];
  const ENDED = ["done", "cancelled", "lost"];
  const POINTS = 300; // five minutes at one sample a second
  const calls = new Map(); // epoch second -> calls recorded in it
  const shares = new Map(); // epoch second -> the budget share then, calls/s

  function post(url) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "X-CSRF-Token": csrf },
    });
  }

  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", function () {
      post("/ui/logout").then(function () { window.location.assign("/ui/login"); });
    });
  }

  const section = document.getElementById("campaign");
  if (!section) { return; }
  const liveUrl = section.dataset.liveUrl;
  const base = liveUrl.replace(/\/live$/, "");

  function field(name, value) {
    document.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) {
      el.textContent = value;
    });
  }

  function seconds(value) {
    if (typeof value !== "number") { return "-"; }
    return value < 120 ? value.toFixed(0) + " s" : (value / 60).toFixed(1) + " min";
  }

  function rows(tbody, items, cells, empty) {
    tbody.replaceChildren();
    if (items.length === 0) { items = [null]; }
    items.forEach(function (item) {
      const tr = document.createElement("tr");
      const values = item === null ? [empty] : cells(item);
      values.forEach(function (v) {
        const td = document.createElement("td");
        td.textContent = String(v);
        if (item === null) { td.colSpan = tbody.parentElement.tHead.rows[0].cells.length; }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  function chart(live) {
    // calls per whole second from the store's ring (rate_series), the budget share sampled
    // at each poll; the chart keeps up to five minutes of them, at least a minute wide.
    const doc = live.campaign;
    const points = live.rate_series || [];
    if (points.length === 0) { return; }
    points.forEach(function (p) { calls.set(p.at, p.calls); });
    const last = points[points.length - 1].at;
    const share = doc.share && typeof doc.share.rate_per_second === "number"
      ? doc.share.rate_per_second : null;
    if (share !== null) { shares.set(last, share); }
    [calls, shares].forEach(function (m) {
      Array.from(m.keys()).forEach(function (at) { if (at <= last - POINTS) { m.delete(at); } });
    });
    const oldest = Math.min.apply(null, Array.from(calls.keys()));
    const first = Math.min(oldest, last - 59);
    let top = 1;
    calls.forEach(function (v) { top = Math.max(top, v); });
    shares.forEach(function (v) { top = Math.max(top, v); });
    top *= 1.15;
    const x = function (at) { return (40 + 556 * (at - first) / (last - first)).toFixed(1); };
    const y = function (v) { return (196 - 186 * v / top).toFixed(1); };
    const line = function (m) {
      return Array.from(m.keys()).sort(function (a, b) { return a - b; })
        .map(function (at) { return x(at) + "," + y(m.get(at)); }).join(" ");
    };
    document.getElementById("rate-line").setAttribute("points", line(calls));
    document.getElementById("share-line").setAttribute("points", line(shares));
    document.getElementById("chart-max").textContent = top.toFixed(1) + " calls/s";
    document.getElementById("chart-span").textContent = "last " + (last - first + 1) + " s";
  }

  function controls(state) {
    const allowed = {
      pause: state === "running" || state === "ingesting",
      resume: state === "paused",
      cancel: ENDED.indexOf(state) < 0,
    };
    document.querySelectorAll("[data-control]").forEach(function (button) {
      button.disabled = !allowed[button.dataset.control];
    });
  }

  function show(doc) {
    const counts = doc.counts || {};
    Object.keys(counts).forEach(function (state) {
      document.querySelectorAll('[data-count="' + state + '"]').forEach(function (el) {
        el.textContent = String(counts[state]);
      });
    });
    const settled = SETTLED.reduce(function (n, s) { return n + (counts[s] || 0); }, 0);
    const progress = document.getElementById("progress");
    progress.max = Math.max(doc.total || 0, 1);
    progress.value = settled;
    field("state", doc.state);
    field("settled", String(settled));
    field("total", String(doc.total));
    field("rejected", String(doc.rejected));
    field("rate", String(doc.rate));
    field("share", doc.share && doc.share.rate_per_second !== null
      ? String(doc.share.rate_per_second) : "-");
    field("weight", String(doc.weight));
    field("eta", doc.state === "paused" ? "paused" : seconds(doc.eta_seconds));
    field("updated_at", doc.updated_at || "");
    const reason = doc.pause_reason;
    field("pause_reason", reason ? reason.code + ": " + reason.message + " (at " + reason.at + ")" : "-");
    section.dataset.state = doc.state;
    controls(doc.state);
  }

  function poll() {
    fetch(liveUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (answer.status === 401) { window.location.assign("/ui/login"); return null; }
        return answer.ok ? answer.json() : null;
      })
      .then(function (live) {
        if (live) {
          show(live.campaign);
          chart(live);
          rows(document.querySelector("#errors tbody"), live.errors,
            function (e) { return [e.code, e.state, e.count]; }, "none");
          rows(document.querySelector("#rejects tbody"), live.rejects,
            function (r) { return [r.line, r.reason]; }, "none");
          section.dataset.polls = String(Number(section.dataset.polls || 0) + 1);
        }
      })
      .catch(function () { /* the front is away: the next poll tries again */ })
      .finally(function () {
        window.setTimeout(poll, ENDED.indexOf(section.dataset.state) >= 0 ? 10000 : 1000);
      });
  }

  document.querySelectorAll("[data-control]").forEach(function (button) {
    button.addEventListener("click", function () {
      const name = button.dataset.control;
      if (name === "cancel" && !window.confirm("Cancel every row not sent yet?")) { return; }
      const error = document.getElementById("control-error");
      error.textContent = "";
      post(base + "/" + name).then(function (answer) {
        return answer.json().then(function (body) {
          if (answer.ok) { show(body); } else { error.textContent = body.message || answer.statusText; }
        });
      }).catch(function () { error.textContent = "the front did not answer"; });
    });
  });

  controls(section.querySelector('[data-field="state"]').textContent);
  poll();
})();
