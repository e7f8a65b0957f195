/* Dash's renderer records every change of a callback input made in the browser (each tick of
 * a dcc.Interval among them) in an undo history that is never trimmed and only serves the
 * dev tools' undo button. On a screen left open for days that is a slow, endless leak, so we
 * keep only the last few entries. */
(function () {
  const KEEP = 20;
  setInterval(function () {
    const store = window.store;
    const history = store && store.getState && store.getState().history;
    if (history && history.past && history.past.length > KEEP) {
      history.past.splice(0, history.past.length - KEEP);
    }
  }, 10000);
})();
