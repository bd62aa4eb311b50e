// Package deploy holds the container build, the Kubernetes manifests and the
// GitHub App manifest. Its Go code is the embedded manifest (AppManifest,
// which `promobot app create` posts) and tests: manifest_test.go keeps the
// App's subscribed events and its permissions in step.
package deploy
