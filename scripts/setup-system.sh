#!/bin/sh
# Installs the Debian packages the tests need, when any is missing. `npm test` runs this
# first (as `pretest`), and so does .ci/run. Nothing is installed when all are present.
#
#   chromium           headless browser tests (playwright-core drives /usr/bin/chromium)
#   mosquitto-clients  mosquitto_pub / mosquitto_sub against the MQTT gateway
#   kcat               a librdkafka client against the Kafka listener
#   python3-kafka, python3-confluent-kafka
#                      kafka-python and confluent-kafka-python against the Kafka listener
#                      (run with /usr/bin/python3, which sees Debian's modules)
#   docker-compose     validates docker-compose.yml offline (no engine needed)
#   etcd-server        etcd, the cluster tests' consensus store (tests/helpers/etcd.ts)
#   etcd-client        etcdctl, to look at a test cluster's keys by hand
#   tmux               a real terminal for `spool top` (send-keys, capture-pane)
#   iproute2           `ip`: the cluster's network-partition tests build veth pairs and a
#                      bridge between network namespaces (tests/helpers/cluster-netns.ts)
set -eu

need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v mosquitto_pub >/dev/null 2>&1 || need="$need mosquitto-clients"
command -v kcat >/dev/null 2>&1 || need="$need kcat"
/usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || need="$need python3-kafka"
/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || need="$need python3-confluent-kafka"
command -v docker-compose >/dev/null 2>&1 || need="$need docker-compose"
command -v etcd >/dev/null 2>&1 || need="$need etcd-server"
command -v etcdctl >/dev/null 2>&1 || need="$need etcd-client"
command -v tmux >/dev/null 2>&1 || need="$need tmux"
command -v ip >/dev/null 2>&1 || need="$need iproute2"

[ -z "$need" ] && exit 0

if [ "$(id -u)" != "0" ]; then
  echo "Spool's tests need these Debian packages:$need" >&2
  echo "Install them with:" >&2
  echo "  sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends$need'" >&2
  exit 1
fi

echo "setup-system: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $need
