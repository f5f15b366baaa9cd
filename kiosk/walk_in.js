// The kiosk's walk-in ticket screen: when a callback request got a same-day ticket (the policy allows walk-ins
// for its concern and the office is open), the kiosk shows the ticket number instead of the usual receipt.
// kiosk.js asks screenFor() which screen to show after sending, and clear() when it starts again.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);

  window.kioskWalkIn = {
    // Fill the ticket screen from the answer of /kiosk/api/callbacks; its name, or "receipt" without a ticket.
    screenFor(answer) {
      const walkIn = answer && answer.walk_in;
      if (!walkIn || !walkIn.ticket) return "receipt";
      $("walk-in-ticket").textContent = walkIn.ticket;
      $("walk-in-reference").textContent = answer.reference || "";
      return "walk-in";
    },
    clear() {
      ["walk-in-ticket", "walk-in-reference"].forEach((id) => { $(id).replaceChildren(); });
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    $("walk-in-print").addEventListener("click", () => window.print());
  });
})();
