/* gridmap's planner workbench (/plans and /plans/{id}, served by api/pages/workbench.py).
 * Plain JavaScript on the vendored Leaflet.  Every datum comes from the JSON API (the plans API,
 * the OGC features API); every string from the page's boot block (api/i18n.py catalogues).
 * window.workbench exposes the state the browser tests and the benchmark read:
 * ready, busy, moves, lastMoveMs, grids, units. */
(function () {
  "use strict";

  var boot = JSON.parse(document.getElementById("wb-boot").textContent);
  var T = boot.t;
  var LANG = boot.lang;
  var wb = window.workbench = { ready: false, busy: 0, moves: 0, lastMoveMs: null, grids: {}, units: {},
                                undo: [], redo: [], messages: [] };

  function t(key, fmt) {
    var s = T[key] !== undefined ? T[key] : key;
    if (fmt) { Object.keys(fmt).forEach(function (k) { s = s.split("{" + k + "}").join(fmt[k]); }); }
    return s;
  }
  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v) { return (v === null || v === undefined) ? "" : Number(v).toLocaleString(LANG === "zh" ? "zh-CN" : "en"); }
  function fixed(v, d) { return (v === null || v === undefined || isNaN(v)) ? "" : Number(v).toFixed(d); }
  function date(iso) { return iso ? new Date(iso).toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB") : ""; }
  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (html !== undefined) { e.innerHTML = html; }
    return e;
  }
  function $(id) { return document.getElementById(id); }
  function key() { return "wb-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2); }
  function withLang(url) { return url + (url.indexOf("?") < 0 ? "?" : "&") + "lang=" + LANG; }

  function api(method, url, body) {
    // the OGC items answer GeoJSON only when asked for it (application/json is tipg's plain rows)
    var headers = { "Accept": url.indexOf("/collections/") === 0 ? "application/geo+json" : "application/json",
                    "Accept-Language": LANG };  // the API's errors in the page's language
    if (method !== "GET") { headers["Idempotency-Key"] = key(); }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    wb.busy++;
    return fetch(url, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.text().then(function (txt) {
          var j = txt ? JSON.parse(txt) : null;
          if (!r.ok) {
            var e = new Error((j && (j.detail || j.title)) || ("HTTP " + r.status));
            e.status = r.status; e.body = j; throw e;
          }
          return j;
        });
      })
      .finally(function () { wb.busy--; });
  }

  function say(text, kind) {
    var box = $("wb-message");
    if (!box) { return; }
    box.textContent = text;
    box.className = "wb-message " + (kind || "info");
    wb.messages.push({ text: text, kind: kind || "info" });
  }

  function header(extra) {
    var other = LANG === "zh" ? "en" : "zh";
    var url = new URL(window.location.href);
    url.searchParams.set("lang", other);
    var h = el("header", { "class": "wb-header" });
    h.innerHTML = '<a class="wb-home" href="' + withLang("/") + '">' + esc(t("wb.home")) + "</a>" +
      '<a class="wb-plans" href="' + withLang("/plans") + '">' + esc(t("wb.plans")) + "</a>" +
      '<h1 id="wb-title">' + esc(t("wb.title")) + "</h1>" + (extra || "") +
      '<a id="wb-lang" class="wb-lang" href="' + esc(url.pathname + url.search) + '">' + esc(t("wb.language")) + "</a>";
    return h;
  }

  /* ---------------------------------------------------------------- the list of plans */

  function listView() {
    var app = $("wb-app");
    app.appendChild(header());
    var main = el("main", { "class": "wb-list" });
    main.innerHTML =
      '<section><h2>' + esc(t("wb.new_plan")) + '</h2><form id="wb-create"><label>' + esc(t("wb.community")) +
      ' <select id="wb-community"></select></label> <button type="submit" id="wb-create-btn">' + esc(t("wb.create")) +
      '</button></form></section><section><h2>' + esc(t("wb.plans")) + '</h2><table class="wb-table" id="wb-plan-list">' +
      "<thead><tr><th>#</th><th>" + esc(t("wb.community")) + "</th><th>" + esc(t("wb.status")) + "</th><th>" +
      esc(t("wb.created")) + "</th><th></th></tr></thead><tbody></tbody></table></section>" +
      '<div id="wb-message" class="wb-message"></div>';
    app.appendChild(main);
    var names = {};
    Promise.all([
      api("GET", "/collections/areas/items?level=community&limit=10000"),
      api("GET", "/plans"),
    ]).then(function (res) {
      var sel = $("wb-community");
      res[0].features.map(function (f) { return f.properties; })
        .sort(function (a, b) { return a.code < b.code ? -1 : 1; })
        .forEach(function (p) {
          names[p.code] = p.name;
          sel.appendChild(el("option", { value: p.code }, esc(p.name + " " + p.code)));
        });
      var tb = document.querySelector("#wb-plan-list tbody");
      if (!res[1].plans.length) { tb.innerHTML = '<tr><td colspan="5">' + esc(t("wb.no_plans")) + "</td></tr>"; }
      res[1].plans.forEach(function (p) {
        var comms = p.communities.map(function (c) { return (names[c] || "") + " " + c; }).join("、");
        tb.appendChild(el("tr", {}, "<td>" + p.id + "</td><td>" + esc(comms) + "</td><td>" +
          esc(t("wb.status." + p.status)) + "</td><td>" + esc(date(p.created_at)) + '</td><td><a href="' +
          withLang("/plans/" + p.id) + '">' + esc(t("wb.open")) + "</a></td>"));
      });
      wb.ready = true;
    }).catch(function (e) { say(t("wb.failed", { detail: e.message }), "error"); wb.ready = true; });
    $("wb-create").addEventListener("submit", function (ev) {
      ev.preventDefault();
      say(t("wb.creating"));
      $("wb-create-btn").disabled = true;
      api("POST", "/plans", { community: $("wb-community").value }).then(function (ans) {
        window.location.href = withLang("/plans/" + ans.plans[0].id);
      }).catch(function (e) { $("wb-create-btn").disabled = false; say(t("wb.failed", { detail: e.message }), "error"); });
    });
  }

  /* ---------------------------------------------------------------- the workbench */

  var PALETTE = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
                 "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f", "#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6"];
  var BAND_COLOUR = { under: "#2c7bb6", in_band: "#1a9641", over: "#d7191c" };
  var S = { plan: null, map: null, selected: null, tool: "click", brush: 24, allowSplit: false, sort: ["code", 1],
            colours: {}, layers: {}, readonly: false, picked: {}, line: null };

  function unitKey(comm, id) { return comm + "/" + id; }
  function community() { return S.plan.communities[0]; }

  function planView() {
    var app = $("wb-app");
    var pid = boot.plan;
    app.appendChild(header('<span id="wb-plan-name" class="wb-plan-name">' + esc(t("wb.plan_no", { id: pid })) + "</span>"));
    var tools =
      '<div class="wb-tools" id="wb-tools">' +
      '<span class="wb-group"><b>' + esc(t("wb.tool")) + "</b> " +
      ["click", "box", "brush", "line"].map(function (x) {
        return '<label><input type="radio" name="wb-tool" value="' + x + '"' + (x === "click" ? " checked" : "") + "> " +
          esc(t("wb.tool." + x)) + "</label>";
      }).join(" ") +
      ' <label>' + esc(t("wb.brush_size")) + ' <input type="range" id="wb-brush" min="6" max="80" value="24"></label></span>' +
      '<span class="wb-group"><label><input type="checkbox" id="wb-allow-split"> ' + esc(t("wb.allow_split")) + "</label></span>" +
      '<span class="wb-group"><button id="wb-undo" disabled>' + esc(t("wb.undo")) + '</button><button id="wb-redo" disabled>' +
      esc(t("wb.redo")) + "</button></span>" +
      '<span class="wb-group"><button id="wb-find-unassigned">' + esc(t("wb.find_unassigned")) +
      '</button><button id="wb-find-detached">' + esc(t("wb.find_detached")) + "</button></span>" +
      '<span class="wb-group"><button id="wb-autobalance">' + esc(t("wb.autobalance")) + '</button><button id="wb-autobalance-picked" disabled>' +
      esc(t("wb.autobalance_picked")) + '</button><button id="wb-compare">' + esc(t("wb.compare")) + '</button><button id="wb-swipe">' +
      esc(t("wb.swipe")) + '</button><button id="wb-publish">' + esc(t("wb.publish")) + "</button></span>" +
      '<span class="wb-group">' + esc(t("wb.export")) + " " + ["gpkg", "geojson", "xlsx"].map(function (f) {
        return '<a class="wb-export" id="wb-export-' + f + '" href="/plans/' + pid + "/export?format=" + f + (f === "xlsx" ? "&amp;lang=" + LANG : "") + '">' +
          esc(t("wb.format." + f)) + "</a>";
      }).join(" ") + '</span><span class="wb-group"><button id="wb-print">' + esc(t("wb.print")) + "</button></span></div>";
    var body = el("div", { "class": "wb-body" });
    body.innerHTML = tools +
      '<div class="wb-main"><aside class="wb-side"><div id="wb-selected" class="wb-selected">' + esc(t("wb.pick_grid")) +
      '</div><div id="wb-message" class="wb-message"></div><div id="wb-totals" class="wb-totals"></div>' +
      '<table class="wb-table wb-grids" id="wb-grid-table"><thead><tr>' +
      '<th class="wb-pickcell" title="' + esc(t("wb.pick")) + '">' + esc(t("wb.pick")) + "</th>" +
      [["code", "wb.grid"], ["households", "wb.households"], ["status", "wb.band"], ["contiguous", "wb.contiguous"],
       ["polsby_popper", "wb.compactness"], ["moved", "wb.moved"], ["locked", "wb.locked"]].map(function (c) {
        return '<th data-sort="' + c[0] + '">' + esc(t(c[1])) + "</th>";
      }).join("") + '</tr></thead><tbody></tbody></table>' +
      '<div id="wb-proposal" class="wb-panel" hidden></div><div id="wb-changes" class="wb-panel" hidden></div>' +
      '<div id="wb-history" class="wb-panel" hidden></div></aside><div id="wb-map" class="wb-map"></div></div>' +
      '<div id="wb-dialog" class="wb-dialog" hidden><div class="wb-dialog-box"><p id="wb-dialog-text"></p>' +
      '<button id="wb-dialog-ok">' + esc(t("wb.confirm")) + '</button> <button id="wb-dialog-cancel">' +
      esc(t("wb.cancel")) + "</button></div></div>";
    app.appendChild(body);
    S.map = L.map("wb-map", { zoomSnap: 0.25, boxZoom: false, preferCanvas: true, attributionControl: false });
    S.renderer = L.canvas({ padding: 0.2 });
    S.map.setView([31.5, 120.3], 12);
    if (window.ResizeObserver) {  // the side table and the print view resize the map: keep Leaflet's size right
      new ResizeObserver(function () { S.map.invalidateSize(false); }).observe($("wb-map"));
    }
    wire(pid);
    load(pid).catch(function (e) { say(t("wb.failed", { detail: e.message }), "error"); wb.ready = true; });
  }

  function load(pid) {
    // the plan and the community's context layers are asked for at once (the context needs only the
    // community's code, which the plan's page knows from the plan list or the plan itself)
    var plan = api("GET", "/plans/" + pid + "?units=true");
    var ctx = plan.then(function (p) { return contextData(p.communities[0]); });
    wb.timings = {};
    function mark(name) { wb.timings[name] = Math.round(performance.now()); }
    return plan.then(function (plan) {
      mark("plan");
      S.plan = plan;
      S.readonly = plan.status !== "draft";
      var codes = plan.grids.features.map(function (f) { return f.properties.code; }).sort();
      codes.forEach(function (c, i) { S.colours[c] = PALETTE[i % PALETTE.length]; });
      plan.grids.features.forEach(function (f) { setGrid(f.properties); });
      drawUnits(plan.units);
      drawOutlines(plan.grids);
      renderTable();
      if (S.readonly) { readonly(); }
      S.map.invalidateSize(false);
      var b = S.layers.units.getBounds();
      if (b.isValid()) { S.map.fitBounds(b, { padding: [10, 10], animate: false }); }
      mark("units_drawn");
      var streets = streetTiles();  // the tiles in view start loading now, beside the context's requests
      return Promise.all([ctx.then(function (r) { mark("context"); context(r, streets.layer); }),
                          streets.drawn.then(function () { mark("street_tiles"); }), S.readonly ? history() : null]);
    }).then(function () { wb.readyMs = performance.now(); wb.ready = true; });
  }

  function setGrid(p) {
    var g = wb.grids[p.code || p.label] || (wb.grids[p.code || p.label] = { code: p.code || p.label });
    ["community_code", "households", "status", "contiguous", "polsby_popper", "locked", "units"].forEach(function (k) {
      if (p[k] !== undefined) { g[k] = p[k]; }
    });
    if (p.label !== undefined && p.contiguous === undefined) { g.contiguous = true; }
    if (g.contiguous === undefined) { g.contiguous = p.parts === undefined ? true : p.parts <= 1; }
    return g;
  }

  function unitStyle(u) {
    var g = u.grid;
    return { renderer: S.renderer, weight: u.flag ? 2.5 : 0.4, color: u.flag ? "#d7191c" : "#666",
             fillColor: g ? S.colours[g] || "#ccc" : "#ffffff", fillOpacity: g ? 0.72 : 0.25 };
  }

  function drawUnits(fc) {
    S.layers.units = L.geoJSON(fc, {
      style: function (f) {
        var p = f.properties;
        var k = unitKey(p.community_code, p.unit_id);
        wb.units[k] = { key: k, id: p.unit_id, comm: p.community_code, households: p.households,
                        grid: p.grid, home: p.home };
        return unitStyle(wb.units[k]);
      },
      onEachFeature: function (f, layer) {
        var u = wb.units[unitKey(f.properties.community_code, f.properties.unit_id)];
        u.layer = layer;
        u.center = layer.getBounds().getCenter();
        layer.on("click", function (ev) {
          if (S.tool === "click") { L.DomEvent.stop(ev); paint([u.key]); }
        });
        layer.bindTooltip(function () {
          return esc(t("wb.unit") + " " + u.id + " · " + t("wb.households") + " " + u.households + " · " +
                     t("wb.grid") + " " + (u.grid || "-"));
        }, { sticky: true });
      },
    }).addTo(S.map);
  }

  function shortCode(code) { var i = code.lastIndexOf("-"); return i >= 0 ? code.slice(i + 1) : code; }

  function drawOutlines(fc) {
    if (S.layers.outlines) { S.map.removeLayer(S.layers.outlines); }
    S.layers.outlines = L.geoJSON(fc, {
      interactive: false,
      style: function () { return { renderer: S.renderer, weight: 2.2, color: "#222", fill: false }; },
      onEachFeature: function (f, layer) {
        var g = wb.grids[f.properties.code];
        layer.bindTooltip("", { permanent: true, direction: "center", className: "wb-label" });
        layer.gridCode = f.properties.code;
        labelOf(layer, g);
      },
    }).addTo(S.map);
  }

  function labelOf(layer, g) {
    if (!g) { return; }
    layer.setTooltipContent('<b>' + esc(shortCode(g.code)) + "</b><br>" + esc(num(g.households)) +
      '<span class="wb-band-' + g.status + '"> ' + esc(t("wb.band." + g.status)) + "</span>");
  }

  function relabel(codes) {
    if (!S.layers.outlines) { return; }
    S.layers.outlines.eachLayer(function (layer) {
      if (codes.indexOf(layer.gridCode) >= 0) { labelOf(layer, wb.grids[layer.gridCode]); }
    });
  }

  function contextData(comm) {
    return Promise.all([
      api("GET", "/collections/areas/items?level=community&code=" + comm),
      api("GET", "/collections/stations/items?limit=10000&community_code=" + comm),
      api("GET", "/collections/grids/items?limit=10000&community_code=" + comm),
    ]);
  }

  /* the streets as vector tiles (tiles.js: only the tiles in view travel, as Mapbox vector tiles);
   * resolves when the tiles in view are drawn */
  function streetTiles() {
    var layer = window.gridmap.tileLayer({ collection: "streets", name: "streets", properties: ["road_class"],
                                           style: { color: "#777", weight: 1, opacity: 0.8 }, pane: "wb-streets", paneZ: 450 }, S.map);
    return { layer: layer, drawn: new Promise(function (resolve) {
      layer.once("load", resolve);
      layer.addTo(S.map);
      if (!window.gridmap.pending) { setTimeout(resolve, 0); }
    }) };
  }

  /* draws the community's context (r: its boundary, stations and current grids) and the layer
   * control (with `streets`, the street tile layer) */
  function context(r, streets) {
    var comm = community(), area = r[0], stationsFc = r[1], currentFc = r[2];
    S.communityName = area.features.length ? area.features[0].properties.name : comm;
    $("wb-plan-name").textContent = t("wb.plan_no", { id: S.plan.id }) + " · " + S.communityName + " " + comm +
      " · " + t("wb.status." + S.plan.status);
    var boundary = L.geoJSON(area, { interactive: false, style: { renderer: S.renderer, color: "#000", weight: 3.5, dashArray: "8 4", fill: false } });
    var stations = L.geoJSON(stationsFc, {
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, { renderer: S.renderer, radius: 5, color: "#fff", weight: 1.5, fillColor: "#7b3294", fillOpacity: 1 })
          .bindTooltip(esc(f.properties.name || ""));
      },
    });
    var current = L.geoJSON(currentFc, { interactive: false, style: { renderer: S.renderer, color: "#e6550d", weight: 2, dashArray: "4 4", fill: false } });
    S.current = currentFc;
    boundary.addTo(S.map); stations.addTo(S.map);
    S.layers.outlines.bringToFront();
    var over = {};
    over[t("wb.layer.current")] = current;
    over[t("wb.layer.streets")] = streets;
    over[t("wb.layer.stations")] = stations;
    over[t("wb.layer.boundary")] = boundary;
    over[t("wb.layer.check")] = checkLayer(comm);
    S.layers.current = current;
    L.control.layers(null, over, { collapsed: false, position: "topright" }).addTo(S.map);
  }

  /* the check of the current grids (GET /grids/check): overlaps, gaps, outside parts, pieces, sizes;
   * loaded when the layer is switched on */
  function checkLayer(comm) {
    var layer = L.geoJSON(null, {
      interactive: true,
      style: function () { return { renderer: S.renderer, color: "#b10026", weight: 2, fillColor: "#fc4e2a", fillOpacity: 0.35, dashArray: "2 3" }; },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(esc(t("wb.check." + p.issue) + (p.grid ? " · " + p.grid : "") + (p.other_grid ? " / " + p.other_grid : "") +
                          (p.households !== null && p.households !== undefined ? " · " + t("wb.households") + " " + num(p.households) : "")));
      },
    });
    layer.on("add", function () {
      if (layer.loaded) { return; }
      layer.loaded = api("GET", "/grids/check?format=geojson&area=" + encodeURIComponent(comm)).then(function (fc) {
        layer.addData(fc.features.filter(function (f) { return f.geometry; }));
        wb.check = { issues: fc.features.length, grids: fc.grids };
        say(fc.features.length ? t("wb.check_n", { n: fc.features.length, grids: fc.grids }) : t("wb.check_none", { grids: fc.grids }),
            fc.features.length ? "warn" : "info");
      }).catch(function (e) { say(t("wb.failed", { detail: e.message }), "error"); });
    });
    S.layers.check = layer;
    return layer;
  }

  /* the grid table */

  function movedByGrid() {
    var m = {};
    Object.keys(wb.units).forEach(function (k) {
      var u = wb.units[k];
      if (u.grid && u.grid !== u.home) { m[u.grid] = (m[u.grid] || 0) + u.households; }
    });
    return m;
  }

  function rowHtml(g, moved) {
    return '<td class="wb-pickcell"><input type="checkbox" class="wb-pick" data-code="' + esc(g.code) + '"' +
      (S.picked[g.code] ? " checked" : "") + (S.readonly ? " disabled" : "") + "></td>" + '<td class="wb-code"><span class="wb-swatch" style="background:' + (S.colours[g.code] || "#ccc") + '"></span>' +
      esc(g.code) + '</td><td class="wb-hh">' + esc(num(g.households)) + '</td><td class="wb-band wb-band-' + g.status +
      '" style="color:' + BAND_COLOUR[g.status] + '">' + esc(t("wb.band." + g.status)) + '</td><td class="wb-contig">' +
      esc(t(g.contiguous ? "wb.yes" : "wb.no")) + '</td><td class="wb-pp">' + esc(fixed(g.polsby_popper, 2)) +
      '</td><td class="wb-moved">' + esc(num(moved || 0)) + '</td><td class="wb-lockcell"><button class="wb-lock" data-code="' +
      esc(g.code) + '"' + (S.readonly ? " disabled" : "") + ">" + esc(t(g.locked ? "wb.unlock" : "wb.lock")) + "</button></td>";
  }

  function sortedGrids() {
    var moved = movedByGrid();
    var k = S.sort[0], dir = S.sort[1];
    var order = { under: 0, in_band: 1, over: 2 };
    return Object.keys(wb.grids).map(function (c) { return wb.grids[c]; }).sort(function (a, b) {
      var x = k === "moved" ? moved[a.code] || 0 : k === "status" ? order[a.status] : a[k];
      var y = k === "moved" ? moved[b.code] || 0 : k === "status" ? order[b.status] : b[k];
      if (typeof x === "boolean") { x = +x; y = +y; }
      return (x < y ? -1 : x > y ? 1 : a.code < b.code ? -1 : 1) * dir;
    });
  }

  function renderTable() {
    var tb = document.querySelector("#wb-grid-table tbody");
    var moved = movedByGrid();
    tb.innerHTML = "";
    sortedGrids().forEach(function (g) {
      var tr = el("tr", { "data-code": g.code, "class": g.code === S.selected ? "wb-row selected" : "wb-row" }, rowHtml(g, moved[g.code]));
      tb.appendChild(tr);
    });
    totals();
  }

  function updateRows(codes) {
    var moved = movedByGrid();
    var rows = document.querySelectorAll("#wb-grid-table tbody tr");
    for (var i = 0; i < rows.length; i++) {
      var c = rows[i].getAttribute("data-code");
      if (codes.indexOf(c) >= 0 || true) {
        var cell = rows[i].querySelector(".wb-moved");
        if (codes.indexOf(c) >= 0) { rows[i].innerHTML = rowHtml(wb.grids[c], moved[c]); }
        else if (cell) { cell.textContent = num(moved[c] || 0); }
      }
    }
    totals();
  }

  function totals() {
    var gs = Object.keys(wb.grids).map(function (c) { return wb.grids[c]; });
    var hh = gs.reduce(function (s, g) { return s + g.households; }, 0);
    var inband = gs.filter(function (g) { return g.status === "in_band"; }).length;
    $("wb-totals").textContent = t("wb.totals", { n: gs.length, hh: num(hh), inband: inband });
  }

  function select(code, zoom) {
    S.selected = code;
    var g = wb.grids[code];
    $("wb-selected").innerHTML = '<span class="wb-swatch" style="background:' + S.colours[code] + '"></span>' +
      esc(t("wb.selected", { code: code })) + (g && g.locked ? " · " + esc(t("wb.locked")) : "");
    var rows = document.querySelectorAll("#wb-grid-table tbody tr");
    for (var i = 0; i < rows.length; i++) { rows[i].classList.toggle("selected", rows[i].getAttribute("data-code") === code); }
    if (zoom) {
      var b = L.latLngBounds([]);
      Object.keys(wb.units).forEach(function (k) { if (wb.units[k].grid === code) { b.extend(wb.units[k].layer.getBounds()); } });
      if (b.isValid()) { S.map.fitBounds(b, { padding: [30, 30], maxZoom: 18, animate: false }); }
    }
  }

  /* painting */

  function refusal(e) {
    var b = e.body || {};
    var k = "wb.refused." + b.reason;
    var reason = T[k] !== undefined ? t(k, { grid: b.grid || "", unit: b.unit || "" }) :
      t("wb.refused.other", { grid: b.grid || "", unit: b.unit || "" });
    return t("wb.refused", { reason: reason });
  }

  /* Move the units (keys) into grid `to`; resolves to the answer, or null when refused.
   * `record`: push the move on the undo stack (undo/redo replay with record false). */
  function move(keys, to, opts) {
    opts = opts || {};
    var g = wb.grids[to];
    var ids = keys.filter(function (k) { var u = wb.units[k]; return u && u.grid !== to && u.comm === g.community_code; });
    if (!ids.length) { return Promise.resolve(null); }
    var prev = {};
    ids.forEach(function (k) { prev[k] = wb.units[k].grid; });
    var t0 = performance.now();
    var allow = opts.allowSplit !== undefined ? opts.allowSplit : S.allowSplit;
    return api("POST", "/plans/" + S.plan.id + "/moves",
               { units: ids.map(function (k) { return wb.units[k].id; }), to: to, allow_split: allow })
      .then(function (ans) {
        ans.moved.forEach(function (id) {
          var u = wb.units[unitKey(ans.community_code, id)];
          u.grid = to; u.flag = false; u.layer.setStyle(unitStyle(u));
        });
        var codes = ans.grids.map(function (s) { setGrid(s); return s.label; });
        updateRows(codes);
        relabel(codes);
        wb.moves++;
        wb.lastMoveMs = performance.now() - t0;
        if (opts.record !== false) {
          wb.undo.push({ to: to, prev: prev }); wb.redo = [];
        }
        buttons();
        var broken = ans.grids.filter(function (s) { return s.contiguous === false; }).map(function (s) { return s.label; });
        if (broken.length) { say(t("wb.warn_split", { codes: broken.join("、") }), "warn"); }
        else { say(t("wb.moved_n", { n: ans.moved.length })); }
        refreshOutlines();
        return ans;
      })
      .catch(function (e) {
        wb.lastMoveMs = performance.now() - t0;
        if (e.status === 409 && e.body && e.body.reason) { say(refusal(e), "refused"); return null; }
        say(t("wb.failed", { detail: e.message }), "error");
        return null;
      });
  }

  function paint(keys) {
    if (S.readonly) { return Promise.resolve(null); }
    if (!S.selected) { say(t("wb.pick_grid"), "warn"); return Promise.resolve(null); }
    return move(keys, S.selected);
  }

  /* merge grid `code` into `into` (the undo of a split): its units join `into`, it leaves the plan */
  function merge(code, into) {
    return api("POST", "/plans/" + S.plan.id + "/merge", { grid: code, into: into, allow_split: true })
      .then(function (ans) {
        ans.moved.forEach(function (id) {
          var u = wb.units[unitKey(ans.community_code, id)];
          u.grid = into; u.flag = false; u.layer.setStyle(unitStyle(u));
        });
        delete wb.grids[code];
        if (S.selected === code) { S.selected = into; }
        ans.grids.forEach(function (g) { setGrid(Object.assign({ community_code: ans.community_code }, g)); });
        renderTable();
        refreshOutlines();
        say(t("wb.merged", { grid: code, into: into }));
        return ans;
      })
      .catch(function (e) {
        if (e.status === 409 && e.body && e.body.reason) { say(refusal(e), "refused"); return null; }
        say(t("wb.failed", { detail: e.message }), "error");
        return null;
      });
  }

  /* undo: move each unit back to its grid (the state before was allowed, so splits are allowed);
   * a split is undone by merging the new grid back */
  function undo() {
    var m = wb.undo.pop();
    if (!m) { return Promise.resolve(); }
    if (m.split) {
      return merge(m.split.made, m.split.grid).then(function (ans) {
        (ans ? wb.redo : wb.undo).push(m); buttons();
      });
    }
    var back = {};
    Object.keys(m.prev).forEach(function (k) { if (m.prev[k]) { (back[m.prev[k]] = back[m.prev[k]] || []).push(k); } });
    var chain = Promise.resolve();
    Object.keys(back).forEach(function (g) {
      chain = chain.then(function () { return move(back[g], g, { record: false, allowSplit: true }); });
    });
    return chain.then(function () { wb.redo.push(m); buttons(); });
  }

  function redo() {
    var m = wb.redo.pop();
    if (!m) { return Promise.resolve(); }
    if (m.split) {
      return splitLine(m.split.grid, null, { line: m.split.line, allowSplit: true, record: false }).then(function (ans) {
        if (ans) { m.split.made = ans.grid; }
        (ans ? wb.undo : wb.redo).push(m); buttons();
      });
    }
    return move(Object.keys(m.prev), m.to, { record: false, allowSplit: true }).then(function () {
      wb.undo.push(m); buttons();
    });
  }

  function buttons() {
    $("wb-undo").disabled = S.readonly || !wb.undo.length;
    $("wb-redo").disabled = S.readonly || !wb.redo.length;
  }

  var refreshTimer = null;
  function refreshOutlines() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      api("GET", "/plans/" + S.plan.id).then(function (plan) {
        plan.grids.features.forEach(function (f) { setGrid(f.properties); });
        drawOutlines(plan.grids);
        S.plan.metrics = plan.metrics;
      }).catch(function () { /* the counts on screen are the moves' answers; outlines catch up next time */ });
    }, 600);
  }

  function unitsNear(point, radiusPx) {
    var out = [];
    Object.keys(wb.units).forEach(function (k) {
      var u = wb.units[k];
      var p = S.map.latLngToContainerPoint(u.center);
      if (p.distanceTo(point) <= radiusPx) { out.push(k); }
    });
    return out;
  }

  function wireTools() {
    var map = S.map;
    var box = null, start = null, brushed = null, cursor = null;
    map.on("click", function (ev) {
      if (S.tool === "line" && !S.readonly) { addLinePoint(ev.latlng); }
    });
    map.on("dblclick", function (ev) {
      if (S.tool === "line" && !S.readonly) { L.DomEvent.stop(ev); finishLine(); }
    });
    map.on("mousedown", function (ev) {
      if (S.tool === "click" || S.tool === "line" || S.readonly) { return; }
      map.dragging.disable();
      start = ev.latlng;
      if (S.tool === "box") {
        box = L.rectangle(L.latLngBounds(start, start), { color: "#333", weight: 1, dashArray: "3 3", fillOpacity: 0.05, interactive: false }).addTo(map);
      } else {
        brushed = {};
        unitsNear(ev.containerPoint, S.brush).forEach(function (k) { brushed[k] = true; });
      }
    });
    map.on("mousemove", function (ev) {
      if (S.tool === "brush") {
        if (!cursor) { cursor = L.circleMarker(ev.latlng, { radius: S.brush, color: "#000", weight: 1, fill: false, interactive: false }).addTo(map); }
        cursor.setLatLng(ev.latlng); cursor.setRadius(S.brush);
      }
      if (!start) { return; }
      if (box) { box.setBounds(L.latLngBounds(start, ev.latlng)); }
      if (brushed) { unitsNear(ev.containerPoint, S.brush).forEach(function (k) { brushed[k] = true; }); }
    });
    map.on("mouseup", function (ev) {
      if (!start) { return; }
      map.dragging.enable();
      var keys = [];
      if (box) {
        var b = box.getBounds();
        map.removeLayer(box); box = null;
        Object.keys(wb.units).forEach(function (k) { if (b.contains(wb.units[k].center)) { keys.push(k); } });
      } else if (brushed) {
        keys = Object.keys(brushed); brushed = null;
      }
      start = null;
      paint(keys);
    });
    document.querySelectorAll('input[name="wb-tool"]').forEach(function (r) {
      r.addEventListener("change", function () {
        S.tool = r.value;
        if (cursor && S.tool !== "brush") { map.removeLayer(cursor); cursor = null; }
        if (S.tool === "line") { map.doubleClickZoom.disable(); say(t("wb.line_hint")); }
        else { map.doubleClickZoom.enable(); clearLine(); }
      });
    });
    $("wb-brush").addEventListener("input", function () { S.brush = +this.value; });
    $("wb-allow-split").addEventListener("change", function () { S.allowSplit = this.checked; });
  }

  function wire(pid) {
    wireTools();
    $("wb-undo").addEventListener("click", undo);
    $("wb-redo").addEventListener("click", redo);
    document.querySelector("#wb-grid-table thead").addEventListener("click", function (ev) {
      var th = ev.target.closest("th");
      if (!th) { return; }
      var k = th.getAttribute("data-sort");
      S.sort = [k, S.sort[0] === k ? -S.sort[1] : 1];
      renderTable();
    });
    document.querySelector("#wb-grid-table tbody").addEventListener("click", function (ev) {
      var lockBtn = ev.target.closest("button.wb-lock");
      var pick = ev.target.closest("input.wb-pick");
      var tr = ev.target.closest("tr");
      if (lockBtn) { lock(lockBtn.getAttribute("data-code")); return; }
      if (pick) { pickGrid(pick.getAttribute("data-code"), pick.checked); return; }
      if (tr) { select(tr.getAttribute("data-code"), true); }
    });
    $("wb-find-unassigned").addEventListener("click", findUnassigned);
    $("wb-find-detached").addEventListener("click", findDetached);
    $("wb-autobalance").addEventListener("click", function () { autobalance(); });
    $("wb-autobalance-picked").addEventListener("click", function () { autobalance(pickedGrids()); });
    $("wb-swipe").addEventListener("click", function () { swipe(); });
    $("wb-compare").addEventListener("click", compare);
    $("wb-publish").addEventListener("click", publish);
    $("wb-print").addEventListener("click", printView);
    document.addEventListener("keydown", function (ev) {
      if ((ev.ctrlKey || ev.metaKey) && ev.key === "z") { ev.preventDefault(); (ev.shiftKey ? redo : undo)(); }
    });
  }

  function lock(code) {
    var g = wb.grids[code];
    return api("POST", "/plans/" + S.plan.id + "/lock", { grids: [code], locked: !g.locked }).then(function (ans) {
      g.locked = ans.locked;
      updateRows([code]);
      if (S.selected === code) { select(code, false); }
    }).catch(function (e) { say(t("wb.failed", { detail: e.message }), "error"); });
  }

  function findUnassigned() {
    var keys = Object.keys(wb.units).filter(function (k) { return !wb.units[k].grid; });
    var b = L.latLngBounds([]);
    keys.forEach(function (k) { var u = wb.units[k]; u.flag = true; u.layer.setStyle(unitStyle(u)); b.extend(u.layer.getBounds()); });
    say(keys.length ? t("wb.n_unassigned", { n: keys.length }) : t("wb.none_unassigned"), keys.length ? "warn" : "info");
    if (b.isValid()) { S.map.fitBounds(b, { padding: [40, 40], maxZoom: 18 }); }
    return keys.length;
  }

  function findDetached() {
    var codes = Object.keys(wb.grids).filter(function (c) { return wb.grids[c].contiguous === false; }).sort();
    say(codes.length ? t("wb.n_detached", { codes: codes.join("、") }) : t("wb.none_detached"), codes.length ? "warn" : "info");
    if (codes.length) { select(codes[0], true); }
    return codes;
  }

  /* picking grids for an auto-balance of those only */
  function pickedGrids() { return Object.keys(S.picked).filter(function (c) { return S.picked[c]; }).sort(); }
  function pickGrid(code, on) {
    S.picked[code] = !!on;
    var box = document.querySelector('input.wb-pick[data-code="' + code + '"]');
    if (box) { box.checked = !!on; }
    $("wb-autobalance-picked").disabled = S.readonly || !pickedGrids().length;
    return pickedGrids();
  }

  /* auto-balance: the engine redraws the draft's grids (all its unlocked grids, or the grids
   * `codes` only) keeping its locked grids, as a new draft; the proposal is drawn over the draft
   * and summarised beside it; accept keeps it (the old draft is discarded), discard drops it. */
  function autobalance(codes) {
    var panel = $("wb-proposal");
    panel.hidden = false;
    panel.textContent = t("wb.autobalancing");
    $("wb-autobalance").disabled = true;
    $("wb-autobalance-picked").disabled = true;
    var t0 = performance.now();
    return api("POST", "/plans/" + S.plan.id + "/balance", codes && codes.length ? { grids: codes } : {})
      .then(function (ans) { return api("GET", "/plans/" + ans.id); })
      .then(function (prop) {
        wb.autobalanceMs = performance.now() - t0;
        S.proposal = prop;
        if (S.layers.proposal) { S.map.removeLayer(S.layers.proposal); }
        S.layers.proposal = L.geoJSON(prop.grids, { interactive: false, style: { renderer: S.renderer, color: "#7b3294", weight: 3, dashArray: "6 3", fill: false } }).addTo(S.map);
        var pg = prop.grids.features.map(function (f) { return f.properties; });
        var dg = Object.keys(wb.grids).map(function (c) { return wb.grids[c]; });
        var inb = function (gs) { return gs.filter(function (g) { return g.status === "in_band"; }).length; };
        panel.innerHTML = "<h3>" + esc(t("wb.autobalance")) + "</h3><p id=\"wb-proposal-text\">" +
          esc(t("wb.proposal", { n: pg.length, inband: inb(pg) })) + "</p><p>" + esc(t("wb.draft_summary", { n: dg.length, inband: inb(dg) })) +
          '</p><table class="wb-table"><thead><tr><th>' + esc(t("wb.grid")) + "</th><th>" + esc(t("wb.households")) + "</th><th>" +
          esc(t("wb.band")) + "</th></tr></thead><tbody>" + pg.map(function (g) {
            return "<tr><td>" + esc(g.code) + "</td><td>" + esc(num(g.households)) + '</td><td class="wb-band-' + g.status + '">' +
              esc(t("wb.band." + g.status)) + "</td></tr>";
          }).join("") + '</tbody></table><button id="wb-accept">' + esc(t("wb.accept")) + '</button> <button id="wb-discard">' +
          esc(t("wb.discard")) + "</button>";
        $("wb-accept").addEventListener("click", function () {
          api("DELETE", "/plans/" + S.plan.id).then(function () { window.location.href = withLang("/plans/" + prop.id); })
            .catch(function (e) { say(t("wb.failed", { detail: e.message }), "error"); });
        });
        $("wb-discard").addEventListener("click", function () {
          api("DELETE", "/plans/" + prop.id).then(function () {
            S.map.removeLayer(S.layers.proposal); S.layers.proposal = null; S.proposal = null;
            panel.hidden = true; $("wb-autobalance").disabled = false; pickGrid("", false);
          }).catch(function (e) { say(t("wb.failed", { detail: e.message }), "error"); });
        });
      })
      .catch(function (e) {
        panel.hidden = true; $("wb-autobalance").disabled = false; pickGrid("", false);
        say(t("wb.failed", { detail: e.message }), "error");
      });
  }

  /* split by line: click points across the selected grid, double-click to finish; the server cuts
   * the grid along the unit boundaries nearest the line (streets, dwelling cells) */
  function addLinePoint(ll) {
    if (!S.line) { S.line = L.polyline([], { color: "#000", weight: 2, dashArray: "5 4", interactive: false }).addTo(S.map); }
    S.line.addLatLng(ll);
  }
  function clearLine() { if (S.line) { S.map.removeLayer(S.line); S.line = null; } }
  function finishLine() {
    var pts = S.line ? S.line.getLatLngs() : [];
    clearLine();
    if (pts.length < 2) { return Promise.resolve(null); }
    return splitLine(S.selected, pts);
  }
  /* split grid `code` along the drawn `latlngs` (or, to redo, `opts.line` as [lon, lat] pairs);
   * recorded on the undo stack unless opts.record is false */
  function splitLine(code, latlngs, opts) {
    opts = opts || {};
    if (S.readonly) { return Promise.resolve(null); }
    if (!code) { say(t("wb.pick_grid"), "warn"); return Promise.resolve(null); }
    var line = opts.line || latlngs.map(function (p) { return [+p.lng.toFixed(7), +p.lat.toFixed(7)]; });
    var allow = opts.allowSplit !== undefined ? opts.allowSplit : S.allowSplit;
    return api("POST", "/plans/" + S.plan.id + "/split", { grid: code, line: line, allow_split: allow })
      .then(function (ans) {
        if (opts.record !== false) {
          wb.undo.push({ split: { grid: code, line: line, allow: allow, made: ans.grid } }); wb.redo = [];
        }
        buttons();
        var fresh = ans.grids.filter(function (g) { return g.label === ans.grid; })[0];
        S.colours[ans.grid] = PALETTE[Object.keys(S.colours).length % PALETTE.length];
        ans.grids.forEach(function (g) { setGrid(Object.assign({ community_code: ans.community_code }, g)); });
        wb.grids[ans.grid].community_code = ans.community_code;
        wb.grids[ans.grid].locked = false;
        ans.moved.forEach(function (id) {
          var u = wb.units[unitKey(ans.community_code, id)];
          u.grid = ans.grid; u.flag = false; u.layer.setStyle(unitStyle(u));
        });
        renderTable();
        refreshOutlines();
        say(t("wb.split_done", { grid: code, code: ans.grid, hh: num(fresh ? fresh.households : 0) }));
        wb.lastSplit = ans;
        return ans;
      })
      .catch(function (e) {
        if (e.status === 409 && e.body && e.body.reason) { say(refusal(e), "refused"); return null; }
        say(t("wb.failed", { detail: e.message }), "error");
        return null;
      });
  }

  /* swipe: the current grids (before) left of a divider dragged across the map, the draft (after)
   * right of it; the before layer lives in its own pane, clipped at the divider */
  function swipe(on) {
    on = on === undefined ? !S.swipe : !!on;
    var map = S.map;
    if (!on) {
      if (S.swipe) { map.removeLayer(S.swipe.layer); S.swipe.bar.remove(); S.swipe.range.remove(); map.off("move zoom resize", S.swipe.clip); }
      S.swipe = null; $("wb-swipe").classList.remove("on");
      return null;
    }
    if (S.swipe) { return S.swipe; }
    if (!map.getPane("wb-before")) { map.createPane("wb-before").style.zIndex = 450; }
    var pane = map.getPane("wb-before");
    var layer = L.geoJSON(S.current || { type: "FeatureCollection", features: [] }, {
      pane: "wb-before", renderer: L.svg({ pane: "wb-before" }), interactive: false,
      style: function (f) {
        return { color: "#e6550d", weight: 2.5, fillColor: S.colours[f.properties.code] || "#cccccc", fillOpacity: 0.9 };
      },
    }).addTo(map);
    var box = map.getContainer();
    var bar = el("div", { "class": "wb-swipe-bar", id: "wb-swipe-bar" });
    var range = el("input", { type: "range", min: "0", max: "100", value: "50", step: "1", id: "wb-swipe-range",
                              "class": "wb-swipe-range", "aria-label": t("wb.swipe") });
    box.appendChild(bar); box.appendChild(range);
    L.DomEvent.disableClickPropagation(range);
    L.DomEvent.on(range, "mousedown touchstart pointerdown", function (e) { L.DomEvent.stopPropagation(e); map.dragging.disable(); });
    L.DomEvent.on(range, "mouseup touchend pointerup", function () { map.dragging.enable(); });
    function clip() {
      var size = map.getSize();
      var x = size.x * (+range.value) / 100;
      var nw = map.containerPointToLayerPoint([0, 0]);
      var se = map.containerPointToLayerPoint(size);
      var cx = map.containerPointToLayerPoint([x, 0]).x;
      pane.style.clip = "rect(" + [nw.y, cx, se.y, nw.x].join("px, ") + "px)";
      bar.style.left = x + "px";
      S.swipe.x = x;
    }
    S.swipe = { layer: layer, bar: bar, range: range, clip: clip, pane: pane };
    range.addEventListener("input", clip);
    map.on("move zoom resize", clip);
    clip();
    $("wb-swipe").classList.add("on");
    say(t("wb.swipe_hint"));
    return S.swipe;
  }

  /* compare: the current grids drawn over the draft and the units whose households change grid */
  function compare() {
    var panel = $("wb-changes");
    if (!panel.hidden) { panel.hidden = true; S.map.removeLayer(S.layers.current); return; }
    S.layers.current.addTo(S.map);
    var rows = Object.keys(wb.units).map(function (k) { return wb.units[k]; })
      .filter(function (u) { return u.grid !== u.home && u.households > 0; })
      .sort(function (a, b) { return (a.home || "") < (b.home || "") ? -1 : (a.home || "") > (b.home || "") ? 1 : a.id < b.id ? -1 : 1; });
    var hh = rows.reduce(function (s, u) { return s + u.households; }, 0);
    panel.hidden = false;
    panel.innerHTML = "<h3>" + esc(t("wb.compare")) + '</h3><p id="wb-changes-total">' + esc(t("wb.changes", { hh: num(hh) })) +
      '</p><table class="wb-table"><thead><tr><th>' + esc(t("wb.unit")) + "</th><th>" + esc(t("wb.households")) + "</th><th>" +
      esc(t("wb.from")) + "</th><th>" + esc(t("wb.to")) + "</th></tr></thead><tbody>" + rows.map(function (u) {
        return "<tr><td>" + esc(u.id) + "</td><td>" + esc(num(u.households)) + "</td><td>" + esc(u.home || "-") + "</td><td>" +
          esc(u.grid || "-") + "</td></tr>";
      }).join("") + "</tbody></table>";
    return hh;
  }

  function confirmDialog(text) {
    return new Promise(function (resolve) {
      $("wb-dialog-text").textContent = text;
      $("wb-dialog").hidden = false;
      function done(v) { $("wb-dialog").hidden = true; $("wb-dialog-ok").onclick = $("wb-dialog-cancel").onclick = null; resolve(v); }
      $("wb-dialog-ok").onclick = function () { done(true); };
      $("wb-dialog-cancel").onclick = function () { done(false); };
    });
  }

  function publish() {
    return api("GET", "/plans/" + S.plan.id + "/diff").then(function (d) {
      var closed = d.grids.filter(function (g) { return g.change !== "new"; }).length -
                   d.grids.filter(function (g) { return g.change === "closed" && false; }).length;
      var current = (S.current && S.current.features.length) || closed;
      var text = t("wb.publish_confirm", { comm: (S.communityName || "") + " " + community(), closed: current,
                                           n: Object.keys(wb.grids).length, hh: num(d.households_moved) });
      return confirmDialog(text);
    }).then(function (ok) {
      if (!ok) { return null; }
      return api("POST", "/plans/" + S.plan.id + "/publish").then(function () {
        say(t("wb.published"));
        return api("GET", "/plans/" + S.plan.id).then(function (plan) {
          S.plan.status = plan.status; S.readonly = true; readonly();
          $("wb-plan-name").textContent = t("wb.plan_no", { id: S.plan.id }) + " · " + (S.communityName || "") + " " +
            community() + " · " + t("wb.status." + plan.status);
          return history();
        });
      });
    }).catch(function (e) { say(t("wb.failed", { detail: e.message }), "error"); });
  }

  function readonly() {
    ["wb-undo", "wb-redo", "wb-autobalance", "wb-autobalance-picked", "wb-publish"].forEach(function (id) { $(id).disabled = true; });
    document.querySelectorAll("button.wb-lock").forEach(function (b) { b.disabled = true; });
    say(t("wb.readonly", { status: t("wb.status." + S.plan.status) }));
  }

  /* history: the community's grids at any past date (a slider over the dates versions began) */
  function history() {
    var comm = community();
    return api("GET", "/collections/grid_versions/items?limit=10000&community_code=" + comm + "&datetime=1900-01-01T00:00:00Z/..")
      .then(function (all) {
        var stops = {};
        all.features.forEach(function (f) { if (f.properties.valid_from) { stops[f.properties.valid_from] = true; } });
        var dates = Object.keys(stops).sort(function (a, b) { return new Date(a) - new Date(b); });
        var panel = $("wb-history");
        panel.hidden = false;
        panel.innerHTML = "<h3>" + esc(t("wb.history")) + '</h3><input type="range" id="wb-history-slider" min="0" max="' +
          Math.max(dates.length - 1, 0) + '" value="' + Math.max(dates.length - 1, 0) + '" step="1"><p id="wb-history-text"></p>';
        var slider = $("wb-history-slider");
        function show() {
          var at = dates[+slider.value];
          if (!at) { return Promise.resolve(); }
          var instant = new Date(new Date(at).getTime() + 1000).toISOString();
          return api("GET", "/collections/grid_versions/items?limit=10000&community_code=" + comm + "&datetime=" + encodeURIComponent(instant))
            .then(function (fc) {
              if (S.layers.history) { S.map.removeLayer(S.layers.history); }
              S.layers.history = L.geoJSON(fc, { interactive: false, style: { renderer: S.renderer, color: "#08519c", weight: 2.5, fill: false } }).addTo(S.map);
              $("wb-history-text").textContent = t("wb.history_at", { date: date(at), n: fc.features.length });
              wb.historyShown = { at: at, n: fc.features.length };
            });
        }
        slider.addEventListener("input", show);
        wb.historyDates = dates;
        return show();
      });
  }

  /* print view: the map and the grid table on one page (CSS @page in workbench.css) */
  function printView() {
    var on = !document.body.classList.contains("wb-print");
    document.body.classList.toggle("wb-print", on);
    $("wb-print").textContent = t(on ? "wb.close_print" : "wb.print");
    var title = $("wb-print-title");
    if (on && !title) {
      title = el("h2", { id: "wb-print-title", "class": "wb-print-title" });
      document.querySelector(".wb-side").insertBefore(title, document.querySelector(".wb-side").firstChild);
    }
    if (title) { title.textContent = t("wb.print_title", { id: S.plan.id, comm: (S.communityName || "") + " " + community() }); }
    S.map.invalidateSize();
    var b = S.layers.units.getBounds();
    if (b.isValid()) { S.map.fitBounds(b, { padding: [5, 5] }); }
  }

  wb.api = { move: move, paint: paint, undo: undo, redo: redo, select: select, lock: lock, publish: publish,
             splitLine: splitLine, swipe: swipe, pickGrid: pickGrid,
             autobalance: autobalance, compare: compare, findUnassigned: findUnassigned, findDetached: findDetached,
             printView: printView, history: history };
  wb.state = S;

  document.title = t("wb.title");
  if (boot.view === "list") { listView(); } else { planView(); }
})();
