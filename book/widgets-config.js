// Loaded on pages with widgets, after require.js and before the widget embed manager
// (nb_ipywidgets_js in _config.yml). The embed manager finds its icon fonts next to the
// URL that require.js gives its module, which by default is relative to the page's own
// folder; point require.js at the site's copy in vendor/ instead.
require.config({
  paths: { "@jupyter-widgets": new URL("@jupyter-widgets", document.currentScript.src).href },
});
