// lvd2m preview: filter, sort and page the embedded clips. Only one page of clips is in the DOM at a time,
// and their thumbnails load lazily. The filter state lives in the URL fragment, e.g. #stage=cuts&page=2.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("clip-data").textContent);
  var clips = data.clips;
  var pageSize = data.page_size;
  var stageRank = {};
  data.stages.forEach(function (s, i) { stageRank[s] = i; });
  clips.forEach(function (c, i) { c.order = i; });

  var byId = function (id) { return document.getElementById(id); };
  var list = byId("clips");
  var names = ["stage", "reason", "dmin", "dmax", "fmin", "fmax", "sort", "order"];
  var controls = {};
  names.forEach(function (n) { controls[n] = byId("f-" + n); });
  var page = 1;

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function secs(t) {
    if (t === null || t === undefined) return "?";
    if (t < 60) return t.toFixed(1) + " s";
    var m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }

  function number(value) {
    if (value === "" || value === null) return null;
    var n = parseFloat(value);
    return isNaN(n) ? null : n;
  }

  function readHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    names.forEach(function (n) {
      var c = controls[n], v = params.get(n);
      c.value = v === null ? c.dataset.default : v;
      if (c.tagName === "SELECT" && c.selectedIndex < 0) c.value = c.dataset.default;
    });
    page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  }

  function writeHash() {
    var params = new URLSearchParams();
    names.forEach(function (n) { if (controls[n].value !== controls[n].dataset.default) params.set(n, controls[n].value); });
    if (page > 1) params.set("page", String(page));
    var text = params.toString();
    try {
      history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
    } catch (e) { /* some file:// setups refuse; the view still updates */ }
  }

  function within(value, lo, hi) {
    if (lo === null && hi === null) return true;
    if (value === null) return false;
    return (lo === null || value >= lo) && (hi === null || value <= hi);
  }

  function selected() {
    var f = {stage: controls.stage.value, reason: controls.reason.value};
    ["dmin", "dmax", "fmin", "fmax"].forEach(function (n) { f[n] = number(controls[n].value); });
    return f;
  }

  function matches(c, f) {
    if (f.stage === "rejected") { if (c.stage === "accepted") return false; }
    else if (f.stage !== "all" && c.stage !== f.stage) return false;
    if (f.reason && c.reason_class !== f.reason) return false;
    return within(c.duration, f.dmin, f.dmax) && within(c.flow, f.fmin, f.fmax);
  }

  var sortKeys = {
    order: function (c) { return c.order; },
    duration: function (c) { return c.duration; },
    flow: function (c) { return c.flow; },
    video: function (c) { return c.video_id; },
    stage: function (c) { return stageRank[c.stage]; }
  };

  function sorted(rows) {
    var key = sortKeys[controls.sort.value] || sortKeys.order;
    var sign = controls.order.value === "desc" ? -1 : 1;
    return rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || x === undefined) return (y === null || y === undefined) ? a.order - b.order : 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * sign || a.order - b.order;
    });
  }

  function timeline(c) {
    var bar = h("div", {"class": "timeline", title: "clip timeline: grey ticks are the frames shown, red marks scene cuts"});
    var d = c.duration;
    if (!d) return bar;
    var at = function (t) { return Math.max(0, Math.min(100, 100 * t / d)).toFixed(2) + "%"; };
    c.thumbs.forEach(function (th) { bar.appendChild(h("span", {"class": "tick", style: "left:" + at(th[0])})); });
    c.segments.forEach(function (s) { if (s[0] > 0) bar.appendChild(h("span", {"class": "seg", style: "left:" + at(s[0])})); });
    c.cuts.forEach(function (t) {
      bar.appendChild(h("span", {"class": "cut", style: "left:" + at(t), title: "scene cut at " + secs(t)}));
    });
    return bar;
  }

  function frames(c, thumbs) {
    var size = c.thumb_size || [160, 90];
    return h("div", {"class": "frames"}, thumbs.map(function (th) {
      return h("figure", {}, [
        h("img", {src: th[1], loading: "lazy", decoding: "async", width: size[0], height: size[1],
                  alt: "frame at " + secs(th[0])}),
        h("figcaption", {text: secs(th[0])})
      ]);
    }));
  }

  function sheet(c) {
    var box = h("div", {"class": "sheet"});
    if (!c.thumbs.length) {
      box.appendChild(h("div", {"class": "placeholder",
        text: "no frames: " + (c.thumb_error || "thumbnails were not made (--no-thumbs)")}));
    }
    var used = {};
    c.segments.forEach(function (s, i) {
      var last = i === c.segments.length - 1;
      var mine = c.thumbs.filter(function (th, j) {
        var inside = th[0] >= s[0] && (th[0] < s[1] || (last && th[0] <= s[1]));
        if (inside) used[j] = true;
        return inside;
      });
      box.appendChild(h("div", {"class": "segment"}, [
        h("div", {"class": "seg-head", text: secs(s[0]) + " \u2013 " + secs(s[1]) +
                                             (s[3] === null ? "" : " \u00b7 alignment " + s[3].toFixed(3))}),
        mine.length ? frames(c, mine) : null,
        h("p", {"class": "seg-caption", text: s[2]})
      ]));
    });
    var rest = c.thumbs.filter(function (th, j) { return !used[j]; });
    if (rest.length) box.appendChild(h("div", {"class": "segment"}, [frames(c, rest)]));
    return box;
  }

  function card(c) {
    var accepted = c.stage === "accepted";
    var meta = [secs(c.duration)];
    if (c.flow !== null) meta.push("flow " + c.flow.toFixed(1));
    if (c.clip_score !== null) meta.push("caption alignment " + c.clip_score.toFixed(3));
    if (c.size) meta.push(c.size);
    if (c.fps) meta.push(c.fps.toFixed(2) + " fps");
    if (c.span[0]) meta.push("span " + secs(c.span[0]) + " \u2013 " + secs(c.span[1]));
    var node = h("article", {"class": "clip " + (accepted ? "accepted" : "rejected"), "data-key": c.key,
                             "data-stage": c.stage}, [
      h("header", {}, [
        h("span", {"class": "badge", text: accepted ? "accepted" : "rejected \u00b7 " + c.stage}),
        h("span", {"class": "vid", text: c.video_id}),
        h("span", {"class": "meta", text: meta.join(" \u00b7 ")}),
        h("span", {"class": "url", text: c.url})
      ]),
      accepted ? null : h("p", {"class": "reason", text: c.reason}),
      timeline(c),
      sheet(c)
    ]);
    if (c.semantic) {
      var p = h("p", {"class": "semantic"});
      Object.keys(c.semantic).forEach(function (k, i) {
        p.appendChild(document.createTextNode((i ? " \u00b7 " : "") + k.replace(/_/g, " ") + ": "));
        p.appendChild(h("span", {"class": c.semantic[k], text: c.semantic[k]}));
      });
      node.appendChild(p);
    }
    if (c.caption) node.appendChild(h("p", {"class": "caption"}, [h("b", {text: "caption: "}), document.createTextNode(c.caption)]));
    if (c.orig_caption) node.appendChild(h("p", {"class": "caption"}, [h("b", {text: "source caption: "}), document.createTextNode(c.orig_caption)]));
    return node;
  }

  function render() {
    var started = performance.now();
    var f = selected();
    var rows = sorted(clips.filter(function (c) { return matches(c, f); }));
    var pages = Math.max(1, Math.ceil(rows.length / pageSize));
    page = Math.min(page, pages);
    var part = document.createDocumentFragment();
    rows.slice((page - 1) * pageSize, page * pageSize).forEach(function (c) { part.appendChild(card(c)); });
    list.replaceChildren(part);
    list.dataset.matching = rows.length;
    list.dataset.page = page;
    list.dataset.pages = pages;
    byId("count").textContent = rows.length + " of " + clips.length + " clips match";
    document.querySelectorAll(".pager").forEach(function (nav) {
      nav.querySelector(".where").textContent = "page " + page + " of " + pages;
      nav.querySelector(".prev").disabled = page <= 1;
      nav.querySelector(".next").disabled = page >= pages;
    });
    document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
  }

  names.forEach(function (n) {
    controls[n].addEventListener("change", function () { page = 1; writeHash(); render(); });
  });
  byId("f-reset").addEventListener("click", function () {
    names.forEach(function (n) { controls[n].value = controls[n].dataset.default; });
    page = 1; writeHash(); render();
  });
  document.querySelectorAll(".pager").forEach(function (nav) {
    nav.querySelector(".prev").addEventListener("click", function () { page -= 1; writeHash(); render(); });
    nav.querySelector(".next").addEventListener("click", function () {
      page += 1; writeHash(); render(); list.scrollIntoView();
    });
  });
  window.addEventListener("hashchange", function () { readHash(); render(); });
  readHash();
  render();
})();
