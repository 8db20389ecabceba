// Swell's page scripts: forms that talk to the JSON API, the segment
// builder kept in sync with the filter text, live counts and the template
// preview. Plain browser JavaScript, no build step; htmx does the rest.
(function () {
  "use strict";

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var lang = document.body ? document.body.dataset.lang || "vi" : "vi";
  var numberFormat = new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-US");

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (t) {
        var json = null;
        try { json = t ? JSON.parse(t) : null; } catch (e) { json = null; }
        return { ok: r.ok, status: r.status, json: json };
      });
    });
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  // The API's error body as one line per problem: "field: reason".
  function errorText(res) {
    var e = res.json && res.json.error;
    if (!e) return "HTTP " + res.status;
    var lines = [e.message];
    (e.details || []).forEach(function (d) {
      var line = (d.field ? d.field + ": " : "") + d.reason;
      if (lines.indexOf(line) < 0) lines.push(line);
    });
    return lines.join("\n");
  }

  function setPath(obj, path, value) {
    var keys = path.split(".");
    var o = obj;
    for (var i = 0; i < keys.length - 1; i++) {
      o[keys[i]] = o[keys[i]] || {};
      o = o[keys[i]];
    }
    o[keys[keys.length - 1]] = value;
  }

  function getPath(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }

  // `{name}` in a template string, from the first source that has it.
  function fill(template, sources) {
    return template.replace(/\{([\w.]+)\}/g, function (_, key) {
      for (var i = 0; i < sources.length; i++) {
        var v = sources[i] && getPath(sources[i], key);
        if (v !== undefined && v !== null && v !== "") return encodeURIComponent(v);
      }
      return "";
    });
  }

  // A form's fields as JSON: data-number, data-json, data-list (the value,
  // converted, as a one-item list), data-list-item (checked boxes gathered in a list),
  // data-datetime (a local time as an instant), dotted names nest;
  // empty fields are left out, and so are disabled ones (a disabled
  // fieldset's too); data-url-only fields only fill the URL. A `*` in a
  // name is the key chosen in the [data-key] select of the same fieldset,
  // whose option's data-type (number, bool) says how to read the value.
  function formJson(form) {
    var body = {}, all = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "_csrf" || el.matches(":disabled")) return;
      var d = el.dataset;
      var name = el.name, type = null;
      if (name.indexOf("*") >= 0) {
        var keyEl = el.closest("fieldset, form").querySelector("[data-key]");
        var opt = keyEl && keyEl.selectedOptions[0];
        if (!opt || !opt.value) return;
        name = name.replace("*", opt.value);
        type = opt.dataset.type;
      }
      if (d.copyFrom) {
        var src = document.getElementById(d.copyFrom);
        el.value = src ? src.value : "";
      }
      var v = el.value;
      if (d.listItem !== undefined) {
        var list = getPath(body, name) || [];
        if (el.checked) list.push(d.number !== undefined ? Number(v) : v);
        setPath(body, name, list);
        return;
      }
      if (el.type === "checkbox") v = el.checked;
      else if (v === "") return;
      else if (d.number !== undefined || type === "number") v = Number(v);
      else if (type === "bool") v = v === "true" || v === "1" || v === "yes";
      else if (d.json !== undefined) {
        try { v = JSON.parse(v); } catch (e) { throw new Error(name + ": not valid JSON (" + e.message + ")"); }
      } else if (d.datetime !== undefined) v = new Date(v).toISOString();
      if (d.list !== undefined) v = [v];
      setPath(all, name, v);
      if (d.urlOnly === undefined) setPath(body, name, v);
    });
    // Unchecked groups leave no empty lists behind.
    (function prune(o) {
      Object.keys(o).forEach(function (k) {
        if (Array.isArray(o[k]) && o[k].length === 0) delete o[k];
        else if (o[k] && typeof o[k] === "object" && !Array.isArray(o[k])) prune(o[k]);
      });
    })(body);
    return { body: body, all: all };
  }

  // Each problem the API names a field for, also beside that field (the
  // form's own error line lists them all).
  function fieldErrors(form, res) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
    var e = res && res.json && res.json.error;
    ((e && e.details) || []).forEach(function (d) {
      var input = d.field && form.querySelector('[name="' + d.field.replace(/"/g, "") + '"]:enabled');
      if (!input) return;
      input.setAttribute("aria-invalid", "true");
      input.insertAdjacentElement("afterend", el("span", { class: "field-error error small", text: d.reason }));
    });
  }

  // ---- Parts of a form that depend on a choice -------------------------
  //
  // A fieldset with data-when="SWITCH:v1 v2" is enabled (and so shown and
  // sent) only while the form's [data-switch=SWITCH] control holds one of
  // those values. The server draws the first state; this keeps it in step.
  // The workflow builder's "mode" switch also carries the settings across:
  // the fields' config into the JSON box, and the JSON's values back into
  // the fields.

  function applySwitches(form) {
    form.querySelectorAll("fieldset[data-when]").forEach(function (fs) {
      var when = fs.dataset.when.split(":");
      var sw = form.querySelector('[data-switch="' + when[0] + '"]');
      fs.disabled = !sw || when[1].split(" ").indexOf(sw.value) < 0;
    });
  }

  function carrySettings(form, mode) {
    var box = form.querySelector('textarea[name="config"]');
    if (!box) return;
    if (mode === "json") {
      // The fields are still enabled: what they would send.
      var config;
      try { config = formJson(form).body.config; } catch (e) { config = undefined; }
      if (config && Object.keys(config).length) box.value = JSON.stringify(config, null, 2);
      return;
    }
    var json;
    try { json = JSON.parse(box.value || "{}"); } catch (e) { return; }
    Array.prototype.forEach.call(form.elements, function (f) {
      if (f.name.indexOf("config.") !== 0 || f.name.indexOf("*") >= 0) return;
      var v = getPath(json, f.name.slice(7));
      if (v !== undefined && v !== null && typeof v !== "object") f.value = String(v);
    });
  }

  function switches() {
    document.querySelectorAll("form").forEach(function (form) {
      if (form.querySelector("fieldset[data-when]")) applySwitches(form);
    });
    document.addEventListener("change", function (ev) {
      var sw = ev.target;
      if (!sw.dataset || sw.dataset.switch === undefined || !sw.form) return;
      if (sw.dataset.switch === "mode") carrySettings(sw.form, sw.value);
      applySwitches(sw.form);
    });
  }

  // One listener for every form that talks to the API, including forms
  // htmx swaps in later.
  function apiForms() {
    document.addEventListener("submit", function (ev) {
        var form = ev.target;
        if (!form.matches || !form.matches("form[data-api-url]")) return;
        ev.preventDefault();
        if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
        var errorEl = form.querySelector("[data-form-error]") || form.parentElement.querySelector("[data-form-error]");
        var doneEl = form.querySelector("[data-form-done]");
        if (errorEl) errorEl.textContent = "";
        if (doneEl) doneEl.textContent = "";
        fieldErrors(form, null);
        var data;
        try { data = formJson(form); } catch (e) { if (errorEl) errorEl.textContent = e.message; return; }
        var url = fill(form.dataset.apiUrl, [data.all]);
        var button = form.querySelector("button[type=submit]");
        if (button) button.disabled = true;
        api(form.dataset.apiMethod || "POST", url, data.body).then(function (res) {
          if (button) button.disabled = false;
          if (!res.ok) {
            if (errorEl) errorEl.textContent = errorText(res);
            fieldErrors(form, res);
            return;
          }
          // A value the answer gives only once (a secret URL) is shown
          // in the form instead of reloading the page past it.
          var once = form.dataset.reveal && res.json && res.json[form.dataset.reveal];
          var shownOnce = once && form.querySelector("[data-revealed]");
          if (shownOnce) {
            shownOnce.hidden = false;
            shownOnce.querySelector("input").value = once;
            return;
          }
          if (form.dataset.redirect) {
            window.location.href = fill(form.dataset.redirect, [res.json, data.all]);
          } else if (form.dataset.reload !== undefined) {
            window.location.reload();
          } else if (doneEl) {
            doneEl.textContent = form.dataset.done || "OK";
          }
        }, function (e) {
          if (button) button.disabled = false;
          if (errorEl) errorEl.textContent = String(e);
        });
    });
  }

  function showCount(el, res) {
    if (!el) return;
    if (!res.ok) { el.textContent = "—"; el.title = errorText(res); return; }
    var n = res.json.sendable !== undefined ? res.json.sendable : res.json.count;
    el.textContent = numberFormat.format(n);
    el.title = "";
  }

  // ---- The segment builder ------------------------------------------

  var SPECIAL = { "__tag": "has_tag", "__list": "in_list", "__segment": "in_segment" };
  var SPECIAL_LABEL = { "__tag": "has tag", "__list": "in list", "__segment": "in segment" };
  var OPS = ["=", "!=", "<", "<=", ">", ">=", "contains", "starts_with", "is_set", "is_not_set"];
  var NO_VALUE = { "is_set": true, "is_not_set": true };

  function typed(v) {
    var s = String(v).trim();
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    if (/^[+-]\d+[mhdw]$/.test(s) || s === "now" || s === "today") return { relative: s };
    if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return { date: s };
    if (s === "true" || s === "false") return s === "true";
    return s;
  }

  function shown(v) {
    if (v && typeof v === "object") return v.relative || v.date || v.datetime || JSON.stringify(v);
    return v === undefined || v === null ? "" : String(v);
  }

  function condJson(c) {
    if (SPECIAL[c.field]) {
      if (!c.value) return null;
      var o = {};
      o[SPECIAL[c.field]] = c.value;
      return o;
    }
    if (!c.field) return null;
    if (NO_VALUE[c.op]) return { field: c.field, op: c.op };
    if (c.value === "") return null;
    var value = c.op === "contains" || c.op === "starts_with" ? String(c.value) : typed(c.value);
    return { field: c.field, op: c.op, value: value };
  }

  function groupJson(g) {
    var items = g.items.map(function (it) { return it.items ? groupJson(it) : condJson(it); })
      .filter(function (x) { return x !== null; });
    if (items.length === 0) return null;
    if (items.length === 1) return items[0];
    var o = {};
    o[g.op] = items;
    return o;
  }

  // A JSON tree as builder state, or null when it has nodes the builder
  // does not draw (not, exists, count, in [...], ...).
  function fromJson(j) {
    if (j === null || j === undefined) return { op: "and", items: [] };
    var node = nodeFrom(j);
    if (!node) return null;
    return node.items ? node : { op: "and", items: [node] };
  }

  function nodeFrom(j) {
    if (typeof j !== "object" || Array.isArray(j)) return null;
    if (j.and || j.or) {
      var op = j.and ? "and" : "or";
      var items = (j[op] || []).map(nodeFrom);
      if (items.some(function (x) { return x === null; })) return null;
      return { op: op, items: items };
    }
    for (var k in SPECIAL) {
      if (typeof j[SPECIAL[k]] === "string") return { field: k, op: "=", value: j[SPECIAL[k]] };
    }
    if (typeof j.field === "string" && OPS.indexOf(j.op) >= 0) {
      if (Array.isArray(j.value)) return null;
      return { field: j.field, op: j.op, value: shown(j.value) };
    }
    return null;
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k.indexOf("on") === 0) e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function select(options, value, onchange, cls) {
    var s = el("select", { class: cls || "", onchange: onchange });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (o[0] === value) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  function segmentBuilder() {
    var root = document.getElementById("builder");
    var text = document.getElementById("filter-text");
    if (!root || !text) return;
    var countEl = document.getElementById("live-count");
    var errorEl = document.getElementById("filter-error");
    var fields = JSON.parse(root.dataset.fields || "[]");
    var t = root.dataset;
    var state = { op: "and", items: [{ field: "email", op: "contains", value: "" }] };
    var fieldOptions = fields.map(function (f) { return [f, f]; })
      .concat(Object.keys(SPECIAL).map(function (k) { return [k, SPECIAL_LABEL[k]]; }));

    function count(json) {
      if (json === null) { countEl.textContent = "—"; return; }
      api("POST", "/api/v1/audiences/count", { filter: json }).then(function (res) { showCount(countEl, res); });
    }

    // Builder -> text (and count).
    var fromBuilder = debounce(function () {
      var json = groupJson(state);
      if (json === null) { text.value = ""; count(null); return; }
      api("POST", "/filter", { filter: json }).then(function (res) {
        if (res.json && res.json.error) { errorEl.textContent = res.json.error; return; }
        errorEl.textContent = "";
        text.value = res.json.text;
        count(res.json.json);
      });
    }, 250);

    // Text -> builder (and count).
    var fromText = debounce(function () {
      api("POST", "/filter", { filter: text.value }).then(function (res) {
        if (!res.json || res.json.error) {
          errorEl.textContent = res.json ? res.json.error : errorText(res);
          return;
        }
        errorEl.textContent = "";
        var st = fromJson(res.json.json);
        if (st) {
          state = st.items.length ? st : { op: "and", items: [] };
          root.classList.remove("text-only");
          draw();
        } else {
          root.innerHTML = "";
          root.classList.add("text-only");
          root.appendChild(el("p", { class: "muted", text: t.tTextOnly }));
        }
        count(res.json.json);
      });
    }, 350);

    function drawCond(c, parent) {
      var value = el("input", { value: c.value || "", "aria-label": "value", class: "cond-value",
        oninput: function () { c.value = value.value; fromBuilder(); } });
      var special = !!SPECIAL[c.field];
      var op = select(OPS.map(function (o) { return [o, o.replace(/_/g, " ")]; }), c.op, function () {
        c.op = op.value;
        value.style.display = NO_VALUE[c.op] ? "none" : "";
        fromBuilder();
      }, "cond-op");
      op.style.display = special ? "none" : "";
      value.style.display = NO_VALUE[c.op] && !special ? "none" : "";
      var field = select(fieldOptions, c.field, function () {
        c.field = field.value;
        if (SPECIAL[c.field]) c.op = "=";
        draw();
        fromBuilder();
      }, "cond-field");
      var remove = el("button", { type: "button", class: "secondary", text: t.tRemove, onclick: function () {
        parent.items.splice(parent.items.indexOf(c), 1);
        draw();
        fromBuilder();
      } });
      return el("div", { class: "cond" }, [field, op, value, remove]);
    }

    function drawGroup(g, parent) {
      var op = select([["and", t.tAll], ["or", t.tAny]], g.op, function () { g.op = op.value; fromBuilder(); }, "group-op");
      var box = el("div", { class: "group" }, [op]);
      g.items.forEach(function (it) { box.appendChild(it.items ? drawGroup(it, g) : drawCond(it, g)); });
      var buttons = el("div", { class: "cond" }, [
        el("button", { type: "button", class: "secondary add-row", text: "+ " + t.tAddRow, onclick: function () {
          g.items.push({ field: fields[0] || "email", op: "=", value: "" });
          draw();
        } }),
        el("button", { type: "button", class: "secondary add-group", text: "+ " + t.tAddGroup, onclick: function () {
          g.items.push({ op: g.op === "and" ? "or" : "and", items: [{ field: fields[0] || "email", op: "=", value: "" }] });
          draw();
        } }),
        parent ? el("button", { type: "button", class: "secondary", text: t.tRemove, onclick: function () {
          parent.items.splice(parent.items.indexOf(g), 1);
          draw();
          fromBuilder();
        } }) : null
      ]);
      box.appendChild(buttons);
      return box;
    }

    function draw() {
      root.innerHTML = "";
      root.appendChild(drawGroup(state, null));
    }

    text.addEventListener("input", fromText);
    if (text.value.trim()) fromText(); else draw();
  }

  // ---- Broadcast audience count --------------------------------------

  function audienceCount() {
    var picker = document.getElementById("audience-picker");
    var countEl = document.getElementById("audience-count");
    if (!picker || !countEl) return;
    var form = picker.closest("form");
    var update = debounce(function () {
      var audience = formJson(form).body.audience || {};
      if (!audience.segments && !audience.lists && !audience.filter) { countEl.textContent = "—"; return; }
      audience.channel = "email";
      api("POST", "/api/v1/audiences/count", audience).then(function (res) { showCount(countEl, res); });
    }, 300);
    picker.addEventListener("input", update);
    picker.addEventListener("change", update);
  }

  // ---- Template preview ------------------------------------------------

  function templatePreview() {
    var form = document.getElementById("template-form");
    var frame = document.getElementById("preview-frame");
    if (!form || !frame) return;
    var contact = document.getElementById("preview-contact");
    var subject = document.getElementById("preview-subject");
    var errorEl = document.getElementById("preview-error");
    var update = debounce(function () {
      var body = formJson(form).body;
      if (contact && contact.value) body.contact_id = Number(contact.value);
      api("POST", "/templates/preview", body).then(function (res) {
        if (!res.ok) { errorEl.textContent = errorText(res); return; }
        errorEl.textContent = "";
        subject.textContent = res.json.subject;
        frame.srcdoc = res.json.html;
      });
    }, 300);
    form.addEventListener("input", update);
    if (contact) contact.addEventListener("input", update);
    update();
  }

  // On a phone the nav is behind a menu button.
  function menu() {
    var button = document.querySelector(".menu-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      var header = button.closest("header");
      var open = header.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    menu();
    apiForms();
    switches();
    segmentBuilder();
    audienceCount();
    templatePreview();
  });
})();
