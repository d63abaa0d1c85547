#!/usr/bin/env bash
# Parapheur: PAdES B-T signing throughput, Bouquet against pyHanko, and the peak memory of
# signing a 200 MB PDF.
#
# Serves Bouquet (`serve --demo`) as the time-stamping authority over HTTP
# (POST /api/v1/horodatage), issues one RSA-2048 signing key and certificate (demo PKI, PEM
# files loaded by both sides), makes 200 copies of a 1 MB PDF of 20 pages, then signs them all
# in PAdES B-T:
#   - pyHanko, in process, from a Python loop at its fastest (pyhanko_loop.py: key loaded
#     once, bytes_reserved set so it skips its dry-run signature, one kept-alive HTTP session);
#     then again with its key kept imported in OpenSSL (CACHED_KEY=1: stock SimpleSigner
#     re-imports it for every signature, most of its time; see pyhanko_loop.py);
#   - Bouquet (crates/crypto/examples/pades_bench.rs): prepare streamed from the file, CMS,
#     time-stamp over HTTP (minimal HTTP/1.1 client, kept alive: same as pyHanko), finish;
#     sequentially (same conditions as pyHanko's loop), then with THREADS threads.
# Both use the same key, the same TSA, the same room for the CMS, in the same run. One output
# of each is validated with `pyhanko sign validate` and `pdfsig`, so the figures are for real
# signatures. Baseline of the machine: `openssl speed rsa2048` (signatures per second, one
# core), measured in the same run. Then a 200 MB PDF is signed; its time and the peak RSS of
# the process are printed. Not a test: it prints figures, never fails on them.
#
# Usage: bench/parapheur/run.sh        (DOCS, PAGES, SIZE, BIG_SIZE, THREADS to change)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BOUQUET_BIN:-$ROOT/target/release/bouquet}
BENCH=$ROOT/target/release/examples/pades_bench
PY=${PYHANKO_PYTHON:-$ROOT/target/tools/py/bin/python}
DOCS=${DOCS:-200}
PAGES=${PAGES:-20}
SIZE=${SIZE:-1048576}
BIG_SIZE=${BIG_SIZE:-209715200}
THREADS=${THREADS:-2}

if [ ! -x "$BIN" ]; then
  echo "Construction du binaire de production (cargo build --release)…" >&2
  (cd "$ROOT" && cargo build --release --bin bouquet)
fi
echo "Construction de pades_bench (cargo build --release --example)…" >&2
(cd "$ROOT" && cargo build --release -q -p bouquet-crypto --example pades_bench)
if [ ! -x "$PY" ] || ! "$PY" -c 'import pyhanko' 2>/dev/null; then
  echo "Installation de pyHanko dans target/tools/py…" >&2
  python3 -m venv "$ROOT/target/tools/py"
  "$ROOT/target/tools/py/bin/pip" install -q pyhanko==0.38.0 pyhanko-cli==0.6.0
  PY=$ROOT/target/tools/py/bin/python
fi
PYHANKO_CLI=$(dirname "$PY")/pyhanko
for tool in qpdf pdfsig openssl curl; do
  command -v "$tool" >/dev/null || { echo "$tool est introuvable" >&2; exit 1; }
done

WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- The TSA: Bouquet's server, in a temporary data directory, on a free port.
mkdir -p "$WORK/data"
"$BIN" --data-dir "$WORK/data" serve --demo --listen 127.0.0.1:0 >"$WORK/serve.log" 2>"$WORK/serve.err" &
SERVER=$!
url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's/^Bouquet .* est prêt : //p' "$WORK/serve.log" | head -n 1)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "le serveur n'a pas démarré :" >&2; cat "$WORK/serve.err" >&2; exit 1; }
TSA=$url/api/v1/horodatage
echo "— TSA : $TSA" >&2

# --- Keys (one person's RSA-2048 certificate from a demo root) and the TSA's root.
"$BENCH" issue "$WORK/keys"
curl -fsS "$url/ac-bouquet-demo.pem" >"$WORK/keys/tsa-root.pem"

# --- Inputs: DOCS copies of a PAGES-page PDF of about SIZE bytes, and a BIG_SIZE PDF.
"$BENCH" make-pdf "$WORK/one.pdf" "$PAGES" "$SIZE"
qpdf --check "$WORK/one.pdf" >"$WORK/qpdf.txt" 2>&1 || { echo "qpdf refuse le PDF de test :" >&2; cat "$WORK/qpdf.txt" >&2; exit 1; }
mkdir -p "$WORK/in"
for i in $(seq -w 1 "$DOCS"); do cp "$WORK/one.pdf" "$WORK/in/doc-$i.pdf"; done
big_pages=$(( BIG_SIZE / SIZE ))
"$BENCH" make-pdf "$WORK/big.pdf" "$(( big_pages > 0 ? big_pages : 1 ))" "$BIG_SIZE"
qpdf --check "$WORK/big.pdf" >"$WORK/qpdf-big.txt" 2>&1 || { echo "qpdf refuse le gros PDF :" >&2; tail "$WORK/qpdf-big.txt" >&2; exit 1; }
one_size=$(stat -c %s "$WORK/one.pdf")
big_size=$(stat -c %s "$WORK/big.pdf")
echo "— entrées : $DOCS × $one_size octets ($PAGES pages), et $big_size octets ($big_pages pages) ; qpdf --check : OK" >&2

# --- Baseline: RSA-2048 signatures per second on one core (OpenSSL).
rsa=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa *2048 bits/ { print $(NF-1) }' | tail -n 1)
echo "— openssl speed rsa2048 : ${rsa:-?} signatures/s" >&2

field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1" | head -n 1; }

# --- pyHanko.
echo "— pyHanko : $DOCS documents…" >&2
py_line=$("$PY" "$ROOT/bench/parapheur/pyhanko_loop.py" "$WORK/keys" "$WORK/in" "$WORK/out-pyhanko" "$TSA" | grep '^RESULT')
py_rate=$(field "$py_line" docs_per_s)
echo "  $py_line" >&2
echo "— pyHanko, clé gardée importée dans OpenSSL (CACHED_KEY=1) : $DOCS documents…" >&2
pyc_line=$(CACHED_KEY=1 "$PY" "$ROOT/bench/parapheur/pyhanko_loop.py" "$WORK/keys" "$WORK/in" "$WORK/out-pyhanko-cached" "$TSA" | grep '^RESULT')
pyc_rate=$(field "$pyc_line" docs_per_s)
echo "  $pyc_line" >&2

# --- Bouquet: sequential, then THREADS threads, then without time-stamp (B-B, for the profile).
echo "— Bouquet : $DOCS documents, séquentiel…" >&2
seq_out=$("$BENCH" sign "$WORK/keys" "$WORK/in" "$WORK/out-bouquet" "$TSA" 1)
echo "$seq_out" | sed 's/^/  /' >&2
seq_rate=$(field "$(grep '^RESULT' <<<"$seq_out")" docs_per_s)
seq_profile=$(grep '^PROFILE' <<<"$seq_out")
echo "— Bouquet : $DOCS documents, $THREADS fils…" >&2
par_out=$("$BENCH" sign "$WORK/keys" "$WORK/in" "$WORK/out-bouquet-par" "$TSA" "$THREADS")
echo "$par_out" | sed 's/^/  /' >&2
par_rate=$(field "$(grep '^RESULT' <<<"$par_out")" docs_per_s)
echo "— Bouquet : $DOCS documents, séquentiel, sans horodatage (B-B)…" >&2
bb_out=$("$BENCH" sign "$WORK/keys" "$WORK/in" "$WORK/out-bouquet-bb" none 1)
echo "$bb_out" | sed 's/^/  /' >&2
bb_rate=$(field "$(grep '^RESULT' <<<"$bb_out")" docs_per_s)

# --- Validation of one output of each side.
validate() {
  local pdf=$1 verdict sig
  if "$PYHANKO_CLI" sign validate --pretty-print --no-revocation-check --trust "$WORK/keys/root.pem" \
      --trust "$WORK/keys/tsa-root.pem" --trust-replace "$pdf" >"$WORK/validate.txt" 2>&1; then
    verdict="pyHanko : $(grep -o 'judged [A-Z]*' "$WORK/validate.txt" | head -n 1)"
    if grep -q 'timestamp token is cryptographically sound' "$WORK/validate.txt" \
        && grep -q 'The TSA certificate is trusted' "$WORK/validate.txt"; then
      verdict="$verdict, jeton d'horodatage valide (TSA de confiance)"
    else
      verdict="$verdict, SANS jeton d'horodatage valide"
    fi
  else
    verdict="pyHanko : REFUSÉE ($(grep -v Warning "$WORK/validate.txt" | tail -n 1))"
  fi
  sig=$(pdfsig "$pdf" 2>&1 || true)
  verdict="$verdict ; pdfsig : $(grep -c 'Signature is Valid' <<<"$sig") signature(s) valide(s)"
  grep -q 'Total document signed' <<<"$sig" && verdict="$verdict, document entier"
  echo "$verdict"
}
first=$(basename "$(ls "$WORK/in"/*.pdf | head -n 1)")
v_py=$(validate "$WORK/out-pyhanko/$first")
v_bq=$(validate "$WORK/out-bouquet/$first")

# --- The 200 MB PDF (a process of its own, so that its peak RSS is its own).
echo "— Bouquet : un PDF de $big_size octets…" >&2
big_line=$("$BENCH" big "$WORK/keys" "$WORK/big.pdf" "$WORK/big-signed.pdf" "$TSA" | grep '^BIG')
echo "  $big_line" >&2
big_sig=$(pdfsig "$WORK/big-signed.pdf" 2>&1 || true)
big_valid=$(grep -c 'Signature is Valid' <<<"$big_sig" || true)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "?" }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
kb_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
r_seq=$(ratio "$seq_rate" "$py_rate")
r_par=$(ratio "$par_rate" "$py_rate")

echo
echo "Parapheur : PAdES B-T, $DOCS PDF de $(mb "$one_size") Mo ($PAGES pages), RSA-2048, TSA Bouquet en HTTP (même machine), $(nproc) cœurs"
echo
printf '| %-44s | %10s | %12s |\n' "signataire" "docs/s" "× pyHanko"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..14})"
printf '| %-44s | %10s | %12s |\n' "pyHanko 0.38 (boucle Python, référence)" "$py_rate" "1.0"
printf '| %-44s | %10s | %12s |\n' "pyHanko, clé gardée importée (CACHED_KEY=1)" "$pyc_rate" "$(ratio "$pyc_rate" "$py_rate")"
printf '| %-44s | %10s | %12s |\n' "Bouquet, séquentiel" "$seq_rate" "$r_seq"
printf '| %-44s | %10s | %12s |\n' "Bouquet, $THREADS fils" "$par_rate" "$r_par"
printf '| %-44s | %10s | %12s |\n' "Bouquet, séquentiel, sans horodatage (B-B)" "$bb_rate" "$(ratio "$bb_rate" "$py_rate")"
echo
echo "Objectif (Bouquet ≥ 20 × pyHanko) : séquentiel ${r_seq}×, $THREADS fils ${r_par}× — $(awk -v r="$r_seq" 'BEGIN { print (r >= 20 ? "atteint" : "non atteint") }') en séquentiel"
echo "Limite de la machine : openssl speed rsa2048 = ${rsa:-?} signatures/s sur un cœur (B-T : 2 signatures RSA par document, celle du signataire et celle de la TSA)"
echo "Bouquet séquentiel, ms par document : $(sed 's/^PROFILE //; s/wall_ms_per_doc=/total /; s/_ms=/ /g' <<<"$seq_profile")"
tsa_cost=$("$BENCH" tsa-cost)
echo "TSA intégrée, en mémoire (ms par requête) : réponse signée $(field "$tsa_cost" respond_ms), rechargement des clés scellées $(field "$tsa_cost" reload_keys_ms) (le serveur garde désormais sa PKI ouverte : ce coût n'est payé qu'une fois)"
echo "Validation (pyHanko) : $v_py"
echo "Validation (pyHanko, CACHED_KEY=1) : $(validate "$WORK/out-pyhanko-cached/$first")"
echo "Validation (Bouquet) : $v_bq"
echo "Contre pyHanko avec sa clé gardée importée : Bouquet séquentiel $(ratio "$seq_rate" "$pyc_rate")×, $THREADS fils $(ratio "$par_rate" "$pyc_rate")×"
echo
echo "Gros PDF : $(mb "$big_size") Mo signé en $(field "$big_line" seconds) s, pic de mémoire (VmHWM) $(kb_mb "$(field "$big_line" peak_rss_kb)") Mo (dont $(kb_mb "$(field "$big_line" rss_before_kb)") Mo avant de signer) ; pdfsig : $big_valid signature(s) valide(s)"
echo "  détail (ms) : préparation + empreinte $(field "$big_line" prepare_ms), CMS $(field "$big_line" cms_ms), horodatage $(field "$big_line" tsa_ms), écriture $(field "$big_line" write_ms)"
