#!/usr/bin/env bash
# The actes list and its full-text search with 100,000 and 1,000,000 actes in the database,
# under concurrent load: p50/p95 at both sizes, their ratio (goal: the large size costs at most
# twice the small one), and the /healthz baseline measured in the same run.
#
# For each size: a fresh SQLite data directory, `bouquet demo --scale --scale-factor 0.1` (the
# demo territory and 200 member organisations), then the example `seed_actes` writes the actes
# (TARGET of them to Arbrissel, the commune the bench reads, 5,000 by default at both sizes;
# or, with SHARE=0.01, 1 % of them, so that the commune grows with the platform), the rest
# spread over the others, each indexed for full-text search as the service does it. Then the server is loaded with wrk
# as the secretary of Arbrissel (cookie) and through the API (bearer token). Same approach as
# bench/members/run.sh. Not a test: it prints figures, never fails on them.
#
# Usage: bench/actes/list.sh        (SIZES, CONNECTIONS, DURATION, THREADS, TARGET or SHARE;
#                                    DATABASE=postgres with BOUQUET_BENCH_PG=postgres://… for
#                                    PostgreSQL: one database per size is created there)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BOUQUET_BIN:-$ROOT/target/release/bouquet}
SEED=$ROOT/target/release/examples/seed_actes
SIZES=${SIZES:-"100000 1000000"}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
TARGET=${TARGET:-5000}
SHARE=${SHARE:-}
DATABASE=${DATABASE:-sqlite}
EMAIL=agent@commune.demo
PASSWORD=bouquet-demo
ORG=213500051
# One objet in 40 mentions the cantine: a search with many matches.
QUERY=cantine

if [ ! -x "$BIN" ]; then
  echo "Construction du binaire de production (cargo build --release)…" >&2
  (cd "$ROOT" && cargo build --release --bin bouquet)
fi
if [ ! -x "$SEED" ] || [ "$ROOT/crates/services/actes/examples/seed_actes.rs" -nt "$SEED" ]; then
  echo "Construction de l'exemple seed_actes…" >&2
  (cd "$ROOT" && cargo build --release -p bouquet-actes --example seed_actes)
fi
if ! command -v wrk >/dev/null; then
  echo "wrk est introuvable : apt-get install -y wrk" >&2
  exit 1
fi

WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %.1f\n",
    latency:percentile(50), latency:percentile(95), summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6)))
end
LUA

# name|path|auth (cookie, bearer or none)
ENDPOINTS=(
  "GET /healthz (référence)|/healthz|none"
  "GET /o/$ORG/actes (liste)|/o/$ORG/actes|cookie"
  "GET /o/$ORG/actes?q=$QUERY|/o/$ORG/actes?q=$QUERY|cookie"
  "GET /o/$ORG/actes?statut=brouillon|/o/$ORG/actes?statut=brouillon|cookie"
  "GET /api/v1/o/$ORG/actes?q=$QUERY|/api/v1/o/$ORG/actes?q=$QUERY|bearer"
)

declare -A P50 P95 RPS ERR SEED

ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }

for size in $SIZES; do
  dir="$WORK/data-$size"
  mkdir -p "$dir"
  db=()
  if [ "$DATABASE" = postgres ]; then
    : "${BOUQUET_BENCH_PG:?BOUQUET_BENCH_PG=postgres://utilisateur@hôte:port/base}"
    dbname="bench_actes_$size"
    psql "$BOUQUET_BENCH_PG" -qc "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname" >/dev/null
    url="${BOUQUET_BENCH_PG%/*}/$dbname"
    db=(--database-url "$url")
  else
    url="sqlite://$dir/bouquet.db"
  fi
  echo "— $size actes : création des données…" >&2
  start=$(date +%s.%N)
  "$BIN" --data-dir "$dir" "${db[@]}" demo --scale --scale-factor 0.1 >"$dir/seed.log"
  share=${SHARE:-$(awk -v t="$TARGET" -v n="$size" 'BEGIN { printf "%.8f", t / n }')}
  "$SEED" --database-url "$url" --count "$size" --target "$ORG" --share "$share" 2>"$dir/seed-actes.log" | tee -a "$dir/seed.log" >&2
  SEED[$size]=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')

  "$BIN" --data-dir "$dir" "${db[@]}" serve --listen 127.0.0.1:0 >"$dir/serve.log" 2>"$dir/serve.err" &
  SERVER=$!
  base=""
  for _ in $(seq 1 600); do
    base=$(sed -n 's/^Bouquet .* est prêt : //p' "$dir/serve.log" | head -n 1)
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { echo "le serveur n'a pas démarré :" >&2; cat "$dir/serve.err" >&2; exit 1; }

  jar="$dir/cookies.txt"
  csrf=$(curl -fsS -c "$jar" -b "$jar" "$base/connexion" | sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' | head -n 1)
  status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
    --data-urlencode "_csrf=$csrf" --data-urlencode "email=$EMAIL" \
    --data-urlencode "password=$PASSWORD" --data-urlencode "suite=/" "$base/connexion")
  [ "$status" = 303 ] || { echo "connexion refusée ($status)" >&2; exit 1; }
  cookie=$(awk -F '\t' '!/^#/ || /^#HttpOnly_/ { if (NF >= 7) printf "%s%s=%s", (n++ ? "; " : ""), $6, $7 }' "$jar")
  token=$(curl -fsS -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/v1/auth/token" | jq -r .token)
  found=$(curl -fsS -H "authorization: Bearer $token" "$base/api/v1/o/$ORG/actes?q=$QUERY&limit=200" | jq '.items | length')
  echo "  la recherche « $QUERY » trouve $found acte(s) sur la première page de 200" >&2

  for entry in "${ENDPOINTS[@]}"; do
    IFS='|' read -r name path auth <<<"$entry"
    header=()
    case $auth in
      cookie) header=(-H "Cookie: $cookie") ;;
      bearer) header=(-H "Authorization: Bearer $token") ;;
    esac
    code=$(curl -sS -o /dev/null -w '%{http_code}' "${header[@]}" "$base$path")
    if [ "$code" != 200 ]; then
      echo "$path répond $code au lieu de 200" >&2
      exit 1
    fi
    line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$WORK/report.lua" "${header[@]}" "$base$path" | grep '^RESULT')
    read -r _ p50 p95 _ errors rps <<<"$line"
    P50[$size,$name]=$p50
    P95[$size,$name]=$p95
    RPS[$size,$name]=$rps
    ERR[$size,$name]=$errors
    echo "  $name : p50 $(ms "$p50") ms, p95 $(ms "$p95") ms, $rps req/s, $errors erreur(s)" >&2
  done

  kill "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
  if [ "$DATABASE" = postgres ]; then
    psql "$BOUQUET_BENCH_PG" -qc "DROP DATABASE IF EXISTS $dbname" >/dev/null || true
  fi
done

set -- $SIZES
small=$1
large=${2:-$1}
base_name="GET /healthz (référence)"
echo
if [ -n "$SHARE" ]; then
  part="$(awk -v s="$SHARE" 'BEGIN { printf "%g", s * 100 }') % des actes pour la commune lue"
else
  part="$TARGET actes pour la commune lue aux deux tailles"
fi
echo "Actes : liste et recherche, $CONNECTIONS connexions, $DURATION par adresse, wrk -t$THREADS, $(nproc) cœurs, $DATABASE, $part"
for size in $SIZES; do
  echo "  $size actes : données créées en ${SEED[$size]} s"
done
echo
printf '| %-42s | %18s | %18s | %11s | %11s | %10s |\n' "adresse" "p50/p95 $small (ms)" "p50/p95 $large (ms)" "p95 ×$large/×$small" "p95/healthz $large" "req/s $large"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..44})" "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..13})" "$(printf -- '-%.0s' {1..13})" "$(printf -- '-%.0s' {1..12})"
for entry in "${ENDPOINTS[@]}"; do
  IFS='|' read -r name _ _ <<<"$entry"
  growth=$(awk -v a="${P95[$large,$name]}" -v b="${P95[$small,$name]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }')
  vs=$(awk -v a="${P95[$large,$name]}" -v b="${P95[$large,$base_name]}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "?" }')
  printf '| %-42s | %18s | %18s | %11s | %11s | %10s |\n' "$name" \
    "$(ms "${P50[$small,$name]}") / $(ms "${P95[$small,$name]}")" \
    "$(ms "${P50[$large,$name]}") / $(ms "${P95[$large,$name]}")" \
    "$growth" "$vs" "${RPS[$large,$name]}"
done
