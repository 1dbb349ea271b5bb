// adnet console: the little that needs script. Loaded from this file (the CSP allows no
// inline script); every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Creative form: live preview of the chosen image, or of the text ad, before submitting.
  var form = document.getElementById("creative-form");
  if (form) {
    var img = document.getElementById("preview-image");
    var text = document.getElementById("preview-text");
    var html = document.getElementById("preview-html");
    var kind = form.elements["kind"];
    var show = function () {
      img.hidden = kind.value !== "image";
      text.hidden = kind.value !== "text";
      html.hidden = kind.value !== "html";
    };
    // The HTML goes into the sandboxed frame's srcdoc, never into this page.
    form.elements["html"].addEventListener("input", function (e) { html.srcdoc = e.target.value; });
    ["width", "height"].forEach(function (n) {
      form.elements[n].addEventListener("input", function (e) { html.setAttribute(n, e.target.value); });
    });
    kind.addEventListener("change", show);
    form.elements["file"].addEventListener("change", function (e) {
      var f = e.target.files && e.target.files[0];
      if (!f) { return; }
      kind.value = "image";
      img.src = URL.createObjectURL(f);
      img.onload = function () {
        // The zone size is the image's, unless the form says otherwise.
        if (!form.elements["width"].value || form.elements["width"].value === "0") { form.elements["width"].value = img.naturalWidth; }
        if (!form.elements["height"].value || form.elements["height"].value === "0") { form.elements["height"].value = img.naturalHeight; }
      };
      show();
    });
    form.elements["image_url"].addEventListener("change", function (e) { if (e.target.value) { img.src = e.target.value; } });
    ["title", "text"].forEach(function (n) {
      form.elements[n].addEventListener("input", function (e) {
        document.getElementById(n === "title" ? "preview-title" : "preview-body").textContent = e.target.value;
      });
    });
  }
  // Copy buttons of the tag code.
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var t = document.getElementById(b.dataset.copy).textContent;
      if (navigator.clipboard) { navigator.clipboard.writeText(t).then(function () { b.textContent = "Copied"; }); }
    });
  });
  // Zone size presets fill width and height.
  document.querySelectorAll("select.size-preset").forEach(function (s) {
    s.addEventListener("change", function () {
      var p = s.value.split("x");
      if (p.length === 2) { document.getElementById(s.dataset.w).value = p[0]; document.getElementById(s.dataset.h).value = p[1]; }
    });
  });
});
