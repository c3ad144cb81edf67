#!/usr/bin/env bash
# An API client walk-through against the sandbox: plan → review → job from the plan → watch.
#
#   cargo run -- sandbox up --chain && cargo run -- sandbox fragment
#   cargo run -- --config examples/config.server.yaml server &        # listens on :8080
#   examples/api-walkthrough.sh
#
# Needs curl and jq. API=… and TOKEN=… override the defaults.
set -euo pipefail
API=${API:-http://127.0.0.1:8080}
auth=()
if [[ -n "${TOKEN:-}" ]]; then auth=(-H "Authorization: Bearer $TOKEN"); fi
call() { curl -sS "${auth[@]}" -H 'Content-Type: application/json' "$@"; }

echo "== health"
call "$API/api/v1/health" | jq .

echo "== topology (the cluster named in the config)"
call -X POST "$API/api/v1/topology/discover" -d '{"cluster": "sandbox"}' \
  | jq '.data.topology.master | {host, port, slaves: [.slaves[] | "\(.host):\(.port)"]}'

echo "== plan: every eligible replica, tables of schema shop"
plan=$(call -X POST "$API/api/v1/plans" -d '{
  "cluster": "sandbox",
  "config": {"scope": "cluster", "mode": "binlog-off", "databases": ["shop"],
             "threshold_mb": 10, "threshold_percent": 10}}')
plan_id=$(jq -r .data.plan_id <<<"$plan")
digest=$(jq -r .data.digest <<<"$plan")

echo "== review $plan_id ($digest)"
jq -r '.data.nodes[] | .address as $n | .actions[]
       | "\($n)  \(.schema).\(.table)  reclaim \(.estimated_reclaim_bytes / 1048576 | floor) MiB  online=\(.online)"' <<<"$plan"
jq -r '.data.skipped[] | "skipped \(.address) \(.schema // "")\(.table // ""): \(.reason)"' <<<"$plan"
read -r -p "apply this plan? (yes/no) " answer
[[ "$answer" == yes ]] || exit 0

echo "== job from the reviewed plan (pinned to its digest)"
job=$(call -X POST "$API/api/v1/recycle/jobs" \
  -d "{\"plan_id\": \"$plan_id\", \"expect_digest\": \"$digest\", \"cluster\": \"sandbox\"}")
jq . <<<"$job"
job_id=$(jq -r .data.job_id <<<"$job")

echo "== watch $job_id"
while :; do
  j=$(call "$API/api/v1/recycle/jobs/$job_id")
  jq -r '.data | "\(.status) \(.run_state.state // "") \(.run_state.reason // "") \(.phase // "") \(.progress.processed_tables)/\(.progress.total_tables) \(.progress.current_table // "") freed \(.statistics.space_freed_mb) MiB"' <<<"$j"
  case $(jq -r .data.status <<<"$j") in completed|failed|cancelled) break ;; esac
  sleep 1
done
jq -r '.data.statistics.tables_processed[]
       | "\(.node) \(.schema).\(.table) \(.status) freed \(.bytes_freed / 1048576 | floor) MiB \(.error // "")"' <<<"$j"
# While it runs: pause (no new rebuild starts), re-tune, resume —
#   call -X POST "$API/api/v1/recycle/jobs/$job_id/pause"
#   call -X PATCH "$API/api/v1/recycle/jobs/$job_id" -d '{"max_lag": "30s", "max_load": "Threads_running=40"}'
#   call -X POST "$API/api/v1/recycle/jobs/$job_id/resume"
# Live updates instead of polling: websocat ws://127.0.0.1:8080/api/v1/ws/monitor
# Or from a terminal: mysql-tablespace-recycling monitor --server "$API"
