/* Glue between the book's vendored browser libraries (see tools/vendor_assets.py).
 *
 * 1. The widget manager (embed-amd.js) is an AMD module whose fonts are found
 *    relative to its RequireJS module path; point that path at the copy the
 *    book serves (vendor/html-manager beside this file), not at the page.
 * 2. ipywidgets' typeset() calls the MathJax 2 API (MathJax.Hub.Queue); the book
 *    loads MathJax 3, so give it a Hub whose Queue typesets with MathJax 3.
 */
(function () {
  var here = document.currentScript ? document.currentScript.src : window.location.href;
  var paths = {"@jupyter-widgets/html-manager/dist": new URL("vendor/html-manager", here).href};
  if (window.requirejs && window.requirejs.config) {
    window.requirejs.config({paths: paths});
  } else {
    window.require = {paths: paths};  // read by require.js when it loads
  }

  function typeset(job) {
    var element = job && job[2];
    var mj = window.MathJax;
    if (mj && mj.typesetPromise) {
      mj.typesetPromise(element ? [element] : undefined).catch(function () {});
    }
  }
  function installHub() {
    var mj = window.MathJax;
    if (mj && !mj.Hub) { mj.Hub = {Queue: typeset}; }
  }
  installHub();                                   // the configuration object, before MathJax loads
  document.addEventListener("DOMContentLoaded", installHub);  // MathJax 3 itself, after it loads
  window.addEventListener("load", installHub);
})();
