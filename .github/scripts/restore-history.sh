#!/usr/bin/env bash
# Fetch reports/history.jsonl from the newest unexpired artifact named $ARTIFACT (uploaded by the
# previous nightly run of the same cluster kind), so the Allure report shows trends. A first run,
# or an expired history, starts a new one. Needs GH_TOKEN (actions: read) and GITHUB_REPOSITORY.
set -euo pipefail
: "${ARTIFACT:?name of the history artifact}"
mkdir -p reports
url="$(gh api "repos/${GITHUB_REPOSITORY}/actions/artifacts?name=${ARTIFACT}&per_page=10" \
  --jq '[.artifacts[] | select(.expired == false)][0].archive_download_url // empty')"
if [ -z "$url" ]; then
  echo "no previous ${ARTIFACT}: this run starts the history"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
gh api "${url#https://api.github.com/}" > "$tmp/history.zip"
unzip -o -q "$tmp/history.zip" -d "$tmp/unpacked"
if [ -f "$tmp/unpacked/history.jsonl" ]; then
  cp "$tmp/unpacked/history.jsonl" reports/history.jsonl
  echo "restored reports/history.jsonl ($(wc -l < reports/history.jsonl) earlier runs)"
else
  echo "${ARTIFACT} holds no history.jsonl: starting a new history"
fi
