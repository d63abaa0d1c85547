#!/usr/bin/env bash
# Member pages and API at the realistic size (`bouquet demo --scale`), under concurrent load.
#
# Seeds two SQLite data directories (factor 0.1 and 1.0), serves each, signs in as the
# operator's administrator and takes an API token, then loads every endpoint with wrk
# (CONNECTIONS connections for DURATION each) and prints p50/p95 per endpoint at both sizes,
# with the ratio to /healthz measured in the same run (the baseline: what the machine gives
# for a request that touches no data). Not a test: it prints figures, never fails on them.
#
# wrk rather than oha: it is packaged by Debian (`apt-get install -y wrk`, seconds), while
# `cargo install oha` compiles for many minutes on a small machine. wrk prints p50/p99 only,
# so a Lua `done` hook prints p50/p95 (see report.lua below).
#
# Usage: bench/members/run.sh            (FACTORS, CONNECTIONS, DURATION, THREADS to change)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BOUQUET_BIN:-$ROOT/target/release/bouquet}
FACTORS=${FACTORS:-"0.1 1.0"}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
EMAIL=admin@operateur.demo
PASSWORD=bouquet-demo
# The EPCI of the demo territory: its page, and the page of its communes.
EPCI=243500634
# A word that starts many names ("Saint-…"): a search with many matches.
QUERY=saint

if [ ! -x "$BIN" ]; then
  echo "Construction du binaire de production (cargo build --release)…" >&2
  (cd "$ROOT" && cargo build --release --bin bouquet)
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
  "GET /admin/membres|/admin/membres|cookie"
  "GET /admin/membres?q=$QUERY|/admin/membres?q=$QUERY|cookie"
  "GET /admin/membres/$EPCI (EPCI)|/admin/membres/$EPCI|cookie"
  "GET /o/$EPCI/communes|/o/$EPCI/communes|cookie"
  "GET /api/v1/organisations|/api/v1/organisations|bearer"
)

declare -A P50 P95 RPS ERR SEED COUNTS

ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }

for factor in $FACTORS; do
  dir="$WORK/data-$factor"
  mkdir -p "$dir"
  echo "— facteur $factor : création des données…" >&2
  start=$(date +%s.%N)
  "$BIN" --data-dir "$dir" demo --scale --scale-factor "$factor" >"$dir/seed.log"
  SEED[$factor]=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  tail -n 1 "$dir/seed.log" >&2

  "$BIN" --data-dir "$dir" serve --listen 127.0.0.1:0 >"$dir/serve.log" 2>"$dir/serve.err" &
  SERVER=$!
  url=""
  for _ in $(seq 1 300); do
    url=$(sed -n 's/^Bouquet .* est prêt : //p' "$dir/serve.log" | head -n 1)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "le serveur n'a pas démarré :" >&2; cat "$dir/serve.err" >&2; exit 1; }

  jar="$dir/cookies.txt"
  csrf=$(curl -fsS -c "$jar" -b "$jar" "$url/connexion" | sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' | head -n 1)
  status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
    --data-urlencode "_csrf=$csrf" --data-urlencode "email=$EMAIL" \
    --data-urlencode "password=$PASSWORD" --data-urlencode "suite=/" "$url/connexion")
  [ "$status" = 303 ] || { echo "connexion refusée ($status)" >&2; exit 1; }
  cookie=$(awk -F '\t' '!/^#/ || /^#HttpOnly_/ { if (NF >= 7) printf "%s%s=%s", (n++ ? "; " : ""), $6, $7 }' "$jar")
  token=$(curl -fsS -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$url/api/v1/auth/token" | jq -r .token)
  COUNTS[$factor]=$(curl -fsS -H "authorization: Bearer $token" "$url/api/v1/organisations" | jq -r '.items | length' 2>/dev/null || echo "?")

  for entry in "${ENDPOINTS[@]}"; do
    IFS='|' read -r name path auth <<<"$entry"
    header=()
    case $auth in
      cookie) header=(-H "Cookie: $cookie") ;;
      bearer) header=(-H "Authorization: Bearer $token") ;;
    esac
    code=$(curl -sS -o /dev/null -w '%{http_code}' "${header[@]}" "$url$path")
    if [ "$code" != 200 ]; then
      echo "$path répond $code au lieu de 200" >&2
      exit 1
    fi
    line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$WORK/report.lua" "${header[@]}" "$url$path" | grep '^RESULT')
    read -r _ p50 p95 _ errors rps <<<"$line"
    P50[$factor,$name]=$p50
    P95[$factor,$name]=$p95
    RPS[$factor,$name]=$rps
    ERR[$factor,$name]=$errors
    echo "  $name : p50 $(ms "$p50") ms, p95 $(ms "$p95") ms, $rps req/s, $errors erreur(s)" >&2
  done

  kill "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
done

set -- $FACTORS
small=$1
large=${2:-$1}
base="GET /healthz (référence)"
echo
echo "Membres à l'échelle : $CONNECTIONS connexions, $DURATION par adresse, wrk -t$THREADS, $(nproc) cœurs, SQLite"
for factor in $FACTORS; do
  echo "  facteur $factor : données créées en ${SEED[$factor]} s"
done
echo
printf '| %-36s | %18s | %18s | %13s | %13s | %9s |\n' "adresse" "p50/p95 ×$small (ms)" "p50/p95 ×$large (ms)" "p95/healthz ×$small" "p95/healthz ×$large" "req/s ×$large"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..38})" "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..15})" "$(printf -- '-%.0s' {1..15})" "$(printf -- '-%.0s' {1..11})"
for entry in "${ENDPOINTS[@]}"; do
  IFS='|' read -r name _ _ <<<"$entry"
  ratio() { awk -v a="${P95[$1,$name]}" -v b="${P95[$1,$base]}" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "?" }'; }
  printf '| %-36s | %18s | %18s | %13s | %13s | %9s |\n' "$name" \
    "$(ms "${P50[$small,$name]}") / $(ms "${P95[$small,$name]}")" \
    "$(ms "${P50[$large,$name]}") / $(ms "${P95[$large,$name]}")" \
    "$(ratio "$small")" "$(ratio "$large")" "${RPS[$large,$name]}"
done
