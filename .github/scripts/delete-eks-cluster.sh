#!/usr/bin/env bash
# Delete the run's EKS cluster if it exists (idempotent: the nightly job and its cleanup job both
# call it). PodDisruptionBudgets under test would block node-group draining, hence
# --disable-nodegroup-eviction. Needs AWS credentials and AWS_REGION.
set -euo pipefail
name="${1:?cluster name}"
: "${AWS_REGION:?AWS region}"
if eksctl get cluster --name "$name" --region "$AWS_REGION" >/dev/null 2>&1; then
  echo "deleting EKS cluster $name in $AWS_REGION"
  eksctl delete cluster --name "$name" --region "$AWS_REGION" --wait --disable-nodegroup-eviction
else
  echo "no EKS cluster $name in $AWS_REGION: nothing to delete"
fi
