#!/usr/bin/env bash
# node-certs.sh DIR DAYS SAN CA_NAME NODE_NAME — a throwaway CA and one NATS node
# certificate signed by it, for server and client use (cluster routes are mutual
# TLS): DIR/ca.pem, DIR/ca-key.pem, DIR/node.pem, DIR/node-key.pem (keys 0600).
# SAN is openssl's subjectAltName value, e.g. "IP:127.0.0.1,DNS:localhost".
# Used by make fleet (scripts/fleet.sh) and the configuration checks
# (scripts/check-compose.sh).
set -euo pipefail
dir=$1 days=$2 san=$3 ca_name=$4 node_name=$5
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" -subj "/CN=$ca_name" \
  -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$node_name" \
  -keyout "$dir/node-key.pem" -out "$dir/node.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >"$dir/ext"
openssl x509 -req -in "$dir/node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial -days "$days" \
  -extfile "$dir/ext" -out "$dir/node.pem" 2>/dev/null
chmod 600 "$dir"/*-key.pem
