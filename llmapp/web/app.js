// llmapp web page: plain JavaScript, no build step. Server text is always inserted with textContent.
"use strict";

const TEXT = {
  en: {
    tagline: "Knowledge-base chat with citations", apiKey: "API key", apiKeyHint: "if the server needs one",
    knowledgeBase: "Knowledge base", newKbName: "new knowledge base", create: "Create",
    upload: "Upload documents", uploadButton: "Upload", documents: "Documents", ask: "Ask",
    askHint: "Ask a question about the documents…", passage: "Passage", noKb: "(no knowledge base yet)",
    uploading: "Uploading…", ingesting: "Ingesting {done}/{total} files…",
    ingested: "Done: {added} added, {updated} updated, {unchanged} unchanged, {failed} failed.",
    jobFailed: "Ingest failed: {error}", deleteDoc: "Delete", confirmDelete: "Delete {name}?",
    noDocuments: "No documents yet.", chunks: "chunks", unauthorized: "The server needs a valid API key.",
    thinking: "…", page: "page", embedderE5: "multilingual (Chinese + English)",
    embedderMinilm: "English only (MiniLM)", embedderHint: "How the new knowledge base embeds its texts",
    groundingExtractive: "Quoted from the documents: the generated draft was not supported by them.",
    groundingNone: "Not found in the knowledge base.",
  },
  zh: {
    tagline: "带引用的知识库问答", apiKey: "API 密钥", apiKeyHint: "服务器需要时填写",
    knowledgeBase: "知识库", newKbName: "新知识库名称", create: "创建",
    upload: "上传文档", uploadButton: "上传", documents: "文档", ask: "提问",
    askHint: "就文档提一个问题…", passage: "原文段落", noKb: "（还没有知识库）",
    uploading: "正在上传…", ingesting: "正在导入 {done}/{total} 个文件…",
    ingested: "完成：新增 {added}，更新 {updated}，未变 {unchanged}，失败 {failed}。",
    jobFailed: "导入失败：{error}", deleteDoc: "删除", confirmDelete: "删除 {name}？",
    noDocuments: "还没有文档。", chunks: "个片段", unauthorized: "服务器需要有效的 API 密钥。",
    thinking: "…", page: "页", embedderE5: "多语言（中文 + 英文）", embedderMinilm: "仅英文（MiniLM）",
    embedderHint: "新知识库用哪个模型计算向量",
    groundingExtractive: "直接摘自文档：生成的草稿得不到文档支持。",
    groundingNone: "知识库中没有找到答案。",
  },
};

const $ = (id) => document.getElementById(id);
const state = { lang: sessionStorage.getItem("llmapp.lang") || (navigator.language.startsWith("zh") ? "zh" : "en"),
                history: [], busy: false, uploadStatus: null };  // {key, values}: re-rendered on a language switch

function t(key, values = {}) {
  return TEXT[state.lang][key].replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  document.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
  renderUploadStatus();
}

function setUploadStatus(key, values = {}) {
  state.uploadStatus = key ? { key, values } : null;
  renderUploadStatus();
}

function renderUploadStatus() {
  const shown = state.uploadStatus;
  $("upload-status").textContent = shown ? t(shown.key, shown.values) : "";
}

function headers(extra = {}) {
  const key = sessionStorage.getItem("llmapp.apiKey");
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(response.status === 401 ? t("unauthorized") : (body.error?.message || response.statusText));
  }
  return body;
}

const currentKb = () => $("kb").value;

async function loadKbs(select) {
  const { knowledge_bases: kbs } = await api("/kbs");
  const menu = $("kb");
  menu.replaceChildren();
  if (!kbs.length) menu.append(new Option(t("noKb"), ""));
  kbs.forEach((kb) => menu.append(new Option(kb.name, kb.name)));
  const wanted = select || sessionStorage.getItem("llmapp.kb");
  if (kbs.some((kb) => kb.name === wanted)) menu.value = wanted;
  await loadDocuments();
}

let documentsRequest = 0;  // overlapping refreshes (key change, upload, language) render only the newest

async function loadDocuments() {
  const list = $("documents");
  const request = ++documentsRequest;
  if (!currentKb()) { list.replaceChildren(); return; }
  sessionStorage.setItem("llmapp.kb", currentKb());
  const { documents } = await api(`/kbs/${encodeURIComponent(currentKb())}/documents`);
  if (request !== documentsRequest) return;
  const items = [];
  if (!documents.length) {
    const empty = document.createElement("li");
    empty.textContent = t("noDocuments");
    empty.className = "muted";
    items.push(empty);
  }
  for (const doc of documents) {
    const item = document.createElement("li");
    item.dataset.testid = "document";
    const name = document.createElement("span");
    name.textContent = doc.source;
    name.title = `${doc.chunks} ${t("chunks")}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = t("deleteDoc");
    remove.addEventListener("click", () => deleteDocument(doc));
    item.append(name, remove);
    items.push(item);
  }
  list.replaceChildren(...items);
}

async function deleteDocument(doc) {
  if (!window.confirm(t("confirmDelete", { name: doc.source }))) return;
  try {
    const { job } = await api(`/kbs/${encodeURIComponent(currentKb())}/documents/${doc.id}`, { method: "DELETE" });
    await followJob(job.id, () => {});
    await loadDocuments();
  } catch (err) { showError(err.message); }
}

async function followJob(id, onProgress) {
  for (;;) {
    const job = await api(`/jobs/${id}`);
    onProgress(job);
    if (job.status === "succeeded" || job.status === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function uploadFiles(files) {
  // XMLHttpRequest, not fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", `/kbs/${encodeURIComponent(currentKb())}/documents`);
    Object.entries(headers()).forEach(([name, value]) => request.setRequestHeader(name, value));
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) $("upload-progress").value = event.loaded / event.total;
    };
    request.onload = () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (err) { /* not JSON: use the status text */ }
      if (request.status === 202) resolve(body);
      else reject(new Error(request.status === 401 ? t("unauthorized") : (body.error?.message || request.statusText)));
    };
    request.onerror = () => reject(new Error("network error"));
    request.send(form);
  });
}

async function onUpload(event) {
  event.preventDefault();
  const files = $("files").files;
  if (!files.length || !currentKb()) return;
  const bar = $("upload-progress");
  bar.hidden = false;
  bar.value = 0;
  setUploadStatus("uploading");
  $("upload").disabled = true;
  try {
    const { job } = await uploadFiles(files);
    const done = await followJob(job.id, (j) => {
      bar.value = j.progress.fraction;
      setUploadStatus("ingesting", j.progress);
    });
    if (done.status === "failed") setUploadStatus("jobFailed", { error: done.error });
    else {
      const r = done.result;
      setUploadStatus("ingested", { added: r.files_added, updated: r.files_updated,
                                    unchanged: r.files_unchanged, failed: r.files_failed.length });
    }
    $("files").value = "";
    await loadDocuments();
  } catch (err) {
    setUploadStatus(null);
    showError(err.message);
  } finally {
    $("upload").disabled = false;
  }
}

function addMessage(role, text) {
  const box = document.createElement("div");
  box.className = `message ${role}`;
  box.dataset.testid = `message-${role}`;
  box.textContent = text;
  $("messages").append(box);
  box.scrollIntoView({ block: "end" });
  return box;
}

function showGrounding(box, grounding) {
  if (!grounding) return;
  box.dataset.grounding = grounding;
  if (grounding === "generated") return;
  const note = document.createElement("div");
  note.className = "grounding-note";
  note.textContent = t(grounding === "none" ? "groundingNone" : "groundingExtractive");
  box.appendChild(note);
}

function renderAnswer(box, text, citations) {
  // Citation markers [n] become buttons that open the passage; everything else stays plain text.
  box.replaceChildren();
  const byNumber = new Map(citations.map((c) => [c.n, c]));
  for (const part of text.split(/(\[\d+\])/)) {
    const match = part.match(/^\[(\d+)\]$/);
    const citation = match && byNumber.get(Number(match[1]));
    if (citation) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cite";
      button.dataset.testid = "citation";
      button.textContent = match[1];
      button.addEventListener("click", () => showCitation(citation));
      box.append(button);
    } else if (part) {
      box.append(document.createTextNode(part));
    }
  }
}

function showCitation(citation) {
  const where = [citation.source];
  if (citation.metadata?.page !== undefined) where.push(`${t("page")} ${citation.metadata.page}`);
  if (citation.metadata?.heading) where.push(citation.metadata.heading);
  $("citation-source").textContent = `[${citation.n}] ${where.join(" · ")}`;
  $("citation-text").textContent = citation.text;
  $("citation").hidden = false;
}

async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

async function onAsk(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || !currentKb() || state.busy) return;
  showError("");
  state.busy = true;
  $("ask").disabled = true;
  $("question").value = "";
  addMessage("user", question);
  const box = addMessage("assistant", t("thinking"));
  const messages = [...state.history, { role: "user", content: question }];
  let text = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ model: `kb:${currentKb()}`, stream: true, messages }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(response.status === 401 ? t("unauthorized") : (body.error?.message || response.statusText));
    }
    for await (const chunk of sseEvents(response)) {
      if (chunk.error) throw new Error(chunk.error.message);
      const choice = chunk.choices[0];
      if (choice.delta.content) {
        text += choice.delta.content;
        box.textContent = text;
        box.classList.add("draft");
      }
      if (choice.finish_reason) {
        // the draft is replaced by the verified answer: only sentences a cited passage supports
        text = chunk.llmapp?.text ?? text;
        box.classList.remove("draft");
        renderAnswer(box, text, chunk.citations || []);
        showGrounding(box, chunk.llmapp?.grounding);
        if (chunk.llmapp && !chunk.llmapp.answered) box.classList.add("unanswered");
        box.dataset.done = "true";
      }
    }
    state.history = [...messages, { role: "assistant", content: text }].slice(-12);
  } catch (err) {
    box.remove();
    showError(err.message);
  } finally {
    state.busy = false;
    $("ask").disabled = false;
  }
}

async function onCreateKb(event) {
  event.preventDefault();
  const name = $("new-kb").value.trim();
  if (!name) return;
  try {
    await api("/kbs", { method: "POST", headers: { "Content-Type": "application/json" },
                        body: JSON.stringify({ name, embedder: $("new-kb-embedder").value }) });
    $("new-kb").value = "";
    await loadKbs(name);
  } catch (err) { showError(err.message); }
}

function init() {
  applyLanguage();
  $("api-key").value = sessionStorage.getItem("llmapp.apiKey") || "";
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("llmapp.apiKey", $("api-key").value.trim());
    showError("");
    loadKbs().catch((err) => showError(err.message));
  });
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    sessionStorage.setItem("llmapp.lang", state.lang);
    applyLanguage();
    loadDocuments().catch((err) => showError(err.message));
  });
  $("kb").addEventListener("change", () => {
    state.history = [];
    $("messages").replaceChildren();
    loadDocuments().catch((err) => showError(err.message));
  });
  $("create-kb").addEventListener("submit", onCreateKb);
  $("upload-form").addEventListener("submit", onUpload);
  $("ask-form").addEventListener("submit", onAsk);
  $("close-citation").addEventListener("click", () => { $("citation").hidden = true; });
  loadKbs().catch((err) => showError(err.message));
}

document.addEventListener("DOMContentLoaded", init);
