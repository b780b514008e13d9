"use strict";
// The table of tests and each test's details, built from the report's data (embedded once, as
// JSON). Untrusted text only ever reaches the page through textContent, never as markup.
(function () {
  var PAGE = 500;
  var packed = JSON.parse(document.getElementById("report-data").textContent);
  var strings = [];
  function unpack(value) {
    if (typeof value === "string") { strings.push(value); return value; }
    if (!Array.isArray(value)) { return value; }
    var tag = value[0], i;
    if (tag === -1) { return strings[value[1]]; }
    if (tag === 0) {
      var list = [];
      for (i = 1; i < value.length; i++) { list.push(unpack(value[i])); }
      return list;
    }
    var keys = packed.shapes[tag - 1], object = {};
    for (i = 0; i < keys.length; i++) { object[keys[i]] = unpack(value[i + 1]); }
    return object;
  }
  var report = unpack(packed.data);
  var tests = report.tests;
  var comparison = report.baseline;

  function num(v) {
    if (typeof v !== "string") { return v; }
    return v === "NaN" ? NaN : v === "Infinity" ? Infinity : -Infinity;
  }
  function word(v) { return isNaN(v) ? "NaN" : v > 0 ? "inf" : "-inf"; }
  function strip(s) { return s.indexOf(".") < 0 ? s : s.replace(/0+$/, "").replace(/\.$/, ""); }
  function g(v, digits) {  // Python's "%.{digits}g"
    v = num(v);
    if (!isFinite(v)) { return isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf"; }
    if (v === 0) { return "0"; }
    var parts = v.toExponential(digits - 1).split("e"), exp = parseInt(parts[1], 10);
    if (exp < -4 || exp >= digits) {
      return strip(parts[0]) + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
    }
    return strip(v.toFixed(Math.max(0, digits - 1 - exp)));
  }
  function fixed(v, places, sign) {
    v = num(v);
    if (!isFinite(v)) { return isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf"; }
    return (sign && v >= 0 ? "+" : "") + v.toFixed(places);
  }
  function money(v) {
    v = num(v);
    if (!isFinite(v)) { return "$" + word(v); }
    return v < 100 ? "$" + v.toFixed(4) : "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function seconds(v) {
    if (v === null || v === undefined) { return "-"; }
    v = num(v);
    if (!isFinite(v)) { return word(v) + "s"; }
    return v >= 1 ? v.toFixed(2) + "s" : g(v * 1000, 3) + "ms";
  }
  function describe(s) {
    var text = s.key + " " + g(s.value, 3);
    if (s.threshold === null || s.threshold === undefined) { return text; }
    var higher = s.higher_is_better !== false;
    return text + " " + (s.passed ? (higher ? ">=" : "<=") : (higher ? "<" : ">")) + " " + g(s.threshold, 3);
  }
  function versionLabel(version, other) {
    var declared = version.version, short = String(version.hash || "").slice(0, 8);
    if (!declared) { return short; }
    var label = /^[0-9]/.test(declared) ? "v" + declared : String(declared);
    if (other && other.version === declared) { label += " (" + short + ")"; }
    return label;
  }

  // The baseline comparison, indexed by test id.
  var base = { status: {}, scores: {}, prompts: {} };
  function index(list, into) {
    (list || []).forEach(function (item) { (into[item.nodeid] = into[item.nodeid] || []).push(item); });
  }
  if (comparison) {
    tests.forEach(function (t) { base.status[t.nodeid] = "same"; });
    (comparison.improved || []).forEach(function (id) { base.status[id] = "improved"; });
    (comparison.regressions || []).forEach(function (r) { base.status[r.nodeid] = "regressed"; });
    (comparison.new_tests || []).forEach(function (id) { base.status[id] = "new"; });
    index(comparison.scores, base.scores);
    index(comparison.prompt_changes, base.prompts);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var part = arguments[i];
      parent.appendChild(typeof part === "string" ? document.createTextNode(part) : part);
    }
    return parent;
  }

  // A word-level diff (the longest common subsequence of words and runs of white space).
  function wordDiff(before, after) {
    var a = before.match(/\s+|\S+/g) || [], b = after.match(/\s+|\S+/g) || [];
    var start = 0, endA = a.length, endB = b.length, pieces = [];
    function push(op, text) {
      var last = pieces[pieces.length - 1];
      if (last && last[0] === op) { last[1] += text; } else if (text) { pieces.push([op, text]); }
    }
    while (start < endA && start < endB && a[start] === b[start]) { push("equal", a[start]); start++; }
    var tail = [];
    while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { tail.unshift(a[endA - 1]); endA--; endB--; }
    var n = endA - start, m = endB - start, i, j;
    if (n * m > 4000000) {
      push("delete", a.slice(start, endA).join(""));
      push("insert", b.slice(start, endB).join(""));
    } else {
      var width = m + 1, lcs = new Uint32Array((n + 1) * width);
      for (i = n - 1; i >= 0; i--) {
        for (j = m - 1; j >= 0; j--) {
          lcs[i * width + j] = a[start + i] === b[start + j] ? lcs[(i + 1) * width + j + 1] + 1
            : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
        }
      }
      i = 0; j = 0;
      while (i < n || j < m) {
        if (i < n && j < m && a[start + i] === b[start + j]) { push("equal", a[start + i]); i++; j++; }
        else if (i < n && (j >= m || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])) { push("delete", a[start + i]); i++; }
        else { push("insert", b[start + j]); j++; }
      }
    }
    push("equal", tail.join(""));
    return grouped(pieces);
  }
  // Each change as its whole deleted run, then its whole inserted run: white space between two
  // changes joins them (on both sides), so deleted and inserted words never interleave.
  function grouped(pieces) {
    var result = [], deleted = "", inserted = "", i;
    function flush() {
      if (deleted) { result.push(["delete", deleted]); }
      if (inserted) { result.push(["insert", inserted]); }
      deleted = inserted = "";
    }
    for (i = 0; i < pieces.length; i++) {
      var op = pieces[i][0], text = pieces[i][1];
      if (op === "delete") { deleted += text; }
      else if (op === "insert") { inserted += text; }
      else if ((deleted || inserted) && i + 1 < pieces.length && /^\s+$/.test(text)) { deleted += text; inserted += text; }
      else { flush(); result.push(["equal", text]); }
    }
    flush();
    return result;
  }
  function diffBlock(before, after) {
    var block = el("div", "text");
    wordDiff(before, after).forEach(function (piece) {
      add(block, piece[0] === "equal" ? piece[1] : el(piece[0] === "delete" ? "del" : "ins", "", piece[1]));
    });
    return block;
  }
  function legend(text, old, now, end) {
    return add(el("p"), text, el("del", "", old), " ", el("ins", "", now), end);
  }

  function minMargin(t) {
    if (t._margin === undefined) {
      var margins = t.scores.map(function (s) { return s.margin; }).filter(function (m) { return m !== null && m !== undefined; });
      t._margin = margins.length ? margins.map(num).reduce(function (x, y) { return isNaN(x) || isNaN(y) ? NaN : Math.min(x, y); }) : null;
    }
    return t._margin;
  }

  function details(t, box) {
    if (t.error) { box.appendChild(el("p", "outcome-error", t.error)); }
    if (t.prompts.length) {
      box.appendChild(el("h3", "", "Prompts"));
      var badges = el("p");
      t.prompts.forEach(function (p) {
        add(badges, el("span", "badge" + (p.changed ? " changed" : ""),
          p.name + "@" + (p.version || String(p.hash || "").slice(0, 8)) + (p.changed ? " changed" : "")), " ");
      });
      box.appendChild(badges);
      t.prompts.forEach(function (p) {
        if (!p.changed || p.text === undefined || p.snapshot_text === undefined) { return; }
        var before = p.changed_from || {};
        var label = p.name + ": " + versionLabel(before, p) + " \u2192 " + versionLabel(p, before);
        box.appendChild(legend("Prompt " + label + ", against its snapshot (", "snapshot", "now", "):"));
        box.appendChild(diffBlock(p.snapshot_text, p.text));
      });
    }
    (base.prompts[t.nodeid] || []).forEach(function (c) {
      box.appendChild(legend("Prompt of call " + (c.call + 1) + ", against the baseline run (", "baseline", "now", "):"));
      box.appendChild(diffBlock(c.baseline, c.current));
    });
    if (t.scores.length) {
      box.appendChild(el("h3", "", "Scores"));
      var table = el("table"), head = add(el("thead"), el("tr")), body = el("tbody");
      ["metric", "value", "threshold", "result", "kind"].forEach(function (name) { head.firstChild.appendChild(el("th", "", name)); });
      t.scores.forEach(function (s) {
        add(body, add(el("tr"), el("td", "", s.key), el("td", "num", g(s.value, 4)),
          el("td", "num", s.threshold === null || s.threshold === undefined ? "" : s.threshold),
          el("td", s.passed ? "pass" : "fail", s.passed ? "pass" : "fail"), el("td", "", s.kind || "")));
      });
      box.appendChild(add(table, head, body));
    }
    t.scores.forEach(function (s) {
      if (!s.details || !s.details.reasoning) { return; }
      box.appendChild(el("p", "", "Judge's reasoning (" + s.key + "):"));
      box.appendChild(el("div", "text", s.details.reasoning));
    });
    grounding(t, box);
    conversations(t, box);
    var seen = {};
    t.scores.forEach(function (s) {
      if (s.output === undefined || s.output === null || s.reference === undefined || s.reference === null) { return; }
      var pair = JSON.stringify([s.reference, s.output]);
      if (seen[pair]) { return; }
      seen[pair] = true;
      box.appendChild(legend("Output against its reference (" + s.key + "; ", "reference", "output", "):"));
      box.appendChild(diffBlock(s.reference, s.output));
    });
    (base.scores[t.nodeid] || []).forEach(function (s) {
      box.appendChild(el("p", "status-" + s.status, "Baseline " + s.key + ": " + fixed(s.baseline.mean, 3) + " (n=" + s.baseline.n +
        ") \u2192 " + fixed(s.current.mean, 3) + " (n=" + s.current.n + "), " + s.status));
    });
    if (t.calls.length) {
      box.appendChild(el("h3", "", "Calls"));
      t.calls.forEach(function (c) {
        box.appendChild(add(el("p"), el("span", "role", c.role), " " + c.model + " \u00b7 " + seconds(c.latency_s) + " \u00b7 " +
          c.prompt_tokens + " in / " + c.completion_tokens + " out \u00b7 " + money(c.cost_usd) +
          (c.cached ? " \u00b7 replayed" : "") + (c.finish_reason ? " \u00b7 " + c.finish_reason : "") +
          (c.ttft_s === null || c.ttft_s === undefined ? "" : " \u00b7 first token " + seconds(c.ttft_s) +
            (c.tokens_per_s === null || c.tokens_per_s === undefined ? "" : ", " + g(c.tokens_per_s, 3) + " tokens/s"))));
        var request = c.request || {};
        var turns = request.messages ? request.messages : [{ role: "prompt", content: request.prompt || "" }];
        turns.forEach(function (turn) {
          box.appendChild(add(el("div", "text"), el("span", "role", turn.role), "\n" + turn.content + toolCalls(turn.tool_calls)));
        });
        box.appendChild(add(el("div", "text"), el("span", "role", "output"), "\n" + c.text + toolCalls(c.tool_calls)));
      });
    }
  }

  // An answer's tool calls, a line each: name(arguments), and why its arguments are not JSON.
  function toolCalls(calls) {
    return (calls || []).map(function (call) {
      return "\n\u2192 " + call.name + "(" + JSON.stringify(call.arguments) + ")" + (call.error ? "  [" + call.error + "]" : "");
    }).join("");
  }

  // The A/B matrix: a row per case, a column per variant, built when first opened.
  var ab = report.comparison, matrix = document.getElementById("ab-matrix");
  function modelOutput(t) {
    return t.calls.filter(function (c) { return c.role === "model"; }).map(function (c) { return c.text; }).join("\n");
  }
  function abCell(t, control) {
    var cell = el("td");
    if (!t) { return add(cell, el("span", "outcome-skipped", "not run")); }
    add(cell, el("span", "outcome-" + t.outcome, t.outcome));
    t.scores.forEach(function (s) { add(cell, el("br"), el("span", s.passed ? "pass" : "fail", describe(s))); });
    cell.appendChild(control && control !== t ? diffBlock(modelOutput(control), modelOutput(t)) : el("div", "text", modelOutput(t)));
    return cell;
  }
  function buildMatrix() {
    var byId = {}, head = el("tr"), body = el("tbody");
    tests.forEach(function (t) { byId[t.nodeid] = t; });
    head.appendChild(el("th", "", "case"));
    ab.variants.forEach(function (v) { head.appendChild(el("th", "", v.label + (v.control ? " (control)" : ""))); });
    ab.cases.forEach(function (c) {
      var control = byId[c.cells[ab.control]], tr = add(el("tr"), el("td", "", c.control));
      ab.variants.forEach(function (v) { tr.appendChild(abCell(byId[c.cells[v.label]], control)); });
      body.appendChild(tr);
    });
    matrix.appendChild(add(el("table", "ab-matrix"), add(el("thead"), head), body));
  }
  if (ab && matrix) {
    matrix.addEventListener("toggle", function () { if (matrix.open && !matrix._built) { matrix._built = true; buildMatrix(); } });
  }

  // A grounded test (a dataset case's columns, or what golden.check was given): its answer,
  // unsupported claims marked, beside the retrieved chunks, each marked relevant (labelled) or
  // judged irrelevant; labelled chunks not retrieved are named.
  // Each conversation's transcript (model text: shown as text only).
  function conversations(t, box) {
    ((t.extra || {}).conversations || []).forEach(function (c) {
      box.appendChild(el("h3", "", "Conversation" + (c.name ? " " + c.name : "") + " (" + c.model + ", " +
        (c.messages || []).filter(function (m) { return m.role === "assistant"; }).length + " replies)"));
      (c.messages || []).forEach(function (m) {
        box.appendChild(add(el("div", "text"), el("span", "role", m.role), "\n" + m.content));
      });
    });
  }
  function grounding(t, box) {
    var extra = t.extra || {}, c = Object.assign({}, extra.case, extra.grounding);
    if (!c.context && !c.relevant) { return; }
    var relevant = c.relevant || {}, unsupported = [], irrelevant = {}, answer = null;
    t.scores.forEach(function (s) {
      var d = s.details || {};
      (d.unsupported || []).forEach(function (claim) { unsupported.push(claim); });
      (d.items || []).forEach(function (item) { if (item.id !== undefined && !item.passed) { irrelevant[item.id] = true; } });
      if (answer === null && s.output !== undefined && s.output !== null) { answer = s.output; }
    });
    var model = t.calls.filter(function (call) { return call.role === "model"; })[0];
    if (answer === null && model) { answer = model.text; }
    box.appendChild(el("h3", "", "Output and context"));
    var grid = el("div", "grounding"), left = el("div"), right = el("div");
    if (answer !== null) {
      left.appendChild(el("p", "", unsupported.length ? "Output (unsupported claims marked):" : "Output:"));
      left.appendChild(marked(answer, unsupported));
    }
    var context = c.context || [], retrieved = {};
    right.appendChild(el("p", "", "Retrieved context (" + context.length + " chunk" + (context.length === 1 ? "" : "s") + "):"));
    context.forEach(function (chunk, i) {
      retrieved[chunk.id] = true;
      var head = el("span", "chunk-id", (i + 1) + ". " + chunk.id);
      var block = add(el("div", "text chunk"), head);
      if (relevant[chunk.id] !== undefined) { add(block, " ", el("span", "badge relevant", "relevant")); }
      if (irrelevant[chunk.id]) { add(block, " ", el("span", "badge irrelevant", "judged irrelevant")); }
      if (chunk.text !== undefined) { add(block, "\n" + chunk.text); }
      right.appendChild(block);
    });
    var missed = Object.keys(relevant).filter(function (id) { return !retrieved[id]; });
    if (missed.length) { right.appendChild(el("p", "fail", "Relevant, not retrieved: " + missed.join(", "))); }
    box.appendChild(add(grid, left, right));
  }
  function marked(text, claims) {
    var block = el("div", "text"), at = 0, spans = [];
    claims.forEach(function (claim) {
      var start = claim ? text.indexOf(claim) : -1;
      if (start >= 0) { spans.push([start, start + claim.length]); }
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    spans.forEach(function (span) {
      if (span[0] < at) { return; }
      add(block, text.slice(at, span[0]), el("mark", "unsupported", text.slice(span[0], span[1])));
      at = span[1];
    });
    return add(block, text.slice(at));
  }

  var columns = comparison ? 10 : 9;
  function cells(t) {
    var totals = t.totals, margin = minMargin(t);
    return [
      t.nodeid, t.outcome, t.models.join(", "), t.scores.map(describe).join("\n"),
      margin === null ? "" : fixed(margin, 3, true), seconds(totals.latency_s),
      totals.prompt_tokens + " / " + totals.completion_tokens, money(totals.cost_usd),
      totals.cached_calls + " / " + totals.calls, comparison ? base.status[t.nodeid] : ""
    ];
  }
  function sortKey(t, column) {
    var totals = t.totals;
    switch (column) {
      case 4: return minMargin(t);
      case 5: return num(totals.latency_s);
      case 6: return num(totals.prompt_tokens) + num(totals.completion_tokens);
      case 7: return num(totals.cost_usd);
      case 8: return num(totals.cached_calls);
      default: return cells(t)[column].toLowerCase();
    }
  }
  function searchText(t) {
    if (t._search === undefined) { t._search = (cells(t).join(" ") + (t.prompts_changed ? " prompt changed" : "")).toLowerCase(); }
    return t._search;
  }

  var REASON = 160;
  // Why a test failed or errored, in its row: the first line of its error, cut short.
  function reason(error) {
    var line = String(error).split("\n")[0];
    return line.length > REASON ? line.slice(0, REASON - 1) + "\u2026" : line;
  }

  function row(t) {
    if (t._body) { return t._body; }
    var body = el("tbody"), tr = el("tr", "test"), text = cells(t);
    body.id = "test-" + t._number;
    body.setAttribute("data-outcome", t.outcome);
    var first = el("td");
    // A long test id may break after "/", "::" or "[" (and anywhere, as a last resort).
    text[0].split(/(?<=\/|::|\[)/).forEach(function (part, i) {
      if (i) { first.appendChild(el("wbr")); }
      add(first, part);
    });
    if (t.prompts_changed) { add(first, " ", el("span", "badge changed", "prompt changed")); }
    if (t.error) { add(first, el("div", "reason outcome-" + t.outcome, reason(t.error))); }
    first.appendChild(reviewControls(t));
    tr.appendChild(first);
    tr.appendChild(el("td", "outcome-" + t.outcome, text[1]));
    tr.appendChild(el("td", "", text[2]));
    var scores = el("td");
    t.scores.forEach(function (s, i) {
      if (i) { scores.appendChild(el("br")); }
      scores.appendChild(el("span", s.passed ? "pass" : "fail", describe(s)));
    });
    tr.appendChild(scores);
    for (var c = 4; c < 9; c++) { tr.appendChild(el("td", "num", text[c])); }
    if (comparison) { tr.appendChild(el("td", "status-" + text[9], text[9])); }
    var cell = el("td"), box = el("details");
    cell.colSpan = columns;
    box.appendChild(el("summary", "", "details"));
    box.addEventListener("toggle", function () { if (box.open) { build(t); } });
    cell.appendChild(box);
    add(body, tr, add(el("tr", "detail"), cell));
    t._body = body;
    t._details = box;
    return body;
  }
  function build(t) {
    if (!t._built) { t._built = true; details(t, row(t) && t._details); }
  }
  function open(t) {
    build(t);
    t._details.open = true;
  }

  var table = document.getElementById("tests");
  var filter = document.getElementById("filter");
  var outcome = document.getElementById("outcome");
  var more = document.getElementById("more");
  // Errors first, then failures, then the rest, each in the report's order (a stable sort).
  var RANK = { error: 0, failed: 1 };
  function rank(t) { return RANK[t.outcome] === undefined ? 2 : RANK[t.outcome]; }
  tests.forEach(function (t, i) { t._number = i + 1; });
  var order = tests.slice().sort(function (a, b) { return rank(a) - rank(b) || a._number - b._number; });
  var shown = [], limit = PAGE;

  function render() {
    while (table.tBodies.length) { table.removeChild(table.tBodies[0]); }
    var fragment = document.createDocumentFragment();
    shown.slice(0, limit).forEach(function (t) { fragment.appendChild(row(t)); });
    table.appendChild(fragment);
    more.hidden = shown.length <= limit;
    more.firstChild.textContent = "show more tests (" + Math.min(limit, shown.length) + " of " + shown.length + " shown)";
  }
  function apply() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var wanted = outcome.value;
    // A row's search text is made the first time a filter needs it, not for every row at load.
    shown = words.length || wanted ? order.filter(function (t) {
      if (wanted && t.outcome !== wanted) { return false; }
      var text = words.length ? searchText(t) : "";
      return words.every(function (w) { return text.indexOf(w) >= 0; });
    }) : order.slice();
    document.getElementById("shown").textContent = String(shown.length);
    render();
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
    if (!th.hasAttribute("data-col")) { return; }
    th.addEventListener("click", function () {
      var numeric = th.getAttribute("data-col") === "num";
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var keyed = order.map(function (t) {
        var k = sortKey(t, column);
        if (numeric && (k === null || isNaN(k))) { k = -Infinity; }
        return [k, t];
      });
      keyed.sort(function (a, b) { return (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) * (ascending ? 1 : -1); });
      order = keyed.map(function (pair) { return pair[1]; });
      apply();
    });
  });
  filter.addEventListener("input", apply);
  outcome.addEventListener("change", apply);
  more.firstChild.addEventListener("click", function () { limit += PAGE; render(); });

  // A link to report.html#test-3 opens the third test's details (rendering it if it was not).
  function follow() {
    var match = /^#test-([0-9]+)$/.exec(location.hash);
    var t = match ? tests[parseInt(match[1], 10) - 1] : undefined;
    if (!t) { return; }
    var at = shown.indexOf(t);
    if (at < 0) { filter.value = ""; outcome.value = ""; apply(); at = shown.indexOf(t); }
    if (at >= limit) { limit = at + 1; render(); }
    open(t);
    t._body.rows[0].scrollIntoView({ block: "nearest" });  // its row, only if out of view
  }
  window.addEventListener("hashchange", follow);

  // Review mode: mark each test's output good or bad, comment, accept it as the new reference.
  // The decisions stay in this browser (localStorage, per report) and leave it only in the
  // review file the reviewer exports; `pytest --llm-apply-review` applies that file.
  var reviewKey = "pytest-llmops-review:" + (report.run.created || "") + ":" + tests.length;
  var decisions = {}, cursor = -1;
  try { decisions = JSON.parse(localStorage.getItem(reviewKey) || "{}"); } catch (e) { decisions = {}; }
  var reviewer = document.getElementById("reviewer");
  reviewer.value = localStorage.getItem("pytest-llmops-reviewer") || "";
  reviewer.addEventListener("input", function () { localStorage.setItem("pytest-llmops-reviewer", reviewer.value); });
  function golden(t) {  // the golden scores whose output could become the reference, by name
    return t.scores.filter(function (s) { return s.kind === "golden" && s.reference !== null && s.reference !== undefined; });
  }
  function judged(t) {
    return t.scores.filter(function (s) { return s.kind === "judge" && (s.details || {}).mode !== "pairwise"; });
  }
  function decide(t, change) {
    var d = decisions[t.nodeid] || { label: null, comment: "", accept: false };
    for (var key in change) { d[key] = change[key]; }
    if (d.label === null && !d.comment && !d.accept) { delete decisions[t.nodeid]; } else { decisions[t.nodeid] = d; }
    try { localStorage.setItem(reviewKey, JSON.stringify(decisions)); } catch (e) { /* private mode: kept in this page */ }
    if (t._review) { t._review.show(); }
    summarise();
  }
  function reviewControls(t) {
    var box = el("div", "review"), good = el("button", "good", "good"), bad = el("button", "bad", "bad");
    var accept = el("button", "accept", "accept as reference"), comment = el("input");
    comment.type = "text"; comment.placeholder = "comment"; comment.setAttribute("aria-label", "comment on " + t.nodeid);
    [good, bad, accept].forEach(function (b) { b.type = "button"; });
    if (!golden(t).length) { accept.disabled = true; accept.title = "no golden check compared this output with a reference"; }
    good.addEventListener("click", function () { decide(t, { label: (decisions[t.nodeid] || {}).label === "good" ? null : "good" }); });
    bad.addEventListener("click", function () { decide(t, { label: (decisions[t.nodeid] || {}).label === "bad" ? null : "bad" }); });
    accept.addEventListener("click", function () { decide(t, { accept: !(decisions[t.nodeid] || {}).accept }); });
    comment.addEventListener("change", function () { decide(t, { comment: comment.value }); });
    t._review = { comment: comment, show: function () {
      var d = decisions[t.nodeid] || {};
      good.setAttribute("aria-pressed", String(d.label === "good"));
      bad.setAttribute("aria-pressed", String(d.label === "bad"));
      accept.setAttribute("aria-pressed", String(!!d.accept));
      comment.value = d.comment || "";
    } };
    t._review.show();
    return add(box, good, bad, accept, comment);
  }
  function kappa(pairs) {  // Cohen's kappa of [human good, judge passed] pairs
    var n = pairs.length, agree = 0, human = 0, judge = 0;
    pairs.forEach(function (p) { agree += p[0] === p[1] ? 1 : 0; human += p[0] ? 1 : 0; judge += p[1] ? 1 : 0; });
    var chance = (human / n) * (judge / n) + (1 - human / n) * (1 - judge / n);
    return { agreement: agree / n, kappa: chance === 1 ? null : (agree / n - chance) / (1 - chance) };
  }
  function summarise() {
    var ids = Object.keys(decisions), pairs = [], disagree = [];
    document.getElementById("review-count").textContent = ids.length + " of " + tests.length + " tests reviewed";
    tests.forEach(function (t) {
      var d = decisions[t.nodeid];
      if (!d || !d.label) { return; }
      judged(t).forEach(function (s) {
        pairs.push([d.label === "good", !!s.passed]);
        if ((d.label === "good") !== !!s.passed) { disagree.push(t.nodeid + " (" + s.key + ": judge " + (s.passed ? "pass" : "fail") + ", you " + d.label + ")"); }
      });
    });
    var line = document.getElementById("review-agreement");
    if (!pairs.length) { line.textContent = ""; return; }
    var figures = kappa(pairs);
    line.textContent = "Judge vs you: " + Math.round(figures.agreement * 100) + "% agreement over " + pairs.length +
      " verdicts, Cohen's kappa " + (figures.kappa === null ? "n/a" : fixed(figures.kappa, 2)) +
      (disagree.length ? "; you disagree on " + disagree.join(", ") : "");
  }
  function reviewFile() {
    var cases = tests.filter(function (t) { return decisions[t.nodeid]; }).map(function (t) {
      var d = decisions[t.nodeid];
      return {
        nodeid: t.nodeid, label: d.label || null, comment: d.comment || "", accept: !!d.accept,
        outputs: golden(t).map(function (s) { return { name: s.label || "output", output: s.output, reference: s.reference }; }),
        model_output: modelOutput(t), models: t.models,
        prompts: t.prompts.map(function (p) { return { name: p.name, hash: p.hash || null }; }),
        judged: judged(t).map(function (s) {
          return { metric: s.metric, key: s.key, passed: !!s.passed, value: num(s.value), output: s.output === undefined ? null : s.output,
                   reference: s.reference === undefined ? null : s.reference, question: (s.details || {}).question || null };
        }),
        case: (t.extra || {}).case || null
      };
    });
    return { schema: "pytest-llmops/review", schema_version: 1, reviewer: reviewer.value, exported: new Date().toISOString(),
             report: { created: report.run.created || null, model: report.run.model || null }, cases: cases };
  }
  document.getElementById("review-export").addEventListener("click", function () {
    var link = el("a"), blob = new Blob([JSON.stringify(reviewFile(), null, 2) + "\n"], { type: "application/json" });
    link.href = URL.createObjectURL(blob);
    link.download = "review.json";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
  var toggle = document.getElementById("review-toggle");
  toggle.addEventListener("click", function () {
    var on = !document.body.classList.contains("reviewing");
    document.body.classList.toggle("reviewing", on);
    toggle.setAttribute("aria-pressed", String(on));
    document.getElementById("review-bar").hidden = !on;
    summarise();
  });
  function move(step) {
    if (!shown.length) { return; }
    if (cursor >= 0 && shown[cursor] && shown[cursor]._body) { shown[cursor]._body.classList.remove("cursor"); }
    cursor = Math.max(0, Math.min(shown.length - 1, cursor + step));
    if (cursor >= limit) { limit = cursor + 1; render(); }
    var body = row(shown[cursor]);
    body.classList.add("cursor");
    body.rows[0].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (!document.body.classList.contains("reviewing") || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
    if (typing) { if (event.key === "Escape") { event.target.blur(); } return; }
    var t = shown[cursor];
    if (event.key === "j") { move(1); }
    else if (event.key === "k") { move(-1); }
    else if (t && event.key === "g") { decide(t, { label: "good" }); }
    else if (t && event.key === "b") { decide(t, { label: "bad" }); }
    else if (t && event.key === "a" && golden(t).length) { decide(t, { accept: !(decisions[t.nodeid] || {}).accept }); }
    else if (t && event.key === "c") { t._review.comment.focus(); }
    else { return; }
    event.preventDefault();
  });

  apply();
  follow();
  document.body.setAttribute("data-ready", "true");
})();
