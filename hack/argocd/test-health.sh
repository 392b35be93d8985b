#!/usr/bin/env bash
# Tests the Argo CD health checks in charts/ecs-operator/files/argocd/ with Lua 5.1 (the
# language of Argo CD's gopher-lua), installing Debian's lua5.1 when it is missing.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! command -v lua5.1 >/dev/null; then
  sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "test-health: installing lua5.1" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends lua5.1 >&2
fi
exec lua5.1 "$repo/hack/argocd/test-health.lua" "$repo/charts/ecs-operator/files/argocd"
