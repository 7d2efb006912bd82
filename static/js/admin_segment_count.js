// The segment change form's live count: whenever a filter changes, POST the form's fields to
// admin:crm_segment_count and show "500 位客户 → 50 位…" before anything is saved.
(function () {
  "use strict";
  function start() {
    var target = document.getElementById("segment-count");
    var form = target && target.closest("form");
    if (!form) return;
    var timer = null;
    var seq = 0;
    function refresh() {
      var mine = ++seq;
      var body = new FormData(form);
      fetch(target.dataset.url, {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"X-CSRFToken": body.get("csrfmiddlewaretoken") || ""},
      }).then(function (response) {
        return response.json().then(function (data) { return {ok: response.ok, data: data}; });
      }).then(function (result) {
        if (mine !== seq) return;
        if (result.ok) {
          target.textContent = result.data.text;
        } else {
          var details = (result.data.error && result.data.error.details) || {};
          var first = Object.keys(details).map(function (k) { return details[k].join("；"); })[0];
          target.textContent = "条件有误：" + (first || (result.data.error && result.data.error.message) || "");
        }
      }).catch(function () {
        if (mine === seq) target.textContent = "人数暂时无法计算";
      });
    }
    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    }
    form.addEventListener("change", later);
    form.addEventListener("input", later);
    // Select2 (autocomplete fields) reports its changes through jQuery only.
    if (window.django && window.django.jQuery) {
      window.django.jQuery(form).on("select2:select select2:unselect", later);
    }
    refresh();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
