// ipywidgets typesets the math in widget labels with MathJax 2's
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]), but the site loads MathJax 3,
// which has no Hub: without this shim each widget label throws an error. Jupyter Book
// loads every .js file of book/_static on every page, after Sphinx's MathJax settings.
(function () {
  const waiting = [];
  const hub = {
    Queue(command) {
      const element = command[2];
      if (window.MathJax.typesetPromise) window.MathJax.typesetPromise([element]);
      else waiting.push(element);
    },
  };
  const config = window.MathJax || {};
  const startup = config.startup || {};
  config.startup = Object.assign(startup, {
    ready() {
      window.MathJax.startup.defaultReady();
      window.MathJax.Hub = hub;
      if (waiting.length) window.MathJax.typesetPromise(waiting.splice(0));
    },
  });
  config.Hub = hub; // until MathJax 3 has loaded and replaced this settings object
  window.MathJax = config;
})();
