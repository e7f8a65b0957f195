/* The fleet table's rows, drawn from the rows the fleet page's update sends as data
 * (`fleet-data`), rather than sent as Dash components. Dash's renderer walks every component
 * a callback returns, and 25 rows of links are 275 of them: in Chromium on a two-core machine
 * that was a 300-400 ms task each tick, so a fleet page left open on a wall kept a core a
 * third busy and drew two ticks a second at most. Here a tick changes only the texts, links
 * and classes that changed, in rows kept from tick to tick (a hovered row stays hovered).
 * Texts are set as text, never parsed as HTML: riders' names come from the bikes. A click
 * follows the link as dcc.Link does, without reloading the app. */
(function () {
  function follow(event) {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return; // a new tab or window: the browser's own way
    }
    event.preventDefault();
    window.history.pushState({}, "", event.currentTarget.getAttribute("href"));
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (let i = 0; i < cells; i += 1) {
      const link = document.createElement("a");
      link.className = "row-link";
      link.addEventListener("click", follow);
      tr.appendChild(document.createElement("td")).appendChild(link);
    }
    return tr;
  }

  // rows: [href, class, ...cell texts] for each bike shown, in order
  function fleetRows(rows) {
    const body = document.getElementById("fleet-rows");
    if (!body || !Array.isArray(rows)) {
      return window.dash_clientside.no_update;
    }
    rows.forEach(function (shown, index) {
      const texts = shown.slice(2);
      let tr = body.children[index];
      if (!tr) {
        tr = body.appendChild(row(texts.length));
      }
      if (tr.className !== shown[1]) {
        tr.className = shown[1];
      }
      texts.forEach(function (text, cell) {
        const link = tr.children[cell].firstChild;
        if (link.textContent !== text) {
          link.textContent = text;
        }
        if (link.getAttribute("href") !== shown[0]) {
          link.setAttribute("href", shown[0]);
        }
      });
    });
    while (body.children.length > rows.length) {
      body.removeChild(body.lastChild);
    }
    return window.dash_clientside.no_update;
  }

  // added in place: Dash keeps its own members on this object
  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.deleton = window.dash_clientside.deleton || {};
  window.dash_clientside.deleton.fleetRows = fleetRows;
})();
