{# For a browser (and the site's test) to tell that the page is whole: how many charts loaded, any
error the page met (a script error, or a chart or stylesheet that failed to load), and whether
the page is wider than the window. #}
window.addEventListener("error", (e) => {
  const root = document.documentElement;
  root.dataset.errors = (root.dataset.errors || "") + (e.message || (e.target && e.target.src) || "error") + ";";
}, true);
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const loaded = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
  const root = document.documentElement;
  root.dataset.charts = loaded + "/" + imgs.length;
  // CSS pixels the page is wider than the window (wide tables scroll inside their own box), and
  // the first element that sticks out
  root.dataset.overflow = Math.max(0, root.scrollWidth - root.clientWidth);
  const out = [...document.body.querySelectorAll("*")].find((e) => !e.closest(".wide") && (
    e.getBoundingClientRect().right > root.clientWidth + 1 || e.scrollWidth > e.clientWidth + 1));
  if (out) root.dataset.overflowBy = out.tagName.toLowerCase() + (out.className ? "." + out.className : "");
});
