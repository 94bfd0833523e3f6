"""A self-contained static HTML leaderboard (``bench report --html``): DIR/index.html.

No network at view time: CSS and JS are inline, plots are base64 PNGs, no fonts or
scripts from elsewhere. The leaderboard sorts on a header click (numbers numerically,
blanks last) and filters by task/profile; a URL fragment ``#sort=KEY:asc|desc`` (and
``task=...&profile=...``) runs the same code on load, so a link reproduces a view.
Verdict colours are Okabe-Ito and every cell also carries a symbol and a word, so
colour is never the only cue. Verdicts are defined in harness/report.py.
"""
from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from harness.leaderboard import atomic_write_text
from harness.report import (Table, _column_key, aggregate, before_rows, build_tables, isnum, mark, open_store,
                            prepare, provenance, run_status, verdict)
from harness.store import Store

MAX_IMAGES_BYTES = 3_500_000  # keeps the page well under 5 MB
VERDICT_STYLE = {  # word -> (symbol, Okabe-Ito colour)
    "robust": ("✓", "#009E73"), "verified": ("✓", "#009E73"), "removed": ("✗", "#D55E00"),
    "forged": ("⚠", "#CC79A7"), "destroyed": ("⊘", "#56B4E9"), "unverified": ("–", "#DDDDDD"), "n/a": ("?", "#FFFFFF"),
}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:1.5em;color:#111}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em;margin-bottom:.2em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.4em 0 1em}th,td{border:1px solid #ccc;padding:3px 6px;white-space:nowrap}
th{background:#f2f2f2;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
#leaderboard th{cursor:pointer;user-select:none}#leaderboard th:focus{outline:2px solid #0072B2}
#leaderboard th[aria-sort=ascending]::after{content:' ▲'}#leaderboard th[aria-sort=descending]::after{content:' ▼'}
.prov{color:#444;font-size:.85em;margin:.2em 0}.prov code{background:#f6f6f6;padding:0 3px}
.note{color:#444;font-size:.85em}.v{color:#000;font-weight:600}
.legend span{display:inline-block;margin-right:1em;padding:2px 6px;border:1px solid #999}
.filters{margin:.5em 0}.filters label{margin-right:1.5em}img{max-width:100%;border:1px solid #ddd}
"""

JS = r"""
(function () {
  var table = document.getElementById('leaderboard');
  function value(tr, idx, numeric) {
    var td = tr.children[idx];
    if (!td) return null;
    if (numeric) { var x = parseFloat(td.getAttribute('data-v')); return isNaN(x) ? null : x; }
    var t = td.textContent.trim(); return t === '' || t === '—' ? null : t;
  }
  function sortBy(key, dir) {
    var ths = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var idx = ths.findIndex(function (th) { return th.getAttribute('data-key') === key; });
    if (idx < 0) return false;
    var th = ths[idx], numeric = th.getAttribute('data-type') === 'num', body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, idx, numeric), y = value(b, idx, numeric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      var c = numeric ? x - y : x.localeCompare(y);
      return dir === 'desc' ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    ths.forEach(function (t) { t.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 'desc' ? 'descending' : 'ascending');
    table.setAttribute('data-sort', key + ':' + dir);
    return true;
  }
  function onHeader(th) {
    sortBy(th.getAttribute('data-key'), th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc');
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener('click', function () { onHeader(th); });
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onHeader(th); } });
  });
  var selTask = document.getElementById('filter-task'), selProfile = document.getElementById('filter-profile');
  function applyFilters() {
    var t = selTask.value, p = selProfile.value;
    document.querySelectorAll('[data-task]').forEach(function (el) {
      var ok = (!t || el.getAttribute('data-task') === t) && (!p || el.getAttribute('data-profile') === p);
      el.style.display = ok ? '' : 'none';
    });
  }
  selTask.addEventListener('change', applyFilters);
  selProfile.addEventListener('change', applyFilters);
  var params = {};
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    var i = kv.indexOf('='); if (i > 0) params[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
  });
  if (params.task !== undefined) selTask.value = params.task;
  if (params.profile !== undefined) selProfile.value = params.profile;
  applyFilters();
  if (params.sort) { var j = params.sort.lastIndexOf(':'); sortBy(params.sort.slice(0, j), params.sort.slice(j + 1)); }
  window.wmbenchSortBy = sortBy;
})();
"""


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _inline_md(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", esc(text))


def _prov(lines: list[str]) -> str:
    return "".join(f'<p class="prov">{_inline_md(line)}</p>' for line in lines)


def _attrs(task: str, profile: str) -> str:
    return f' data-task="{esc(task)}" data-profile="{esc(profile)}"' if task or profile else ""


def _num_td(value: object, text: str) -> str:
    v = f"{value:.6g}" if isnum(value) else ""
    return f'<td class="num" data-v="{v}">{esc(text)}</td>'


def _verdict_td(word: str) -> str:
    symbol, colour = VERDICT_STYLE.get(word, ("?", "#FFFFFF"))
    return f'<td class="v" style="background:{colour}" title="{esc(word)}">{symbol} {esc(word)}</td>'


def _pct(x: object) -> str:
    return f"{100 * x:.2f}" if isnum(x) else "—"


def leaderboard_html(raw: pd.DataFrame) -> str:
    """One row per task x arch x profile x scheme: cost of embedding, then each attack's outcome."""
    board = aggregate(raw)
    before = aggregate(before_rows(raw).assign(attack="none", setting="none")).set_index(
        ["task", "arch", "profile", "scheme"])
    attacks = sorted({(a, s) for a, s in zip(board["attack"], board["setting"]) if a != "none"}, key=_column_key)
    head = [("task", "task", "text"), ("profile", "profile", "text"), ("arch", "arch", "text"),
            ("scheme", "scheme", "text"), ("seeds", "seeds", "num"), ("nc_acc_clean", "clean NC %", "num"),
            ("nc_cost", "NC cost (pt)", "num"), ("nc_acc_before", "NC %", "num"), ("wm_acc", "WM %", "num"),
            ("verified", "verified", "num")]
    for a, s in attacks:
        head += [(f"nc_acc_after@{a}/{s}", f"{a}/{s} NC %", "num"), (f"wm_acc_after@{a}/{s}", f"{a}/{s} WM %", "num"),
                 (f"verdict@{a}/{s}", f"{a}/{s} verdict", "text")]
    ths = "".join(f'<th tabindex="0" data-key="{esc(k)}" data-type="{t}" scope="col">{esc(label)}</th>'
                  for k, label, t in head)
    idx = board.set_index(["task", "arch", "profile", "scheme", "attack", "setting"])
    clean_ref = {k[:3]: r["nc_acc_before"] for k, r in before.iterrows() if k[3] == "none"}
    body = []
    for key, r in before.sort_index(key=lambda c: c.map(lambda s: (s != "none", s))).iterrows():
        task, arch, profile, scheme = key
        clean = r["nc_acc_clean"] if isnum(r["nc_acc_clean"]) else clean_ref.get(key[:3])
        cost = 100 * (clean - r["nc_acc_before"]) if isnum(clean) and isnum(r["nc_acc_before"]) else None
        cells = [f"<td>{esc(task)}</td><td>{esc(profile)}</td><td>{esc(arch)}</td><td>{esc(scheme)}</td>",
                 _num_td(r["seeds"], f"{int(r['seeds'])}"), _num_td(clean, _pct(clean)),
                 _num_td(cost, f"{cost:.2f}" if cost is not None else "—"),
                 _num_td(r["nc_acc_before"], _pct(r["nc_acc_before"])), _num_td(r["wm_acc_before"], _pct(r["wm_acc_before"])),
                 _num_td(r["verified_before"], mark(r["verified_before"], r["seeds"]))]
        for a, s in attacks:
            if (*key, a, s) in idx.index:
                x = idx.loc[(*key, a, s)]
                cells += [_num_td(x["nc_acc_after"], _pct(x["nc_acc_after"])),
                          _num_td(x["wm_acc_after"], _pct(x["wm_acc_after"])),
                          _verdict_td(verdict({**x.to_dict(), "attack": a}))]
            else:
                cells += ['<td class="num" data-v=""></td>'] * 2 + ["<td></td>"]
        body.append(f'<tr data-row="{esc(scheme)}"{_attrs(task, profile)}>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table id="leaderboard"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def matrix_html(raw: pd.DataFrame) -> str:
    """Per task/profile: scheme x attack/setting verdicts."""
    out = []
    for (task, arch, profile), rows in raw.groupby(["task", "arch", "profile"], sort=True):
        board = aggregate(rows)
        cols = sorted({(a, s) for a, s in zip(board["attack"], board["setting"])}, key=_column_key)
        idx = board.set_index(["scheme", "attack", "setting"])
        ths = "".join(f"<th>{esc(a)}<br>{esc(s)}</th>" for a, s in cols)
        trs = []
        for scheme in sorted(board["scheme"].unique(), key=lambda s: (s != "none", s)):
            tds = [(_verdict_td(verdict({**idx.loc[(scheme, a, s)].to_dict(), "attack": a}))
                    if (scheme, a, s) in idx.index else "<td></td>") for a, s in cols]
            trs.append(f"<tr><th scope=row>{esc(scheme)}</th>{''.join(tds)}</tr>")
        label = f"{task} · {profile}" + (f" · {arch}" if arch else "")
        out.append(f'<section{_attrs(task, profile)}><h3>Verdicts ({esc(label)})</h3>{_prov(provenance(rows))}'
                   f'<div class="scroll"><table class="matrix"><thead><tr><th>scheme</th>{ths}</tr></thead>'
                   f'<tbody>{"".join(trs)}</tbody></table></div></section>')
    return "".join(out)


def table_html(t: Table) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    note = f'<p class="note">{_inline_md(t.note)}</p>' if t.note else ""
    return (f'<section{_attrs(t.task, t.profile)}><h3>{esc(t.title)}</h3>{_prov(t.provenance)}<div class="scroll">'
            f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{note}</section>')


def _images(plots: list[Path]) -> str:
    out, used = [], 0
    for p in plots:
        data = Path(p).read_bytes()
        if used + len(data) > MAX_IMAGES_BYTES:
            out.append(f'<p class="note">{esc(p.name)}: not embedded (page size budget); see plots/{esc(p.name)}.</p>')
            continue
        used += len(data)
        b64 = base64.b64encode(data).decode("ascii")
        out.append(f'<figure><img alt="{esc(p.stem)}" src="data:image/png;base64,{b64}"><figcaption>{esc(p.stem)}'
                   f"</figcaption></figure>")
    return "".join(out) or '<p class="note">No curves in this store.</p>'


def _select(sel_id: str, label: str, values: list[str]) -> str:
    opts = '<option value="">all</option>' + "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
    return f'<label>{esc(label)} <select id="{sel_id}">{opts}</select></label>'


def render_html(store: Store | str | os.PathLike, out_dir: str | os.PathLike, tables: list[Table] | None = None,
                plots: list[Path] | None = None) -> Path:
    """Write DIR/index.html from a store (or run folder); reuses tables/plots already made by write_report."""
    from harness import paper_numbers as paper
    from harness.plots import make_plots
    from harness.paper_numbers import paper_tables

    store = open_store(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, curves, runs = store.results(), store.curves(), store.runs()
    raw = prepare(results)
    if tables is None:
        tables = build_tables(results, curves) + paper_tables(raw) if not raw.empty else []
    if plots is None:
        plots = make_plots(results, curves, out / "plots")
    compare = [t for t in tables if t.title.startswith("Paper vs ours")]
    layouts = [t for t in tables if t not in compare and not t.title.startswith("Scheme x attack")]
    run_list = "".join(f"<li><code>{esc(r['command'])}</code> on {esc(r['device'])} (code {esc(r['code_version'])})"
                       f"{esc(run_status(r))}</li>" for _, r in runs.iterrows())
    runs_html = (f"<details class=note><summary>Runs in this store ({len(runs)}: command, device, code version)"
                 f"</summary><ul>{run_list}</ul></details>" if len(runs) else "")  # collapsed: the table comes first
    legend = "".join(f'<span style="background:{c}">{s} {esc(w)}</span>' for w, (s, c) in VERDICT_STYLE.items())
    if raw.empty:
        main = "<p>No results in this store yet.</p>"
    else:
        main = (f"<h2>Leaderboard</h2>{_prov(provenance(raw))}<p class=note>Click a column header to sort "
                "(again to reverse). Accuracies in %; verified = share of seeds &ge; 0.5 (split seeds show the "
                "count, e.g. ✓ 2/3). Verdict cells use the definitions below.</p>" + leaderboard_html(raw)
                + f"<h2>Scheme x attack verdicts</h2><p class=legend>{legend}</p>"
                "<p class=note>verified: no attack, the watermark verifies · robust: the owner watermark still "
                "verifies and no forgery · removed: the owner watermark no longer verifies while NC stays within "
                "5 pt · forged: the pirate's claim verifies on a working model · destroyed: the attack cost more "
                "than 5 pt of NC (transfer exempt) · unverified: the watermark did not verify before the attack."
                "</p>" + matrix_html(raw)
                + "<h2>Paper-style tables</h2>" + "".join(table_html(t) for t in layouts)
                + "<h2>Plots</h2>" + _images(list(plots))
                + f"<h2>Compare with the paper</h2><p class=note>Published numbers: {esc(paper.SOURCE)}; rows only "
                "where our task / scheme / setting matches.</p>"
                + ("".join(table_html(t) for t in compare) or "<p>No row of this store matches a published row.</p>"))
    tasks = sorted(raw["task"].unique()) if not raw.empty else []
    profiles = sorted(raw["profile"].unique()) if not raw.empty else []
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>wmbench leaderboard</title><style>{CSS}</style>'
            f"</head><body><h1>wmbench leaderboard</h1>{runs_html}"
            f'<div class="filters">{_select("filter-task", "task", tasks)}{_select("filter-profile", "profile", profiles)}'
            f"</div>{main}<script>{JS}</script></body></html>")
    path = out / "index.html"
    atomic_write_text(path, page)
    return path


# ---------------------------------------------------------------- headless Chromium (tests, screenshots)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Chromium headless with the flags a root CI container needs and a fresh empty profile."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="wmbench-chromium-") as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)


def dump_dom(page: str | os.PathLike, fragment: str = "") -> str:
    """The page's DOM after its scripts ran (``fragment`` e.g. ``sort=nc_acc_clean:desc``)."""
    url = Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    return run_chromium(["--dump-dom", url]).stdout


def screenshot(page: str | os.PathLike, png: str | os.PathLike, width: int = 1400, height: int = 2000,
               fragment: str = "") -> Path:
    """PNG of the page as a 1400x2000 window shows it (for the committed results page)."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    url = Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    run_chromium([f"--screenshot={png}", f"--window-size={width},{height}", "--hide-scrollbars", url])
    return png


if __name__ == "__main__":  # python -m harness.html PAGE.html OUT.png
    import sys

    if len(sys.argv) != 3:
        sys.exit("usage: python -m harness.html PAGE.html OUT.png")
    print(screenshot(sys.argv[1], sys.argv[2]))
