"""The docs site (`make docs`): built from the notebooks, then opened page by page in headless Chromium.

The build (docs/build.py, once per session: tests/conftest.py) is where the notebooks are executed;
thanks to myst-nb's execution cache it takes seconds when `make docs` ran before on the same notebooks. The browser
part needs the Debian package `chromium` and is skipped without it. Screenshots of every page go
to _docs_screens/ (JPEG, half scale).
"""
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from execnb.nbio import read_nb
from nbdev.config import get_config
from nbdev.doclinks import _nbpath2html, nbglob

ROOT = Path(__file__).resolve().parent.parent
SCREENS = ROOT / '_docs_screens'
CHROMIUM = next((shutil.which(b) for b in ('chromium', 'chromium-browser') if shutil.which(b)), None)
LEAKS = [r'#\|', r':::', r'\{target=', r'\]\(\S+\.(?:html|ipynb)', r'(?m)^\s*#{1,6} \S']   # directives, Quarto-isms, raw markdown


def _pages():
    "(notebook, page path relative to the site, H1 title, names nbdev documents with show_doc) for every notebook."
    cfg = get_config()
    res = []
    for nb_path in sorted(nbglob(cfg.nbs_path, as_path=True)):
        nb = read_nb(nb_path)
        title = next((re.sub(r'[`*]', '', m[1]).strip() for c in nb.cells if c.cell_type == 'markdown'
                      for m in [re.search(r'^#\s+(.+)$', c.source, re.M)] if m), None)   # as rendered: no markup
        exported = [m for c in nb.cells if c.cell_type == 'code' and re.search(r'^#\|\s*exports?\s*$', c.source, re.M)
                    and not re.search(r'^#\|\s*hide\s*$', c.source, re.M)
                    for m in re.findall(r'^(?:async\s+)?(?:def|class)\s+([A-Za-z]\w*)', c.source, re.M)]
        res.append((nb_path.name, _nbpath2html(nb_path.relative_to(cfg.nbs_path)).as_posix(), title, exported))
    return res


PAGES = _pages()


@pytest.fixture(scope='module')
def site(site_build):
    r, _ = site_build
    assert r.returncode == 0, f'docs build failed (exit {r.returncode}):\n{r.stdout[-12000:]}'
    assert not (ROOT / 'jupyter_execute').exists(), 'the docs build left jupyter_execute/ in the checkout'
    return get_config().doc_path


class _Text(HTMLParser):
    "Visible text of the article, its H1s, and the API entries (show_doc headings) in it."
    VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}
    def __init__(self):
        super().__init__()
        self.stack, self.text, self.h1, self.api, self.imgs = [], [], [], [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.VOID:
            if tag == 'img': self.imgs.append(a.get('src', ''))
            return
        self.stack.append((tag, a.get('class') or ''))
    def handle_endtag(self, tag):
        if any(t == tag for t, _ in self.stack):   # an end tag without its start tag is ignored, as browsers do
            while self.stack.pop()[0] != tag: pass
    def handle_data(self, data):
        tags = [t for t, _ in self.stack]
        if 'script' in tags or 'style' in tags: return
        in_article = any('bd-article' in c for _, c in self.stack)
        if not in_article: return
        in_code = any(t in ('pre', 'code') or 'highlight' in c for t, c in self.stack)
        if not in_code: self.text.append(data)
        if 'h1' in tags: self.h1.append(data)
        if any('tag_nbdev-show-doc' in c for _, c in self.stack) and any('rubric' in c for _, c in self.stack):
            self.api.append(data.strip())


def _parse(path):
    p = _Text()
    p.feed(path.read_text(encoding='utf-8'))
    return p


@pytest.mark.parametrize('nb,page,title,exported', PAGES, ids=[p[1] for p in PAGES])   # page names: `-k 13_synth` selects the notebook's own test, not these
def test_page_built(site, nb, page, title, exported):
    path = site / page
    assert path.exists(), f'{nb}: no page {page} in {site}'
    p = _parse(path)
    assert title and title in ''.join(p.h1), f'{page}: H1 {title!r} of {nb} not found (H1s: {p.h1})'
    api = {a.rsplit('.', 1)[-1] for a in p.api}   # a @patch-ed method shows as Class.method
    if exported: assert api & set(exported), f'{page}: no API entry for any of {exported}'
    missing = [n for n in exported if n not in api]
    assert not missing, f'{page}: exported but not documented: {missing}'
    text = ''.join(p.text)
    for pat in LEAKS:
        m = re.search(pat, text)
        assert not m, f'{page}: raw source leaks into the page: ...{text[max(0, m.start() - 80):m.end() + 80]!r}...'
    for img in p.imgs:
        if not img.startswith(('http:', 'https:', 'data:')):
            assert (path.parent / img).exists(), f'{page}: image {img} missing'


def test_navigation(site):
    "Every notebook page is in the home page's navigation, in file order."
    html = (site / 'index.html').read_text(encoding='utf-8')
    nav = html[html.find('bd-sidebar-primary'):]
    hrefs = re.findall(r'<a class="reference internal" href="([^"#]+)"', nav)
    want = [page for _, page, _, _ in PAGES if page != 'index.html']
    got = [h for h in dict.fromkeys(hrefs) if h in want]
    assert got == want, f'navigation {got} != notebooks in order {want}'


# --- the browser part ----------------------------------------------------------------------------

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='module')
def server(site):
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), partial(_Quiet, directory=str(site)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


class Chromium:
    "Headless Chromium driven over the DevTools protocol: one tab, console errors and exceptions collected."
    def __init__(self, binary, width=1440, height=900):
        import websocket   # websocket-client (dev_requirements)
        self.profile = tempfile.mkdtemp(prefix='hdexpr-chromium-')
        self.proc = subprocess.Popen(
            [binary, '--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu',
             '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--hide-scrollbars',
             '--mute-audio', f'--window-size={width},{height}', '--remote-debugging-port=0',
             f'--user-data-dir={self.profile}', 'about:blank'],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url, lines, deadline = None, [], time.time() + 60
        while time.time() < deadline and url is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None: break
            lines.append(line)
            if m := re.search(r'DevTools listening on (ws://\S+)', line): url = m[1]
        if url is None:
            self.close()
            raise RuntimeError(f'{binary} did not start its DevTools endpoint:\n{"".join(lines)[-3000:]}')
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()   # keep the pipe drained
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.id, self.events = 0, []
        target = self.send('Target.createTarget', url='about:blank')['targetId']
        self.session = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        for domain in ('Page', 'Runtime', 'Log'): self.send(f'{domain}.enable', session=True)
        self.send('Emulation.setDeviceMetricsOverride', session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.width, self.height = width, height

    def send(self, method, session=False, **params):
        self.id += 1
        msg = {'id': self.id, 'method': method, 'params': params}
        if session: msg['sessionId'] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            r = json.loads(self.ws.recv())
            if r.get('id') == self.id:
                if 'error' in r: raise RuntimeError(f'{method}: {r["error"]}')
                return r.get('result', {})
            self.events.append(r)

    def wait_for(self, method, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, e in enumerate(self.events):
                if e.get('method') == method: return self.events.pop(i)
            self.ws.settimeout(max(0.1, deadline - time.time()))
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def drain(self, seconds):
        "Collect events for `seconds` (late console errors)."
        end = time.time() + seconds
        while (left := end - time.time()) > 0:
            self.ws.settimeout(left)
            try: self.events.append(json.loads(self.ws.recv()))
            except Exception: break
        self.ws.settimeout(60)

    def errors(self):
        "Console errors, uncaught exceptions and failed loads since the last call."
        res = []
        for e in self.events:
            m, p = e.get('method'), e.get('params', {})
            if m == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
                res.append('console: ' + ' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', [])))
            elif m == 'Runtime.exceptionThrown':
                d = p.get('exceptionDetails', {})
                res.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif m == 'Log.entryAdded' and p.get('entry', {}).get('level') == 'error':
                en = p['entry']
                res.append(f"{en.get('source')}: {en.get('text')} {en.get('url', '')}".strip())
        self.events.clear()
        return res

    def open(self, url):
        self.events.clear()
        r = self.send('Page.navigate', session=True, url=url)
        if r.get('errorText'): return [f'navigation: {r["errorText"]}']
        self.wait_for('Page.loadEventFired')
        self.drain(0.5)
        return self.errors()

    def js(self, expr):
        r = self.send('Runtime.evaluate', session=True, expression=expr, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in r: raise RuntimeError(f'{expr}: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def screenshot(self, path, max_height=20000):
        "Whole page (up to `max_height` px) as a JPEG at half scale (a full-scale PNG of the longest pages took seconds each)."
        import base64
        h = min(int(self.js('document.documentElement.scrollHeight')), max_height)
        self.send('Emulation.setDeviceMetricsOverride', session=True, width=self.width, height=h,
                  deviceScaleFactor=1, mobile=False)
        try:
            jpeg = self.send('Page.captureScreenshot', session=True, format='jpeg', quality=80,
                             clip=dict(x=0, y=0, width=self.width, height=h, scale=0.5))['data']
        finally:
            self.send('Emulation.setDeviceMetricsOverride', session=True, width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        Path(path).write_bytes(base64.b64decode(jpeg))

    def close(self):
        try: self.ws.close()
        except Exception: pass
        self.proc.terminate()
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope='module')
def browser():
    if CHROMIUM is None:
        pytest.skip('chromium not installed (Debian: apt-get install chromium): pages not checked in a browser')
    b = Chromium(CHROMIUM)
    yield b
    b.close()


_CHECK = """(() => {
  const art = document.querySelector('article.bd-article') || document.body;
  const api = [...document.querySelectorAll('.tag_nbdev-show-doc .rubric')].map(e => e.textContent.trim());
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const figs = [...art.querySelectorAll('.cell_output img')].filter(i => i.naturalWidth > 0).length;
  const prose = art.cloneNode(true);
  prose.querySelectorAll('pre, code, .highlight, script, style').forEach(e => e.remove());
  return {h1: [...art.querySelectorAll('h1')].map(e => e.textContent.replace('#', '').trim()),
          api, broken, figs, text: prose.textContent, nav: document.querySelectorAll('.bd-sidebar-primary a.reference').length};
})()"""


@pytest.mark.parametrize('nb,page,title,exported', PAGES, ids=[p[1] for p in PAGES])   # page names: `-k 13_synth` selects the notebook's own test, not these
def test_page_in_browser(site, server, browser, nb, page, title, exported):
    SCREENS.mkdir(exist_ok=True)
    errors = browser.open(f'{server}/{page}')
    r = browser.js(_CHECK)
    browser.screenshot(SCREENS / (Path(page).with_suffix('').as_posix().replace('/', '__') + '.jpg'))
    assert not errors, f'{page}: errors in the browser console:\n' + '\n'.join(errors)
    assert any(title in h for h in r['h1']), f'{page}: H1 {title!r} not rendered (H1s: {r["h1"]})'
    if exported: assert {a.rsplit('.', 1)[-1] for a in r['api']} & set(exported), f'{page}: no API entry rendered for any of {exported}'
    assert not r['broken'], f'{page}: images that did not load: {r["broken"]}'
    assert r['nav'] >= len(PAGES) - 1, f'{page}: the navigation lists {r["nav"]} pages, expected {len(PAGES) - 1}'
    for pat in LEAKS:
        m = re.search(pat, r['text'])
        assert not m, f'{page}: raw source shows on the page: ...{r["text"][max(0, m.start() - 80):m.end() + 80]!r}...'
