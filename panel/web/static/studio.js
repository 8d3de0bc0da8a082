// The studio's only script: live progress of a panel run over server-sent events.
// Every model-written string is set as text (textContent), never as markup.
// A reviewer's box shows each of its steps as it happens ("attempt 2 of 3 · 120 tokens —
// re-asked: …"), then its verdict, with the last step kept beneath.
"use strict";

function boxFor(event) {
  for (const box of document.querySelectorAll(".box")) {
    if (box.dataset.tool === event.tool && box.dataset.persona === event.persona) return box;
  }
  return null;
}

function showProgress(event) {
  const box = boxFor(event);
  if (!box || !box.classList.contains("waiting")) return; // its verdict is in
  box.dataset.step = event.kind;
  box.querySelector(".state").textContent = event.text;
}

function showReview(event) {
  const box = boxFor(event);
  if (!box) return;
  const step = box.querySelector(".step");
  if (step && box.dataset.step) {
    step.textContent = box.querySelector(".state").textContent; // how the verdict was reached
    step.hidden = false;
  }
  box.classList.remove("waiting");
  box.classList.add(event.status === "ok" ? event.decision : "failed");
  box.querySelector(".state").textContent =
    event.status === "ok"
      ? `${event.decision} · confidence ${Number(event.confidence).toFixed(2)}`
      : `failed: ${event.error || "no valid verdict"}`;
  box.querySelector(".headline").textContent = event.headline || "";
  if (event.attempts && event.attempts.length) box.appendChild(rawOutputs(event.attempts));
}

function rawOutputs(attempts) {
  // Folded away, as on the panel page; every raw output is set as text.
  const details = document.createElement("details");
  details.className = "raw";
  const summary = document.createElement("summary");
  summary.textContent = `Raw outputs (${attempts.length} attempts)`;
  details.appendChild(summary);
  for (const attempt of attempts) {
    const label = document.createElement("p");
    label.textContent = `Attempt ${attempt.number}: ${attempt.outcome}`;
    const raw = document.createElement("pre");
    raw.textContent = attempt.raw;
    details.append(label, raw);
  }
  return details;
}

function follow(status) {
  const source = new EventSource(status.dataset.events);
  source.addEventListener("progress", (message) => showProgress(JSON.parse(message.data)));
  source.addEventListener("review", (message) => showReview(JSON.parse(message.data)));
  source.addEventListener("done", (message) => {
    const event = JSON.parse(message.data);
    source.close();
    const link = document.getElementById("open-panel");
    if (event.link) {
      status.textContent = "Every reviewer is in; the panel and the comparison are saved.";
      link.href = event.link;
      link.textContent = "Open the comparison";
    } else {
      status.textContent = "Every reviewer is in; the panel is saved.";
      link.href = "/panels/" + encodeURIComponent(event.transcript);
    }
    document.getElementById("job-done").hidden = false;
  });
  source.addEventListener("error", (message) => {
    if (!message.data) return; // a dropped connection; EventSource reconnects by itself
    source.close();
    status.textContent = "The run stopped: " + JSON.parse(message.data).message;
    status.classList.add("failed");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("job-status");
  if (status) follow(status);
});
