/* gridmap's map-page helpers: layers that load GeoJSON from the app's own API (following the
 * OGC API "next" links page by page), popups built from a field list, a load-status badge.
 * Loaded by every page made with api.pages.base.offline_map; needs Leaflet (and, for clustered
 * layers, Leaflet.markercluster). */
(function () {
  "use strict";

  var gridmap = { pending: 0, started: 0, failed: [], features: {} };
  var messages = { loading: "Loading…", failed: "Could not load layer: {layer}" };

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function formatValue(value) {
    if (typeof value === "number") { return value.toLocaleString(); }
    return escapeHtml(value);
  }

  /* An HTML table of the feature's properties: fields is [[property, label], ...]; empty values skipped. */
  function popupHtml(fields, props) {
    var rows = [];
    fields.forEach(function (f) {
      var v = props[f[0]];
      if (v === null || v === undefined || v === "") { return; }
      rows.push("<tr><th>" + escapeHtml(f[1]) + "</th><td>" + formatValue(v) + "</td></tr>");
    });
    return '<table class="gridmap-popup">' + rows.join("") + "</table>";
  }

  function statusBox() {
    var el = document.getElementById("gridmap-status");
    if (!el) {
      el = document.createElement("div");
      el.id = "gridmap-status";
      el.className = "gridmap-status";
      document.body.appendChild(el);
    }
    return el;
  }

  function updateStatus() {
    var el = statusBox();
    if (gridmap.failed.length) {
      el.className = "gridmap-status error";
      el.textContent = gridmap.failed.map(function (n) { return messages.failed.replace("{layer}", n); }).join("; ");
    } else {
      el.className = "gridmap-status";
      el.textContent = gridmap.pending > 0 ? messages.loading : "";
    }
  }

  function styleFor(spec) {
    if (!spec.styleBy) { return function () { return spec.style || {}; }; }
    return function (feature) {
      var v = feature.properties[spec.styleBy.property];
      var own = spec.styleBy.values[v] || spec.styleBy["default"] || {};
      return Object.assign({}, spec.style || {}, own);
    };
  }

  /* Fetch url and every page its "next" links lead to, adding each page's features to target. */
  function loadPages(url, target, spec, count) {
    return fetch(url, { headers: { Accept: "application/geo+json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status + " " + r.statusText + " for " + url); }
        return r.json();
      })
      .then(function (fc) {
        target.addData(fc);
        count += (fc.features || []).length;
        var next = (fc.links || []).filter(function (l) { return l.rel === "next"; })[0];
        return next ? loadPages(next.href, target, spec, count) : count;
      });
  }

  /* A layer filled from the API.  spec: {url, name, style, styleBy, point, popup, tooltip, pane,
   * paneZ, cluster, clusterOptions}; parent: the map (or layer) it goes on.  Data arrives in any
   * order, so stacking is fixed by panes (spec.pane, z-index spec.paneZ), not by arrival.
   * Returns the layer to add to the map (a marker cluster group when clustered). */
  gridmap.remoteLayer = function (spec, parent) {
    var style = styleFor(spec);
    var pane;
    if (spec.pane && parent && parent.createPane) {
      if (!parent.getPane(spec.pane)) { parent.createPane(spec.pane).style.zIndex = spec.paneZ || 400; }
      pane = spec.pane;
    }
    var options = {
      style: style,
      onEachFeature: function (feature, layer) {
        if (spec.popup) { layer.bindPopup(popupHtml(spec.popup, feature.properties || {})); }
        if (spec.tooltip && feature.properties && feature.properties[spec.tooltip] != null) {
          layer.bindTooltip(escapeHtml(feature.properties[spec.tooltip]), { sticky: true });
        }
      }
    };
    if (pane) { options.pane = pane; }
    if (spec.point) {
      options.pointToLayer = function (feature, latlng) {
        return L.circleMarker(latlng, Object.assign(pane ? { pane: pane } : {}, spec.point, style(feature)));
      };
    }
    var geojson = L.geoJson(null, options);
    var layer = geojson;
    if (spec.cluster) {
      layer = L.markerClusterGroup(spec.clusterOptions || {});
    }
    gridmap.pending += 1;
    gridmap.started += 1;
    updateStatus();
    layer.loaded = loadPages(spec.url, geojson, spec, 0)
      .then(function (n) {
        gridmap.features[spec.name] = n;
        if (spec.cluster) { layer.addLayer(geojson); }
        return n;
      })
      .catch(function (err) {
        gridmap.failed.push(spec.name);
        console.error("gridmap: layer " + spec.name + ": " + err.message);
      })
      .then(function (n) {
        gridmap.pending -= 1;
        updateStatus();
        return n;
      });
    return layer;
  };

  gridmap.setMessages = function (m) { Object.assign(messages, m); updateStatus(); };
  gridmap.escapeHtml = escapeHtml;
  gridmap.popupHtml = popupHtml;
  window.gridmap = gridmap;
})();
