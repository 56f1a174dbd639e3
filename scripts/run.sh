#!/bin/sh
# `make run`: start the engine on its embedded default and a local agent
# enrolled against it, so there is a device to connect to. Ctrl-C stops both.
set -eu
BIN=${BIN:-bin}
DATA_DIR=${DATA_DIR:-./warren-data}
LISTEN=${LISTEN:-127.0.0.1:8080}
AGENT_DIR="$DATA_DIR/local-agent"

"$BIN/warren" serve --data-dir "$DATA_DIR" --listen "$LISTEN" &
engine=$!
agent=""
trap 'kill $engine $agent 2>/dev/null; wait' INT TERM EXIT

i=0
until curl -fsS "http://$LISTEN/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $engine 2>/dev/null; then
		echo "run: the engine did not become healthy" >&2
		exit 1
	fi
	sleep 0.1
done

if [ ! -f "$AGENT_DIR/agent.json" ]; then
	token=$("$BIN/warren" token create --data-dir "$DATA_DIR" --json | sed -n 's/.*"token": "\([^"]*\)".*/\1/p')
	"$BIN/warren-agent" enroll --server "http://$LISTEN" --token "$token" \
		--state-dir "$AGENT_DIR" --name local
fi
"$BIN/warren-agent" run --state-dir "$AGENT_DIR" &
agent=$!

cat <<MSG

Warren is running: engine on http://$LISTEN, local agent enrolled as "local".
Console: http://$LISTEN/ (on first start, create the first administrator with
the setup link printed above, then sign in with that email: the local device
is in the Default organization that setup creates).
Try, in another terminal:
  $BIN/warren device list --data-dir $DATA_DIR
  $BIN/warren service add local --name ssh --protocol ssh --port 22 --data-dir $DATA_DIR
  $BIN/warren publish add local/ssh --listen 127.0.0.1:2222 --data-dir $DATA_DIR
  ssh -p 2222 \$USER@127.0.0.1
Ctrl-C stops both.

MSG
wait $engine
