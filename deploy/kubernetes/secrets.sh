#!/usr/bin/env bash
# Prints the two Secrets the manifests use, for kubectl apply -f -:
#   dhtnode-seed  identity.key: the seed's private key (made with dhtnode init
#                 in DIR, or the one already there), peer-id: its peer ID
#   dhtnode-api   token: the API's bearer token ($DHTNODE_API_TOKEN, else random)
# Usage: deploy/kubernetes/secrets.sh DIR | kubectl apply -n NAMESPACE -f -
# Keep DIR (or DIR/identity.key) safe: the same key keeps the seed's peer ID.
# DHTNODE_BIN names the dhtnode binary (default: dhtnode on the PATH).
set -euo pipefail

dir=${1:?usage: $0 DIR (where the seed key is kept)}
bin=${DHTNODE_BIN:-dhtnode}
id=$("$bin" init --data-dir "$dir" 2>/dev/null) || {
	echo "$0: $bin init --data-dir $dir failed" >&2
	exit 1
}
token=${DHTNODE_API_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
key=$(base64 <"$dir/identity.key" | tr -d '\n')

cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: dhtnode-seed
  labels:
    app.kubernetes.io/name: dhtnode
type: Opaque
data:
  identity.key: $key
stringData:
  peer-id: $id
---
apiVersion: v1
kind: Secret
metadata:
  name: dhtnode-api
  labels:
    app.kubernetes.io/name: dhtnode
type: Opaque
stringData:
  token: $token
YAML
