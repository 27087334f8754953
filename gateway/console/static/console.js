// The review queue's keys (j/k move, c confirm, r reject, m remind) and the evidence viewer:
// an item is fetched through the console's access-record route and the ledger transaction
// that recorded the view (X-Access-Record) is shown under it. The page hears of each later
// change of the flags it follows (an officer's areas, a reviewer's department: server-sent
// events) and says how many came since it loaded.
"use strict";

async function showEvidence(figure) {
  if (figure.dataset.loaded) return;
  figure.dataset.loaded = "1";
  const note = figure.querySelector(".access") || figure.appendChild(document.createElement("small"));
  const response = await fetch(figure.dataset.src, { credentials: "same-origin" });
  const tx = response.headers.get("X-Access-Record") || "";
  if (!response.ok) {
    note.textContent = response.status + (tx ? " · tx " + tx : "");
    note.classList.add("error");
    return;
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  let media;
  if (blob.type.startsWith("image/")) {
    media = document.createElement("img");
  } else if (blob.type.startsWith("video/")) {
    media = document.createElement("video");
    media.controls = true;
  }
  if (media) {
    media.src = url;
    figure.insertBefore(media, figure.firstChild);
  }
  note.textContent = "tx " + tx;
  note.dataset.tx = tx;
}

function current(items) {
  return items.find((li) => li.classList.contains("current"));
}

function select(items, item) {
  items.forEach((li) => li.classList.remove("current"));
  if (!item) return;
  item.classList.add("current");
  item.focus();
  item.scrollIntoView({ block: "nearest" });
  item.querySelectorAll("figure.item").forEach(showEvidence);
}

// The stream starts after the page's own cursor, so every item it sends is a change since.
// EventSource reconnects by itself with the last event id; an `end` other than RECONNECT
// (signed out, the role changed) closes it.
function follow(section) {
  if (!section || !section.dataset.stream || !window.EventSource) return;
  const source = new EventSource(section.dataset.stream);
  let changes = 0;
  source.addEventListener("assignments", (event) => {
    changes += JSON.parse(event.data).items.length;
    if (!changes) return;
    let note = section.querySelector("p.news");
    if (!note) {
      note = document.createElement("p");
      note.className = "news";
      note.setAttribute("role", "status");
      const heading = section.querySelector("h2");
      section.insertBefore(note, heading ? heading.nextSibling : section.firstChild);
    }
    note.textContent = section.dataset.news.replace("{n}", String(changes)) + " · ";
    const reload = note.appendChild(document.createElement("a"));
    // The page as it is now, without the outcome of the action that led here.
    const url = new URL(window.location.href);
    ["done", "flag", "tx", "case"].forEach((key) => url.searchParams.delete(key));
    reload.href = url.toString();
    reload.textContent = section.dataset.reload;
  });
  source.addEventListener("end", (event) => {
    if (JSON.parse(event.data).code !== "RECONNECT") source.close();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  follow(document.getElementById("my-areas"));
  follow(document.getElementById("queue-news"));
  const items = Array.from(document.querySelectorAll("#queue > li.flag"));
  select(items, items[0]);
  items.forEach((li) => li.addEventListener("click", () => select(items, li)));
  document.querySelectorAll("ul.evidence > li.item").forEach((li) => {
    li.querySelector("a").addEventListener("click", (event) => {
      event.preventDefault();
      showEvidence(li);
    });
  });
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) return;
    const here = current(items);
    const at = items.indexOf(here);
    if (event.key === "j") select(items, items[Math.min(at + 1, items.length - 1)]);
    else if (event.key === "k") select(items, items[Math.max(at - 1, 0)]);
    else if (here && ["c", "r", "m"].includes(event.key)) {
      const button = here.querySelector('button[data-key="' + event.key + '"]');
      if (button) button.click();
    } else return;
    event.preventDefault();
  });
});
