/* policyqa web page: chat with streamed answers, citation chips, 出处 panel, 查出处 search, documents list.
 *
 * Security rule for this file: server and user text is only ever put into the page with
 * textContent / createTextNode (never innerHTML), so passages containing HTML show as text.
 */
"use strict";

(function () {
  const KEY_STORAGE = "policyqa_key";
  /** Stand-alone example questions; a follow-up chip is offered only under the answer to its question. */
  const EXAMPLES = [
    { question: "2021年我国人工智能市场收支规模是多少？" },
    { question: "2020年北京人工智能相关产值规模是多少？", followUps: ["那深圳呢？"] },
    { question: "《数据安全法》从什么时候开始施行？" },
    { question: "报告对我国人工智能产业发展提出了哪几条策略建议？" },
  ];
  const READY_POLL_MS = 2000;
  const ERROR_TEXT = {
    unauthorized: "API 密钥无效或缺失。",
    forbidden: "该密钥无权执行此操作。",
    rate_limited: "请求过于频繁，请稍后再试。",
    invalid_input: "输入有误。",
    invalid_request: "请求格式有误。",
    payload_too_large: "输入内容过长。",
    not_found: "请求的内容不存在。",
    index_not_ready: "文档索引尚未就绪，请稍后再试。",
    index_mismatch: "文档索引需要重建，请联系管理员。",
    llm_error: "语言模型服务暂时不可用，请稍后再试。",
    prompt_error: "服务器配置有误，请联系管理员。",
    internal_error: "服务器内部错误，请稍后再试。",
    network_error: "无法连接服务器，请检查网络后重试。",
    stream_incomplete: "回答未完整接收，请重试。",
  };
  const DOC_TYPES = { report: "报告", law: "法律", regulation: "地方性法规", rules: "部门规章", other: "其他" };
  const LEVELS = { national: "国家", provincial: "省级", city: "市级" };

  /** Conversation sent as `messages`: only completed user/assistant turns. */
  let history = [];
  let busy = false;
  let ready = false; // the server's index is loaded (/readyz 200)
  let watching = null; // the running readiness poll
  let controller = null;
  let keyPrompt = null; // the pending key dialog, shared by concurrent 401s

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers (text only)

  /** createElement with a class and text; children may be nodes or strings (added as text). */
  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /** Append `text` to `parent` with the given [start, end) ranges (code point offsets) wrapped in <mark>. */
  function appendHighlighted(parent, text, ranges) {
    const chars = Array.from(text); // offsets from the server count code points, not UTF-16 units
    const merged = [];
    for (const [s0, e0] of ranges
      .map((r) => [Math.max(0, Math.min(r[0], chars.length)), Math.max(0, Math.min(r[1], chars.length))])
      .filter((r) => r[1] > r[0])
      .sort((a, b) => a[0] - b[0])) {
      const last = merged[merged.length - 1];
      if (last && s0 <= last[1]) last[1] = Math.max(last[1], e0);
      else merged.push([s0, e0]);
    }
    let pos = 0;
    for (const [s, e] of merged) {
      if (s > pos) parent.append(document.createTextNode(chars.slice(pos, s).join("")));
      parent.append(el("mark", null, chars.slice(s, e).join("")));
      pos = e;
    }
    if (pos < chars.length) parent.append(document.createTextNode(chars.slice(pos).join("")));
    return merged.length;
  }

  /** Code point range of `quote` inside `text`, ignoring whitespace differences; null when absent. */
  function findQuote(text, quote) {
    if (!quote) return null;
    const chars = Array.from(text);
    const q = Array.from(quote);
    const direct = text.indexOf(quote);
    if (direct >= 0) {
      const s = Array.from(text.slice(0, direct)).length;
      return [s, s + q.length];
    }
    // retry with whitespace removed on both sides, mapping back to positions in `text`
    const kept = [];
    let squeezed = "";
    chars.forEach((c, i) => {
      if (!/\s/.test(c)) {
        kept.push(i);
        squeezed += c;
      }
    });
    const needle = q.filter((c) => !/\s/.test(c)).join("");
    if (!needle) return null;
    const at = squeezed.indexOf(needle);
    if (at < 0) return null;
    const first = Array.from(squeezed.slice(0, at)).length;
    const count = Array.from(needle).length;
    return [kept[first], kept[first + count - 1] + 1];
  }

  /** Ranges of every occurrence of `query` in `text` (code points): fallback when the server sends none. */
  function findAll(text, query) {
    const out = [];
    if (!query) return out;
    let from = 0;
    for (;;) {
      const i = text.indexOf(query, from);
      if (i < 0) break;
      const s = Array.from(text.slice(0, i)).length;
      out.push([s, s + Array.from(query).length]);
      from = i + query.length;
    }
    return out;
  }

  function pageLabel(page) {
    return page === null || page === undefined || page === 0 ? "" : `第${page}页`;
  }

  /** "section，第N页" with the empty parts left out. */
  function place(section, page) {
    return [section, pageLabel(page)].filter(Boolean).join("，");
  }

  function excerpt(text, max) {
    const chars = Array.from(text || "");
    return chars.length > max ? chars.slice(0, max).join("") + "…" : chars.join("");
  }

  function scrollChat() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  // ---------------------------------------------------------------- API access

  class ApiError extends Error {
    constructor(code, message, status) {
      super(message || code);
      this.code = code;
      this.status = status;
    }
  }

  /** A readable Chinese message for an error, with the server's own wording as detail. */
  function describeError(err) {
    const code = (err && err.code) || "internal_error";
    const base = ERROR_TEXT[code] || (err && err.status ? `请求失败（HTTP ${err.status}）。` : "请求失败。");
    const detail = err && err.message && err.message !== code && typeof err.message === "string" ? err.message : "";
    return { text: base, detail };
  }

  async function errorFromResponse(response) {
    let code = "";
    let message = "";
    try {
      const body = await response.json();
      if (body && typeof body === "object") {
        code = typeof body.error === "string" ? body.error : "";
        message = typeof body.message === "string" ? body.message : "";
        if (!message && typeof body.detail === "string") message = body.detail;
      }
    } catch (_) {
      /* not JSON: fall through with the status only */
    }
    if (!code) {
      code = { 401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "payload_too_large",
        422: "invalid_request", 429: "rate_limited", 503: "index_not_ready" }[response.status] || "";
    }
    return new ApiError(code || `http_${response.status}`, message, response.status);
  }

  function storedKey() {
    try {
      return localStorage.getItem(KEY_STORAGE) || "";
    } catch (_) {
      return "";
    }
  }

  function storeKey(key) {
    try {
      if (key) localStorage.setItem(KEY_STORAGE, key);
      else localStorage.removeItem(KEY_STORAGE);
    } catch (_) {
      /* storage disabled: the key lives for this request only */
    }
  }

  /** Show the key dialog; resolves to the key entered, or "" when cancelled. One dialog at a time. */
  function askForKey() {
    if (keyPrompt) return keyPrompt;
    const dialog = $("key-dialog");
    const input = $("key-input");
    input.value = "";
    keyPrompt = new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => {
          const key = dialog.returnValue === "save" ? input.value.trim() : "";
          input.value = "";
          keyPrompt = null;
          if (key) storeKey(key);
          resolve(key);
        },
        { once: true },
      );
      dialog.returnValue = "";
      dialog.showModal();
      input.focus();
    });
    return keyPrompt;
  }

  /** fetch for /v1 routes: adds the bearer key; on 401 asks for a key once and retries. Returns the OK response. */
  async function api(path, options = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(options.headers || {});
      const key = storedKey();
      if (key) headers.set("Authorization", `Bearer ${key}`);
      let response;
      try {
        response = await fetch(path, { ...options, headers });
      } catch (exc) {
        if (exc && exc.name === "AbortError") throw exc;
        throw new ApiError("network_error", "", 0);
      }
      if (response.status === 401 && attempt === 0) {
        if (key) storeKey(""); // the stored key was refused
        const entered = await askForKey();
        if (entered) continue;
      }
      if (!response.ok) {
        const err = await errorFromResponse(response);
        if (response.status === 401) storeKey("");
        throw err;
      }
      return response;
    }
  }

  /** Read a text/event-stream body, calling onEvent(name, data) per event (data lines joined by \n). */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buffer = "";
    let name = "";
    let data = [];

    const line = (text) => {
      if (text === "") {
        if (data.length) onEvent(name || "message", data.join("\n"));
        name = "";
        data = [];
        return;
      }
      if (text.startsWith(":")) return; // comment / keep-alive
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    };

    const drain = (final) => {
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buffer);
        if (!m) break;
        // a lone \r at the very end may be the first half of \r\n: wait for the next chunk
        if (m[0] === "\r" && m.index === buffer.length - 1 && !final) break;
        line(buffer.slice(0, m.index));
        buffer = buffer.slice(m.index + m[0].length);
      }
    };

    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      drain(false);
    }
    buffer += decoder.decode();
    drain(true);
    if (buffer) line(buffer);
    line(""); // dispatch a last event not followed by a blank line
  }

  // ---------------------------------------------------------------- chat rendering

  function hideEmptyHint() {
    const hint = $("empty-hint");
    if (hint) hint.remove();
  }

  function addUserMessage(text) {
    hideEmptyHint();
    const node = el("div", "message user", el("div", "bubble", text));
    $("messages").append(node);
    scrollChat();
    return node;
  }

  function addAssistantPlaceholder() {
    const body = el("div", "answer-text streaming");
    const status = el("p", "status muted", "正在检索文档…");
    const node = el("div", "message assistant pending", el("div", "bubble", status, body));
    $("messages").append(node);
    scrollChat();
    return { node, body, status };
  }

  /** Answer text with every [n] (or [1,2]) turned into a chip button for citation n. */
  function renderAnswerText(container, text, citationsByN) {
    const pattern = /\[(\d+(?:\s*[,，、]\s*\d+)*)\]/g;
    let pos = 0;
    let m;
    while ((m = pattern.exec(text)) !== null) {
      const numbers = m[1].split(/\s*[,，、]\s*/).map(Number);
      if (!numbers.every((n) => citationsByN.has(n))) continue; // not a citation marker: keep as text
      if (m.index > pos) container.append(document.createTextNode(text.slice(pos, m.index)));
      for (const n of numbers) container.append(chip(citationsByN.get(n)));
      pos = m.index + m[0].length;
    }
    if (pos < text.length) container.append(document.createTextNode(text.slice(pos)));
  }

  function chip(citation) {
    const button = el("button", "cite-chip", String(citation.n));
    button.type = "button";
    button.dataset.n = String(citation.n);
    button.title = `《${citation.title}》${place(citation.section, citation.page) ? " " + place(citation.section, citation.page) : ""}`;
    button.setAttribute("aria-label", `出处 ${citation.n}：${citation.title}`);
    button.addEventListener("click", () => {
      showCitation(citation);
      document.querySelectorAll(".cite-chip.active").forEach((b) => b.classList.remove("active"));
      button.classList.add("active");
    });
    return button;
  }

  function renderAnswer(target, answer) {
    const { node } = target;
    const bubble = node.querySelector(".bubble");
    clear(bubble);
    node.classList.remove("pending");
    const citations = Array.isArray(answer.citations) ? answer.citations : [];
    const related = Array.isArray(answer.related) ? answer.related : [];
    const byN = new Map(citations.map((c) => [Number(c.n), c]));

    if (answer.abstained) {
      node.classList.add("abstained");
      bubble.append(el("span", "abstained-label", "文档未提及"));
    }
    if (answer.resolved_question && answer.question && answer.resolved_question !== answer.question) {
      bubble.append(el("p", "resolved muted", `理解为：${answer.resolved_question}`));
    }

    const text = el("div", "answer-text");
    renderAnswerText(text, String(answer.answer || ""), byN);
    bubble.append(text);

    if (citations.length) {
      const list = el("ol", "sources");
      for (const c of citations) {
        const item = el(
          "li",
          "source-item",
          chip(c),
          el("span", "source-title", `《${c.title}》`),
          place(c.section, c.page) ? el("span", "source-place", place(c.section, c.page)) : null,
          c.quote ? el("span", "source-quote", `“${c.quote}”`) : null,
        );
        item.dataset.n = String(c.n);
        list.append(item);
      }
      bubble.append(el("div", "sources-block", el("h3", null, "来源"), list));
    }

    if (answer.abstained && related.length) {
      const list = el("ul", "related");
      for (const r of related) {
        const open = el("button", "link-button", `《${r.title}》`);
        open.type = "button";
        open.addEventListener("click", () => showPassage(r.title, r.section, r.page, String(r.text || "")));
        list.append(
          el(
            "li",
            "related-item",
            open,
            place(r.section, r.page) ? el("span", "source-place", place(r.section, r.page)) : null,
            el("p", "related-text", excerpt(r.text, 160)),
          ),
        );
      }
      bubble.append(el("div", "related-block", el("h3", null, "相关段落"), list));
    }

    const copy = el("button", "secondary small copy-button", "复制");
    copy.type = "button";
    copy.addEventListener("click", () => copyAnswer(answer, copy));
    const footer = el("div", "answer-footer", copy);
    if (answer.mode) footer.append(el("span", "muted small", answer.mode === "llm" ? "生成式回答" : "摘录式回答"));
    const total = answer.timings_ms && Number(answer.timings_ms.total);
    if (total) footer.append(el("span", "muted small", `${(total / 1000).toFixed(1)} 秒`));
    bubble.append(footer);
    scrollChat();
  }

  function renderError(target, err, partialText) {
    const { node } = target;
    const bubble = node.querySelector(".bubble");
    clear(bubble);
    node.classList.remove("pending");
    node.classList.add("error");
    const { text, detail } = describeError(err);
    bubble.append(el("p", "error-text", text));
    if (detail) bubble.append(el("p", "error-detail muted small", detail));
    if (partialText) bubble.append(el("div", "answer-text partial", partialText));
    scrollChat();
  }

  // ---------------------------------------------------------------- citation panel

  function showCitation(c) {
    showPassage(c.title, c.section, c.page, String(c.text || ""), { quotes: c.quote ? [String(c.quote)] : [], n: c.n });
  }

  /**
   * Fill the 出处 panel: 《title》, place, and the passage with each quote (or given code point range) marked;
   * a quote not found in the passage is shown apart, highlighted.
   */
  function showPassage(title, section, page, text, { quotes = [], ranges: given = [], n } = {}) {
    const body = $("source-body");
    clear(body);
    const heading = el("h3", "source-doc", `《${title}》`);
    if (n !== undefined) heading.prepend(el("span", "cite-chip static", String(n)));
    body.append(heading);
    const meta = el("p", "source-meta");
    if (section) meta.append(el("span", "source-section", section));
    if (pageLabel(page)) meta.append(el("span", "source-page", pageLabel(page)));
    if (meta.childNodes.length) body.append(meta);

    const ranges = given.slice();
    const missing = [];
    for (const q of quotes) {
      const r = findQuote(text, q);
      if (r) ranges.push(r);
      else missing.push(q);
    }
    for (const q of missing) {
      body.append(el("p", "muted small", "引文（未在段落中逐字找到）："));
      body.append(el("blockquote", "quote-apart", el("mark", null, q)));
    }
    const passage = el("div", "passage");
    appendHighlighted(passage, text, ranges);
    body.append(passage);

    const panel = $("source-panel");
    panel.classList.add("flash");
    setTimeout(() => panel.classList.remove("flash"), 600);
    if (window.matchMedia("(max-width: 900px)").matches) panel.scrollIntoView({ behavior: "smooth", block: "start" });
    const mark = passage.querySelector("mark");
    if (mark) mark.scrollIntoView({ block: "nearest" });
  }

  // ---------------------------------------------------------------- copy

  /** The answer as Markdown with its numbered sources (same format as the CLI's Answer.to_markdown). */
  function answerMarkdown(answer) {
    const lines = [String(answer.answer || ""), ""];
    for (const c of answer.citations || []) {
      const where = c.section ? `，${c.section}` : "";
      const page = pageLabel(c.page) ? `，${pageLabel(c.page)}` : "";
      lines.push(`[${c.n}] 《${c.title}》${where}${page}：“${c.quote}”`);
    }
    return lines.join("\n").trim();
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (_) {
        /* permission refused: use the fallback */
      }
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "clipboard-helper";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (_) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  async function copyAnswer(answer, button) {
    const ok = await copyText(answerMarkdown(answer));
    button.textContent = ok ? "已复制" : "复制失败";
    setTimeout(() => {
      button.textContent = "复制";
    }, 1500);
  }

  // ---------------------------------------------------------------- chat flow

  function setBusy(value) {
    busy = value;
    $("chat").classList.toggle("busy", value);
    updateControls();
  }

  /** Sending is possible when no answer is pending and the index is ready. */
  function updateControls() {
    const off = busy || !ready;
    $("send").disabled = off;
    document.querySelectorAll(".example").forEach((b) => {
      b.disabled = off;
    });
  }

  /** Under the answer to an example question, chips for the follow-ups that make sense after it. */
  function offerFollowUps(node, question) {
    const example = EXAMPLES.find((e) => e.question === question);
    if (!example || !example.followUps) return;
    const row = el("div", "follow-ups", el("span", "examples-label", "追问："));
    for (const q of example.followUps) {
      const b = el("button", "example follow-up", q);
      b.type = "button";
      b.addEventListener("click", () => ask(q));
      row.append(b);
    }
    node.after(row);
    updateControls();
  }

  function clearFollowUps() {
    document.querySelectorAll(".follow-ups").forEach((row) => row.remove());
  }

  async function ask(question) {
    question = question.trim();
    if (!question || busy || !ready) return;
    setBusy(true);
    clearFollowUps(); // a follow-up chip belongs to the answer just before it
    addUserMessage(question);
    const messages = history.concat([{ role: "user", content: question }]);
    const target = addAssistantPlaceholder();
    let streamed = "";
    let answer = null;
    let failure = null;
    controller = new AbortController();
    const mine = controller;

    try {
      const response = await api("/v1/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ messages, stream: true }),
        signal: mine.signal,
      });
      const type = response.headers.get("content-type") || "";
      if (type.includes("application/json")) {
        answer = await response.json(); // a server that does not stream
      } else {
        await readEvents(response, (name, data) => {
          let payload = {};
          try {
            payload = JSON.parse(data);
          } catch (_) {
            payload = {};
          }
          if (name === "delta") {
            const piece = payload && typeof payload.text === "string" ? payload.text : "";
            if (!piece) return;
            if (!streamed) target.status.remove();
            streamed += piece;
            target.body.textContent = streamed;
            scrollChat();
          } else if (name === "answer") {
            answer = payload;
          } else if (name === "error") {
            failure = new ApiError(String(payload.error || "internal_error"), String(payload.message || ""), 0);
          }
        });
      }
      if (failure) throw failure;
      if (!answer || typeof answer !== "object") throw new ApiError("stream_incomplete", "", 0);
      renderAnswer(target, answer);
      history = messages.concat([{ role: "assistant", content: String(answer.answer || "") }]);
      offerFollowUps(target.node, question);
    } catch (err) {
      if (err && err.name === "AbortError") {
        target.node.remove();
      } else if (err instanceof ApiError && err.code === "index_not_ready") {
        target.node.remove(); // the index went away (a restart): show its progress instead of an error
        watchReadiness();
      } else {
        renderError(target, err, streamed);
      }
    } finally {
      if (controller === mine) controller = null;
      setBusy(false);
    }
  }

  function newConversation() {
    if (controller) controller.abort();
    history = [];
    clear($("messages"));
    $("messages").append(el("p", "empty-hint", "已开始新对话。"));
    $("messages").lastChild.id = "empty-hint";
    $("question").focus();
  }

  // ---------------------------------------------------------------- search

  async function search(query) {
    query = query.trim();
    const box = $("search-results");
    if (!query) return;
    clear(box);
    box.append(el("p", "muted", "正在查找…"));
    const button = $("search-button");
    button.disabled = true;
    try {
      const response = await api(`/v1/search?${new URLSearchParams({ q: query, k: "10" })}`);
      const data = await response.json();
      const results = Array.isArray(data.results) ? data.results : [];
      clear(box);
      if (!results.length) {
        box.append(el("p", "muted", "未找到包含该内容的段落。"));
        return;
      }
      const exactCount = Number(data.exact_matches) || 0;
      box.append(
        el(
          "p",
          "muted small search-summary",
          exactCount ? `${exactCount} 个段落包含“${query}”` : `没有段落包含“${query}”，以下是相关段落`,
        ),
      );
      let list = el("ol", "result-list");
      let relatedStarted = !results.some((r) => r.exact);
      for (const r of results) {
        if (!r.exact && !relatedStarted) {
          relatedStarted = true; // the exact matches end here: related passages follow under their own heading
          box.append(list);
          box.append(el("h3", "search-related", "相关段落"));
          list = el("ol", "result-list related-results");
        }
        const text = String(r.text || "");
        const ranges = Array.isArray(r.highlights) && r.highlights.length ? r.highlights : findAll(text, query);
        const passage = el("p", "passage");
        appendHighlighted(passage, text, ranges);
        const title = el("button", "link-button result-title", `《${r.title}》`);
        title.type = "button";
        title.addEventListener("click", () => showPassage(r.title, r.section, r.page, text, { ranges }));
        list.append(
          el(
            "li",
            "result",
            el(
              "div",
              "result-head",
              title,
              place(r.section, r.page) ? el("span", "source-place", place(r.section, r.page)) : null,
              r.exact ? el("span", "exact-badge", "完全匹配") : null,
            ),
            passage,
          ),
        );
        list.lastChild.classList.toggle("exact", Boolean(r.exact));
      }
      box.append(list);
    } catch (err) {
      clear(box);
      const { text, detail } = describeError(err);
      box.append(el("p", "error-text", text));
      if (detail) box.append(el("p", "error-detail muted small", detail));
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- readiness

  /** Show what /readyz says while the index is not ready: "正在建立索引… 45%", documents and passages done, ETA. */
  function showIndexStatus(state) {
    const box = $("index-status");
    const detail = [];
    let text;
    let percent = null;
    box.classList.toggle("failed", state.status === "failed");
    if (state.status === "indexing") {
      percent = Number(state.percent) || 0;
      text = `正在建立索引… ${percent}%`;
      if (state.stage === "reading") detail.push(`正在读取文件 ${state.documents_done}/${state.documents_total}`);
      else if (state.stage === "publishing") detail.push("正在保存索引");
      else {
        detail.push(`文档 ${state.documents_done}/${state.documents_total}`, `段落 ${state.chunks_done}/${state.chunks_total}`);
        if (state.eta_s !== null && state.eta_s !== undefined) detail.push(`预计还需 ${formatSeconds(Number(state.eta_s))}`);
      }
      detail.push("首次启动需要为文档建立索引，完成后即可提问。");
    } else if (state.status === "failed") {
      text = "索引无法打开，请联系管理员。";
      if (state.message) detail.push(String(state.message));
    } else if (state.status === "unreachable") {
      text = "无法连接服务器，正在重试…";
    } else {
      text = state.stage === "model" ? "正在加载模型…" : "正在加载索引…";
    }
    $("index-status-text").textContent = text;
    $("index-status-detail").textContent = detail.join(" · ");
    $("index-bar-fill").style.width = percent === null ? "0" : `${percent}%`;
    box.querySelector(".index-bar").hidden = percent === null;
    box.hidden = false;
    $("doc-status").textContent = state.status === "failed" ? "文档索引无法打开。" : "文档索引正在建立，完成后自动显示…";
  }

  function formatSeconds(s) {
    return s >= 60 ? `${Math.floor(s / 60)} 分 ${Math.round(s % 60)} 秒` : `${Math.max(1, Math.round(s))} 秒`;
  }

  async function readiness() {
    try {
      const response = await fetch("/readyz", { cache: "no-store" });
      const body = await response.json();
      if (response.ok) return { status: "ready" };
      return body && typeof body === "object" && body.status ? body : { status: "loading" };
    } catch (_) {
      return { status: "unreachable" };
    }
  }

  /** Poll /readyz until the index is ready; meanwhile show its progress and keep sending off. */
  function watchReadiness() {
    if (watching) return watching;
    ready = false;
    updateControls();
    watching = (async () => {
      for (;;) {
        const state = await readiness();
        if (state.status === "ready") break;
        showIndexStatus(state);
        if (state.status === "failed") return; // nothing to wait for: an operator must act
        await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
      }
      $("index-status").hidden = true;
      ready = true;
      watching = null;
      updateControls();
      loadDocuments();
    })();
    return watching;
  }

  // ---------------------------------------------------------------- documents

  async function loadDocuments(attempt = 0) {
    const list = $("doc-list");
    const status = $("doc-status");
    try {
      const response = await api("/v1/documents");
      const data = await response.json();
      const docs = Array.isArray(data.documents) ? data.documents : [];
      clear(list);
      for (const d of docs) {
        const facts = [
          DOC_TYPES[d.type] || d.type,
          LEVELS[d.level] || d.level,
          d.issuer,
          d.adopted ? `${d.type === "report" ? "发布" : "通过"} ${d.adopted}` : "",
          d.in_force ? `施行 ${d.in_force}` : "",
          d.chunks ? `${d.chunks} 段` : "",
        ].filter(Boolean);
        const item = el("li", "doc", el("span", "doc-title", d.title), el("span", "doc-meta muted small", facts.join(" · ")));
        item.dataset.id = String(d.id || "");
        list.append(item);
      }
      status.textContent = docs.length ? `共 ${docs.length} 份文档` : "索引中还没有文档。";
    } catch (err) {
      if (err instanceof ApiError && err.code === "index_not_ready" && attempt < 60) {
        status.textContent = "文档索引正在建立，稍后自动刷新…";
        setTimeout(() => loadDocuments(attempt + 1), 3000);
        return;
      }
      const { text } = describeError(err);
      status.textContent = `文档列表加载失败：${text}`;
    }
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    const examples = $("examples");
    for (const { question } of EXAMPLES) {
      const b = el("button", "example", question);
      b.type = "button";
      b.addEventListener("click", () => ask(question));
      examples.append(b);
    }

    const input = $("question");
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const q = input.value;
      if (!q.trim() || busy || !ready) return;
      input.value = "";
      ask(q);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault(); // Enter sends; Shift+Enter (and Enter confirming an IME candidate) does not
        $("composer").requestSubmit();
      }
    });
    $("new-chat").addEventListener("click", newConversation);

    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      search($("search-input").value);
    });

    watchReadiness();
    input.focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
