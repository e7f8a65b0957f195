/* A page whose session has ended (signed out elsewhere, its lifetime over, a screen revoked)
 * has its updates refused with 401 or 403. Reloading lets the server say what to do: the
 * sign-in page for a person, the screen link's own answer for a kiosk. At most once a
 * minute, so a refusal that reloading cannot cure never becomes a loop. */
(function () {
  const fetchOnce = window.fetch;
  window.fetch = function (resource, options) {
    const answer = fetchOnce.call(this, resource, options);
    const url = String((resource && resource.url) || resource);
    if (url.includes("_dash-update-component")) {
      answer.then(function (reply) {
        const last = Number(sessionStorage.getItem("deleton-reloaded") || 0);
        if ((reply.status === 401 || reply.status === 403) && Date.now() - last > 60000) {
          sessionStorage.setItem("deleton-reloaded", String(Date.now()));
          window.location.reload();
        }
      }, function () {});
    }
    return answer;
  };
})();
