/* Dash's renderer records every change of a callback input made in the browser (each tick of
 * a dcc.Interval among them) in an undo history that is never trimmed and only serves the
 * dev tools' undo button. On a screen left open for days that is a slow, endless leak, so we
 * keep only the last few entries: trimmed as each change lands (a store listener), so the
 * history never holds more than a moment's worth, however fast the page updates; the check
 * each second finds the store once Dash has made it, and makes up for a missed listener. */
(function () {
  const KEEP = 20;
  let listened = null;
  function trim() {
    const history = window.store && window.store.getState && window.store.getState().history;
    if (history && history.past && history.past.length > KEEP) {
      history.past.splice(0, history.past.length - KEEP);
    }
  }
  setInterval(function () {
    const store = window.store;
    if (store && store.subscribe && store !== listened) {
      store.subscribe(trim);
      listened = store;
    }
    trim();
  }, 1000);
})();
