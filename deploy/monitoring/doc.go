// Package monitoring holds the tests of the Grafana dashboard
// (deploy/grafana/promobot.json) and the Prometheus alert rules
// (deploy/prometheus/alerts.yaml): every query parses as PromQL and names
// only metrics promobot exports.
package monitoring
