#!/usr/bin/env bash
# The main job: start plutonManager with the echo service in Go, Python, PHP
# and Perl, send each a request (and a fault), drive one service without a
# manager (plTest and fd redirection), then stop the manager cleanly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
work="$(mktemp -d /tmp/pluton-demo.XXXXXX)"
manager_pid=""
cleanup() {
  [[ -n "$manager_pid" ]] && kill "$manager_pid" 2>/dev/null && wait "$manager_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/config" "$work/rendezvous"
umask 022
write_config() { # key exec-line
  printf 'exec %s\nminimum-processes 1\nmaximum-processes 4\nprestart-processes true\n' "$2" > "$work/config/$1"
}
write_config system.echo.0.raw "$bin/echoService"
write_config python.echo.0.raw "$(command -v python3) $root/sdk/python/examples/echo.py"
write_config php.echo.0.raw "$(command -v php) $root/sdk/php/examples/echo.php"
write_config perl.echo.0.raw "$(command -v perl) $root/sdk/perl/examples/echo.pl"

echo "== Starting plutonManager with four echo services (Go, Python, PHP, Perl)"
"$bin/plutonManager" -C "$work/config" -R "$work/rendezvous" -L "$work/lookup.map" -c "$work/status.sock" \
  -l serviceConfig -l processStart -l processExit > "$work/manager.log" 2>&1 &
manager_pid=$!
for _ in $(seq 100); do
  grep -q -e 'Manager ready:' -e 'FATAL:' "$work/manager.log" && break
  sleep 0.1
done
grep -q 'Manager ready:' "$work/manager.log" || { cat "$work/manager.log"; exit 1; }
sed 's/^/  manager| /' "$work/manager.log"
export plutonLookupMap="$work/lookup.map"

echo
echo "== Lookup"
"$bin/plLookup" system.echo.0.raw python.echo.0.raw php.echo.0.raw perl.echo.0.raw | sed 's/^/  /'

echo
echo "== One request to each service"
for key in system.echo.0.raw python.echo.0.raw php.echo.0.raw perl.echo.0.raw; do
  printf '  %-18s -> ' "$key"
  "$bin/plSend" -n "$key" "Hello from the $key demo"
done

echo
echo "== A fault: context echo.sleepMS=-1"
for key in system.echo.0.raw python.echo.0.raw php.echo.0.raw perl.echo.0.raw; do
  printf '  %-18s -> ' "$key"
  if "$bin/plSend" -C echo.sleepMS=-1 "$key" x 2>&1; then echo "(unexpected success)"; exit 1; fi
done

echo
echo "== 2,000 requests, 8 in parallel, to each service (plPing)"
for key in system.echo.0.raw python.echo.0.raw php.echo.0.raw perl.echo.0.raw; do
  printf '  %-18s ' "$key"
  "$bin/plPing" -c 250 -p 8 -i 0 -s 100 "$key" 2>&1 | tail -n 1
done

echo
echo "== The manager's view: plTop -b (one screen of the live view; plTop -c ADDR is interactive)"
"$bin/plTop" -b -c "$work/status.sock" | sed 's/^/  /'

echo
echo "== No manager: plTest and fd redirection"
printf '  plTest:         '; printf 'Hello' | "$bin/plTest" -n -K system.echo.0.raw "$bin/echoService"
printf '0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,5kHello,0z\n' > "$work/req"
for svc in "$bin/echoService" "$root/sdk/python/examples/echo.py" "$root/sdk/php/examples/echo.php" "$root/sdk/perl/examples/echo.pl"; do
  "$svc" 3<"$work/req" 4>"$work/resp" 2>/dev/null
  printf '  %-15s %s' "$(basename "$svc"):" "$(cat "$work/resp")"
  echo
done

echo
echo "== Stopping the manager (SIGTERM)"
kill -TERM "$manager_pid"
wait "$manager_pid" || true
manager_pid=""
grep -E 'Manager shutdown|Final Objects|Manager exiting' "$work/manager.log" | sed 's/^/  manager| /'
grep -q 'Zombies=0' "$work/manager.log"
echo
echo "Demo complete."
