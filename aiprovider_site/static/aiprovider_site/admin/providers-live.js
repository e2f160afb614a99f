// The provider list's live figures: every few seconds the cells marked data-live="provider:figure"
// are refreshed from the admin's own JSON view (same origin, the operator's session; nothing else).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const PERIOD_MS = 5000;
  const status = document.getElementById("live-status");
  const source = status && status.dataset.source;
  if (!source) {
    return;
  }
  async function refresh() {
    if (document.hidden) {
      return;
    }
    try {
      const response = await fetch(source, {credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      const data = await response.json();
      for (const [provider, cells] of Object.entries(data.providers)) {
        for (const [figure, html] of Object.entries(cells)) {
          const cell = document.querySelector(`[data-live="${CSS.escape(provider)}:${CSS.escape(figure)}"]`);
          if (cell && cell.innerHTML !== html) {
            cell.innerHTML = html;
          }
        }
      }
      status.textContent = `Live figures, updated ${data.updated_at} (every ${PERIOD_MS / 1000} s).`;
      status.dataset.updatedAt = data.updated_at;
    } catch (error) {
      status.textContent = `Live figures: update failed (${error.message}); retrying.`;
    }
  }
  setInterval(refresh, PERIOD_MS);
});
