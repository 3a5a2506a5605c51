#!/usr/bin/env bash
# The script of mini's GitHub action (action.yml at the repository root).
# It creates a cluster and exports its KUBECONFIG, or (MINI_ACTION_DELETE=true)
# deletes it. action.yml passes the inputs as MINI_ACTION_* variables; it runs
# outside GitHub too (then GITHUB_ENV, GITHUB_PATH and GITHUB_OUTPUT are
# unset and what would go there is printed).
#
#   MINI_ACTION_NAME             cluster name (default ci)
#   MINI_ACTION_NODES            number of nodes (default 1)
#   MINI_ACTION_PORTS            [IP:]HOSTPORT:NODEPORT[/udp] mappings, separated by spaces, commas or newlines
#   MINI_ACTION_IMAGES           images of the host's Docker to load into the nodes, same separators
#   MINI_ACTION_NODE_BASE_IMAGE  Docker-in-Docker base image of the nodes
#   MINI_ACTION_CONFIG           a cluster config file (mini config init); the inputs above win
#   MINI_ACTION_TIMEOUT          give up creating after this long (default 5m)
#   MINI_ACTION_ARGS             more arguments for mini cluster create
#   MINI_ACTION_DELETE           true: delete the cluster instead
#   MINI_ACTION_MINI             a mini binary to use (default: build one from this source tree)
set -euo pipefail

src="$(cd "$(dirname "$0")/../.." && pwd)"
name="${MINI_ACTION_NAME:-ci}"
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mini-action"
bindir="$work/bin"
kubeconfig="$work/$name.kubeconfig"

say() { echo "mini-action: $*" >&2; }

# Append KEY=VALUE to a GitHub file, or print it when there is none.
export_to() {
  local file="$1" line="$2"
  if [ -n "$file" ]; then
    echo "$line" >>"$file"
  else
    echo "$line"
  fi
}

# mini: the given binary, or the one an earlier run built, or a new build.
find_mini() {
  if [ -n "${MINI_ACTION_MINI:-}" ]; then
    [ -x "$MINI_ACTION_MINI" ] || { say "mini: $MINI_ACTION_MINI is not an executable"; exit 1; }
    mkdir -p "$bindir"
    ln -sf "$(cd "$(dirname "$MINI_ACTION_MINI")" && pwd)/$(basename "$MINI_ACTION_MINI")" "$bindir/mini"
  elif [ ! -x "$bindir/mini" ]; then
    command -v go >/dev/null || { say "building mini needs Go on PATH (actions/setup-go), or pass the input mini: PATH"; exit 1; }
    say "building mini from $src ($(go version | awk '{print $3}'); go.mod's toolchain is fetched if newer)"
    mkdir -p "$bindir"
    (cd "$src" && CGO_ENABLED=0 go build -o "$bindir/mini" ./cmd/mini)
  fi
  echo "$bindir/mini"
}

# words splits a list input at spaces, commas and newlines.
words() { tr ',\n\t' '   ' <<<"${1:-}"; }

mini="$(find_mini)"

if [ "${MINI_ACTION_DELETE:-false}" = "true" ]; then
  KUBECONFIG="$kubeconfig" "$mini" cluster delete "$name"
  rm -f "$kubeconfig"
  exit 0
fi

args=(cluster create "$name" --timeout "${MINI_ACTION_TIMEOUT:-5m}")
[ -n "${MINI_ACTION_CONFIG:-}" ] && args+=(--config "$MINI_ACTION_CONFIG")
[ -n "${MINI_ACTION_NODES:-}" ] && args+=(--nodes "$MINI_ACTION_NODES")
for p in $(words "${MINI_ACTION_PORTS:-}"); do args+=(-p "$p"); done
for i in $(words "${MINI_ACTION_IMAGES:-}"); do args+=(--load-image "$i"); done
[ -n "${MINI_ACTION_NODE_BASE_IMAGE:-}" ] && args+=(--node-base-image "$MINI_ACTION_NODE_BASE_IMAGE")
read -r -a extra <<<"${MINI_ACTION_ARGS:-}"
args+=("${extra[@]}")

mkdir -p "$work"
rm -f "$kubeconfig"
# The cluster's context goes into a kubeconfig of its own, made current.
KUBECONFIG="$kubeconfig" "$mini" "${args[@]}"

api="$("$mini" cluster list | awk -v n="$name" '$1 == n { print $3 }')"
export_to "${GITHUB_ENV:-}" "KUBECONFIG=$kubeconfig"
export_to "${GITHUB_PATH:-}" "$bindir"
export_to "${GITHUB_OUTPUT:-}" "kubeconfig=$kubeconfig"
export_to "${GITHUB_OUTPUT:-}" "context=mini-$name"
export_to "${GITHUB_OUTPUT:-}" "api=$api"
say "cluster $name is up: KUBECONFIG=$kubeconfig (context mini-$name), API https://$api"
