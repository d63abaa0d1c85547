#!/usr/bin/env bash
# Actes (@CTES): building and XSD-checking 1,000 transmissions, Bouquet against xmllint.
#
# crates/formats/actes/examples/actes_bench.rs builds N transmissions (Acte XML + envelope
# EnveloppeCLMISILL, ISO-8859-1, varied content: six natures, accents and typographic
# characters transliterated, 0–4 annexes with their typologies, matières of the 2019
# classification), writes the 2N files to a temporary folder, validates each one with
# `bouquet_format_actes::xsd::validate` (libxml2 through our wrapper; the schema is parsed once
# and its time counted; each file read from disk), then on 2 threads, then runs
# `xmllint --noout --schema actesv1_1.xsd f1 … f2N` in ONE process (schema parsed once: fair)
# on the same files, in the same run. It also packs the N archives (flat tar, gzip -9) with a
# 30 kB placeholder per PDF. Not a test: it prints figures, never fails on them.
#
# Goals (issue 6): our validation at least as fast as xmllint on the same files (same engine,
# no loss in our wrapping), and building cheaper than validating.
#
# Usage: bench/actes/run.sh [N]        (default 1000)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000}
command -v xmllint >/dev/null || { echo "xmllint est introuvable (apt-get install libxml2-utils)" >&2; exit 1; }
echo "Construction de actes_bench (cargo build --release --example)…" >&2
(cd "$ROOT" && cargo build --release -q -p bouquet-format-actes --example actes_bench)

line=$("$ROOT/target/release/examples/actes_bench" "$N" | grep '^RESULT')
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$line" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
per() { awk -v t="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", t * 1000 / n; else print "?" }'; }

files=$(field files)
build=$(field build_ms)
ours=$(field ours_ms)
ours2=$(field ours_2threads_ms)
lint=$(field xmllint_ms)

echo
echo "Actes : $N transmissions = $files fichiers XML ($(field xml_bytes) octets), $(xmllint --version 2>&1 | head -n 1), $(nproc) cœurs"
echo
printf '| %-52s | %10s | %12s |\n' "étape" "ms" "µs/fichier"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..14})"
printf '| %-52s | %10s | %12s |\n' "construction des XML (Acte + enveloppe)" "$build" "$(per "$build" "$files")"
printf '| %-52s | %10s | %12s |\n' "archives tar.gz -9, PDF fictif de 30 ko (µs/archive)" "$(field pack_ms)" "$(per "$(field pack_ms)" "$N")"
printf '| %-52s | %10s | %12s |\n' "xsd::validate, 1 fil (dont schéma : $(field schema_ms) ms)" "$ours" "$(per "$ours" "$files")"
printf '| %-52s | %10s | %12s |\n' "xsd::validate, 2 fils" "$ours2" "$(per "$ours2" "$files")"
printf '| %-52s | %10s | %12s |\n' "xmllint --noout --schema (1 processus, référence)" "$lint" "$(per "$lint" "$files")"
echo
echo "Validation : xmllint / Bouquet = $(ratio "$lint" "$ours")× sur 1 fil, $(ratio "$lint" "$ours2")× sur 2 fils (objectif ≥ 1)"
echo "Construction / validation (Bouquet, 1 fil) = $(ratio "$build" "$ours") (objectif < 1)"
echo "Verdicts : Bouquet $(( files - $(field invalid_ours) ))/$files valides (2 fils : $(( files - $(field invalid_ours_2threads) ))), xmllint $(field xmllint_valid)/$files « validates » (code de sortie $(field xmllint_exit))"
