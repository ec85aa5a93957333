#!/usr/bin/env bash
# index.html of a report opened in headless Chromium shows every image (each loaded, naturalWidth > 0) with
# no console error and no failed resource. A probe script added to a copy of the page records what it saw
# into the DOM, which --dump-dom prints. Skipped (passes with a note) when Chromium is not installed.
set -euo pipefail
bin=$1
golden=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: chromium is not installed (ci/install-deps.sh installs it)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
m=$golden/models
fail() { echo "FAIL: $*"; exit 1; }

"$bin" bench -m "$m/synth-mini-Q4_0.gguf" -k scalar,simd -t 1 -p 8 -n 4 -r 2 -o jsonl --out "$tmp/bench.jsonl" > /dev/null 2>&1
"$bin" profile -m "$m/synth-mini-Q4_0.gguf" -k simd -t 1 -p 8 -n 4 --jsonl "$tmp/profile.jsonl" > /dev/null 2>&1
"$bin" golden -k simd --filter Q4_0 --jsonl "$tmp/golden.jsonl" > /dev/null 2>&1
"$bin" report "$tmp/bench.jsonl" "$tmp/profile.jsonl" "$tmp/golden.jsonl" -o "$tmp/r" > /dev/null

probe='<script>
var probeErrors = [];
window.addEventListener("error", function (e) { probeErrors.push((e.target && e.target.src) || e.message); }, true);
var probeConsoleError = console.error;
console.error = function () { probeErrors.push(Array.from(arguments).join(" ")); probeConsoleError.apply(console, arguments); };
window.addEventListener("load", function () {
  var imgs = Array.from(document.images);
  var bad = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var d = document.createElement("pre");
  d.id = "probe";
  d.textContent = "PROBE images=" + imgs.length + " broken=" + bad.length + " errors=" + probeErrors.length + " " + probeErrors.join(";");
  document.body.appendChild(d);
});
</script>'
awk -v probe="$probe" '{print} /<head>/ && !done {print probe; done=1}' "$tmp/r/index.html" > "$tmp/r/probe.html"
grep -q 'PROBE' "$tmp/r/probe.html" || fail "probe not inserted"
expected=$(grep -o '<img ' "$tmp/r/index.html" | wc -l)
timeout 120 "$browser" --headless --disable-gpu --no-sandbox --user-data-dir="$tmp/profile-dir" \
  --enable-logging=stderr --v=0 --virtual-time-budget=10000 --dump-dom "file://$tmp/r/probe.html" \
  > "$tmp/dom.html" 2> "$tmp/browser.log" || fail "chromium failed: $(tail -5 "$tmp/browser.log")"
line=$(grep -o 'PROBE images=[0-9][^<]*' "$tmp/dom.html" || true)
[ -n "$line" ] || fail "the page's load event never ran: $(tail -5 "$tmp/browser.log")"
echo "$line"
[[ "$line" == "PROBE images=$expected broken=0 errors=0 "* ]] || fail "expected $expected images, none broken, no errors"
if grep -E 'CONSOLE\([0-9]+\)' "$tmp/browser.log" | grep -qiE 'error|uncaught|failed'; then
  fail "console errors: $(grep -E 'CONSOLE' "$tmp/browser.log" | head -3)"
fi
echo "report_html_chromium: ok ($expected images)"
